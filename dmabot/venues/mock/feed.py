"""Mock feed driver: reactor timers that step the Cython random walk into the pipeline.

At a fixed rate each step writes one tick per symbol stamped with the step's *scheduled*
time; unlimited (rate 0), each step writes a batch stamped with the loop time and yields
to the reactor between batches so I/O (metrics scrapes, signals) is never starved.
"""
from __future__ import annotations

from typing import Callable, Iterator

from prometheus_client.core import Metric

from dmabot.core.pipeline import Pipeline
from dmabot.io.reactor import PRIO_MARKET_DATA, Reactor, TimerHandle
from dmabot.venues.mock.random_walk import MockFeed

# Ticks per step when unlimited: large enough to amortise the callback, small enough
# that a scrape or a signal waits well under a millisecond.
BATCH = 2048


class MockFeedDriver:
    """The mock venues' `Feed` (dmabot.venues.base)."""

    connected = True        # nothing to connect to: ticks flow from start to stop

    def __init__(self, reactor: Reactor, pipeline: Pipeline, feed: MockFeed, tick_hz: float,
                 after_step: Callable[[], None]) -> None:
        self.reactor = reactor
        self.pipeline = pipeline
        self.feed = feed
        self.period_ns = int(1e9 / tick_hz) if tick_hz > 0 else 0
        self.after_step = after_step
        self._timer: TimerHandle | None = None

    def start(self) -> None:
        self._schedule(self.reactor.now())

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def collect(self) -> Iterator[Metric]:
        return iter(())     # the pipeline's own tick counters say everything about a mock feed

    def _schedule(self, due: int) -> None:
        self._timer = self.reactor.call_at(due, self._step, due, prio=PRIO_MARKET_DATA)

    def _step(self, due: int) -> None:
        if self.period_ns:
            self.feed.generate(self.pipeline.ring, due, self.feed.n_symbols)
            self._schedule(due + self.period_ns)
        else:
            self.feed.generate(self.pipeline.ring, due, BATCH)
            self._schedule(self.reactor.now())
        self.pipeline.drain()
        self.after_step()

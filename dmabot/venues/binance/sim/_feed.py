"""The market-data pump: moves each symbol's book and publishes it to stream connections.

With a rate, each symbol ticks on its own timer (`rate_hz` updates per second) and a
connection whose transport buffer is full misses updates instead of queueing them: a
bookTicker carries the full top of book, so the next one supersedes what was skipped.
With rate 0 the books move only while some subscriber can take data, in batches per
loop iteration, so the pace is set by the fastest reader and nothing piles up in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol

from dmabot.io.reactor import PRIO_MARKET_DATA, Reactor, TimerHandle
from dmabot.venues.binance.sim._market import BookTickerWalk

# updates per symbol per loop iteration at rate 0: long enough to amortise the loop,
# short enough that other connections are served in between
BATCH = 64


class Subscriber(Protocol):
    @property
    def wants_data(self) -> bool:
        """Subscribed to a stream and not held back by a full write buffer."""

    def publish(self, stream: str, payload: str) -> None: ...


class Feed:
    def __init__(
        self,
        reactor: Reactor,
        walks: list[BookTickerWalk],
        rate_hz: float,
        subscribers: Collection[Subscriber],
        on_step: Callable[[BookTickerWalk], None] | None = None,
    ) -> None:
        """`on_step` is called after every move of a book, before it is published."""
        self._reactor = reactor
        self._on_step = on_step
        self._walks = walks
        self._period_ns = round(1e9 / rate_hz) if rate_hz > 0 else 0
        self._subscribers = subscribers
        self._stalled_until_ns = 0
        self._timers: dict[str, TimerHandle] = {}  # per stream, rate > 0 only
        self._pump_handle: TimerHandle | None = None
        self._running = False

    def start(self) -> None:
        self._running = True
        if self._period_ns:
            first = self._reactor.now() + self._period_ns
            for walk in self._walks:
                self._schedule(walk, first)
        else:
            self.kick()

    def stop(self) -> None:
        self._running = False
        for timer in self._timers.values():
            timer.cancel()
        if self._pump_handle is not None:
            self._pump_handle.cancel()

    @property
    def stalled(self) -> bool:
        return self._reactor.now() < self._stalled_until_ns

    def stall(self, seconds: float) -> None:
        """Publish nothing (and move no book) for `seconds`."""
        self._stalled_until_ns = max(self._stalled_until_ns, self._reactor.now() + round(seconds * 1e9))
        if not self._period_ns:
            self._reactor.call_at(self._stalled_until_ns, self.kick)

    def kick(self) -> None:
        """A subscriber may take data again: restart the rate-0 pump if it is idle.

        Without walks (the tick-to-trade probe has the only book) it would spin for nothing.
        """
        if self._running and self._walks and not self._period_ns and self._pump_handle is None:
            self._pump_handle = self._reactor.call_soon(self._pump, prio=PRIO_MARKET_DATA)

    def _tick(self, walk: BookTickerWalk, due: int) -> None:
        if not self.stalled:
            self._publish(walk)
        # keep to the grid of due times, but never burst to catch up after the loop fell behind
        self._schedule(walk, max(due + self._period_ns, self._reactor.now()))

    def _schedule(self, walk: BookTickerWalk, due: int) -> None:
        self._timers[walk.stream] = self._reactor.call_at(due, self._tick, walk, due, prio=PRIO_MARKET_DATA)

    def _pump(self) -> None:
        self._pump_handle = None
        if not self._running or self.stalled:
            return  # a stall schedules its own kick for when it ends
        for _ in range(BATCH):
            if not any(s.wants_data for s in self._subscribers):
                return  # resume_writing or a new subscription kicks us again
            for walk in self._walks:
                self._publish(walk)
        self._pump_handle = self._reactor.call_soon(self._pump, prio=PRIO_MARKET_DATA)

    def _publish(self, walk: BookTickerWalk) -> None:
        payload = walk.advance()
        if self._on_step is not None:
            self._on_step(walk)
        for subscriber in self._subscribers:
            subscriber.publish(walk.stream, payload)

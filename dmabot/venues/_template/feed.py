"""The template venue's `Feed`. FILL IN: a connection to the venue's market data instead of
the timer, and a decoder instead of the fixed book."""
from __future__ import annotations

from typing import Callable, Iterator

from prometheus_client.core import Metric

from dmabot.core.pipeline import Pipeline
from dmabot.io.reactor import PRIO_MARKET_DATA, Reactor, TimerHandle
from dmabot.venues.base import counter, gauge

SPREAD = 0.001      # of the mid, each side


class TemplateFeed:
    def __init__(self, reactor: Reactor, pipeline: Pipeline, symbols: tuple[str, ...], price: float,
                 tick_ms: float, after_step: Callable[[], None]) -> None:
        self.reactor = reactor
        self.pipeline = pipeline
        self.symbols = symbols
        self.price = price
        self.period_ns = int(tick_ms * 1e6)
        self.after_step = after_step
        self._timer: TimerHandle | None = None
        self.connected = False
        self.ticks = 0          # for collect(): keep counters, never compute them at scrape

    def start(self) -> None:
        self.connected = True
        self._timer = self.reactor.call_later(self.period_ns, self._step, prio=PRIO_MARKET_DATA)

    def stop(self) -> None:
        self.connected = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _step(self) -> None:
        now = self.reactor.now()
        bid, ask = self.price * (1 - SPREAD), self.price * (1 + SPREAD)
        for sym in range(len(self.symbols)):
            self.pipeline.push_tick(now, sym, bid, 1.0, ask, 1.0)
        self.ticks += len(self.symbols)
        self.pipeline.drain()
        self.after_step()
        self._timer = self.reactor.call_later(self.period_ns, self._step, prio=PRIO_MARKET_DATA)

    def collect(self) -> Iterator[Metric]:
        venue = ["template"]
        yield gauge("template_feed_connected", "1 while the template feed delivers ticks.", ["venue"],
                    [(venue, 1 if self.connected else 0)])
        yield counter("template_feed_ticks", "Ticks the template feed delivered.", ["venue"], [(venue, self.ticks)])

"""Mock venues: ACK at once, then after the venue's latency FILLED at the touch if the
order's limit still crosses it, else EXPIRED (an IOC limit order, as a taker would send).

Latency is counted from the order's timestamp, not from when the callback ran, so a live
run and its replay fill the same orders at the same prices.
"""
from __future__ import annotations

from typing import Callable, Iterator

from prometheus_client.core import Metric

from dmabot.core.pipeline import Pipeline
from dmabot.core.types import ExecReport, ExecStatus, Order, Side
from dmabot.io.reactor import Reactor


class MockVenue:
    """A mock venue's `Gateway` (dmabot.venues.base)."""

    # Nothing to wait for at shutdown: a mock fill not yet due exists nowhere but in this
    # process and is dropped with it; nothing rests (the orders are IOC).
    busy = False
    ready = True

    def __init__(self, reactor: Reactor, pipeline: Pipeline, index: int, name: str,
                 latency_ms: float, fee_bps: float,
                 on_report: Callable[[ExecReport], None] | None = None) -> None:
        self.reactor = reactor
        self.pipeline = pipeline
        # where reports go: the pipeline, or a replay that also keeps its own books
        self.report = on_report if on_report is not None else pipeline.on_exec
        self.index = index
        self.name = name
        self.latency_ns = int(latency_ms * 1e6)
        self.fee_rate = fee_bps / 1e4
        self._next_trade_id = 1

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def cancel_open_orders(self) -> int:
        return 0

    def collect(self) -> Iterator[Metric]:
        return iter(())     # orders, reports and positions by venue are the engine's metrics

    def submit(self, order: Order) -> None:
        self.report(ExecReport(order, order.ts, ExecStatus.ACK))
        self.reactor.call_at(order.ts + self.latency_ns, self._match, order)

    def _match(self, order: Order) -> None:
        bid, ask = self.pipeline.touch(order.sym)
        ts = order.ts + self.latency_ns
        if order.side == Side.BUY:
            crosses, px = 0 < ask <= order.px, ask
        else:
            crosses, px = bid >= order.px, bid
        if not crosses:
            self.report(ExecReport(order, ts, ExecStatus.EXPIRED))
            return
        trade_id = self._next_trade_id
        self._next_trade_id += 1
        fee = px * order.qty * self.fee_rate
        self.report(ExecReport(order, ts, ExecStatus.FILLED, px, order.qty, fee, trade_id))

"""The template venue's `Gateway`. FILL IN: send the order, and report what the venue replies."""
from __future__ import annotations

from typing import Iterator

from prometheus_client.core import Metric

from dmabot.core.pipeline import Pipeline
from dmabot.core.types import ExecReport, ExecStatus, Order
from dmabot.io.reactor import Reactor
from dmabot.venues.base import counter


class TemplateGateway:
    def __init__(self, reactor: Reactor, pipeline: Pipeline, index: int, name: str, fee_bps: float) -> None:
        self.reactor = reactor
        self.pipeline = pipeline
        self.index = index          # the venue index the router gives this gateway's orders
        self.name = name
        self.fee_rate = fee_bps / 1e4
        self.ready = False
        self.orders_sent = 0
        self._next_trade_id = 1

    @property
    def busy(self) -> bool:
        return False        # FILL IN: True while a request is unanswered (the engine waits at shutdown)

    def start(self) -> None:
        self.ready = True   # FILL IN: connect, load the venue's rules, sync its clock

    def stop(self) -> None:
        self.ready = False

    def cancel_open_orders(self) -> int:
        return 0            # FILL IN: cancel what rests on the venue, return the requests sent

    def submit(self, order: Order) -> None:
        if not self.ready:
            self.pipeline.on_exec(ExecReport(order, self.reactor.now(), ExecStatus.REJECTED))
            return
        self.orders_sent += 1
        # FILL IN: write the order. Its reports come from a reactor callback of their own (a
        # reply read from the socket), never from inside `submit`: the pipeline may be draining
        # (docs/architecture.md, Re-entrancy). Only a local rejection is reported at once.
        self.reactor.call_soon(self._on_venue_reply, order)

    def _on_venue_reply(self, order: Order) -> None:
        # The stand-in venue: ACK, then filled at the order's price.
        now = self.reactor.now()
        self.pipeline.on_exec(ExecReport(order, now, ExecStatus.ACK))
        trade_id, self._next_trade_id = self._next_trade_id, self._next_trade_id + 1
        fee = order.px * order.qty * self.fee_rate
        self.pipeline.on_exec(ExecReport(order, now, ExecStatus.FILLED, order.px, order.qty, fee, trade_id))

    def collect(self) -> Iterator[Metric]:
        yield counter("template_orders_sent", "Orders the template gateway sent.", ["venue"],
                      [([self.name], self.orders_sent)])

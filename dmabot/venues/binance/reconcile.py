"""Reconciliation, sans-IO: after an outage, the venue's facts the gateway may have missed.

After a REST reconnect or a user data resubscription, events may have been lost: this asks
myTrades since the last trade id applied and openOrders, per symbol, and the account's
balances, and applies the answers through the order registry, which is idempotent by orderId
and tradeId, so a fill missed while disconnected counts once and a fill seen already counts no
more. At start it asks only the latest trade per symbol: where gap filling will begin (the
trades of earlier runs are not this run's fills), and the balances.

It builds requests and reads replies; the session decides when it may run (ready, no
rate-limit wait) and writes the requests.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

from dmabot.core.types import ExecReport
from dmabot.venues.binance.protocol.balances import BalanceBook
from dmabot.venues.binance.protocol.orders import OrderRegistry
from dmabot.venues.binance.protocol.replies import parse_account, parse_my_trades, parse_open_orders
from dmabot.venues.binance.protocol.rest_protocol import RequestFailed, Response
from dmabot.venues.binance.protocol.rest_request import RestRequests
from dmabot.venues.binance.request_kinds import RequestKind, Tag

log = logging.getLogger("dmabot.gateway.binance")

Request = tuple[Tag, bytes]


class Reconciler:
    """The last trade id applied per symbol, whether a reconciliation is owed, and the
    requests and replies of one."""

    def __init__(self, symbols: Sequence[str], requests: RestRequests, balances: BalanceBook) -> None:
        self.symbols = tuple(symbols)
        self.requests = requests
        self.balances = balances
        # Asked for while it could not run (-1021, a 429/418 wait, down): run once possible.
        self.due = False
        # Highest trade id applied per symbol: after an outage, myTrades from there closes the gap.
        self.last_trade_id: dict[str, int] = {}

    def note(self, reports: Sequence[ExecReport]) -> None:
        """Every report the gateway passes on: its fills move the last trade id forward."""
        for report in reports:
            if report.trade_id:
                symbol = self.symbols[report.order.sym]
                self.last_trade_id[symbol] = max(self.last_trade_id.get(symbol, 0), report.trade_id)

    def start_requests(self, timestamp_ms: int) -> list[Request]:
        """The first time ready: the latest trade per symbol, and the balances."""
        out = [self._trades_since_last(symbol, timestamp_ms) for symbol in self.symbols]
        out.append(self.account_request(timestamp_ms))
        return out

    def requests_after_outage(self, timestamp_ms: int) -> list[Request]:
        """All of it: myTrades since the last trade id and openOrders per symbol, then balances."""
        self.due = False
        log.info("reconciling after an outage: myTrades since %s and openOrders",
                 ", ".join(f"{s}#{t}" for s, t in sorted(self.last_trade_id.items())) or "the start")
        out: list[Request] = []
        for symbol in self.symbols:
            out.append(self._trades_since_last(symbol, timestamp_ms))
            out.append((Tag(RequestKind.GAP_ORDERS, symbol), self.requests.open_orders(symbol, timestamp_ms)))
        out.append(self.account_request(timestamp_ms))
        return out

    def account_request(self, timestamp_ms: int) -> Request:
        """The balances as a snapshot; the user data stream keeps them current in between."""
        return Tag(RequestKind.ACCOUNT, "balances"), self.requests.account(timestamp_ms)

    def _trades_since_last(self, symbol: str, timestamp_ms: int) -> Request:
        """myTrades after the last trade id applied; without one yet, the latest trade only
        (where to begin: `on_response` tells the two apart)."""
        last = self.last_trade_id.get(symbol)
        if last is None:
            wire = self.requests.my_trades(symbol, timestamp_ms, limit=1)
        else:
            wire = self.requests.my_trades(symbol, timestamp_ms, from_id=last + 1)
        return Tag(RequestKind.GAP_TRADES, symbol), wire

    def on_response(self, tag: Tag, r: Response, registry: OrderRegistry | None, now: int) -> list[ExecReport]:
        """A reply to one of its requests: the reports it makes, for the caller to pass on
        (and to `note`)."""
        if r.status != 200 or (tag.kind is RequestKind.GAP_ORDERS and registry is None):
            self._refused(tag, r)
            return []
        if tag.kind is RequestKind.ACCOUNT:
            self.balances.on_account(parse_account(r.json()))
            return []
        if tag.kind is RequestKind.GAP_ORDERS:
            assert registry is not None
            return [report for state in parse_open_orders(r.json())
                    for report in registry.on_order_state(state, now)]
        return self._on_trades(tag.key, r, registry, now)

    def _on_trades(self, symbol: str, r: Response, registry: OrderRegistry | None, now: int) -> list[ExecReport]:
        trades = parse_my_trades(r.json())
        if symbol not in self.last_trade_id:     # the start: only where to begin
            self.last_trade_id[symbol] = max((t.trade_id for t in trades), default=0)
            return []
        before = registry.duplicate_fills if registry else 0
        out: list[ExecReport] = []
        for trade in trades:
            if registry is not None:
                out.extend(registry.on_trade(trade, now))
            self.last_trade_id[symbol] = max(self.last_trade_id[symbol], trade.trade_id)
        if trades:
            log.info("reconciled %s: %d trades since the last one seen (%d already applied)", symbol,
                     len(trades), (registry.duplicate_fills if registry else 0) - before)
        return out

    def _refused(self, tag: Tag, r: Response) -> None:
        """A reconciliation request answered with an error. After a 429 or 418 the whole
        reconciliation runs again once the wait is over; other errors wait for the next outage."""
        log.warning("%s %s for reconciliation failed status=%d body=%s", tag.kind.value, tag.key, r.status,
                    r.body[:200])
        if r.status in (429, 418):
            self.due = True

    def on_failure(self, tag: Tag, f: RequestFailed) -> None:
        log.warning("reconciliation request for %s got no answer (%s): it runs again after the "
                    "next reconnect", tag.key, f.reason.name)

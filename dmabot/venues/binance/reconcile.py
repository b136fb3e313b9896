"""Reconciliation, sans-IO: after an outage, the venue's facts the gateway may have missed.

Fills reach the engine on two channels, REST replies and queries and the user data stream, in
any order, so the highest trade id applied says nothing about what was missed: a FULL reply
that arrives while the stream is down carries a trade id above the missed fills of a resting
order. The mark reconciliation starts from is therefore its own: per symbol, the trade id up
to which a complete myTrades reading has shown every trade of the account (at start, the
latest trade: the trades of earlier runs are not this run's fills).

After a REST reconnect or a user data resubscription it asks, per symbol, myTrades from that
mark on, page after page of `PAGE` until a short page (myTrades answers the trades with
id >= fromId, ascending, at most `limit` of them), and openOrders; then the account's balances.
Each trade goes through the order registry, which applies a fill once by (orderId, trade id),
so a fill both channels brought counts once. An order the registry holds as live that
openOrders no longer lists has left the book while the gateway was not looking: it is queried
by client order id, so its final status is learned.

It builds requests and reads replies; the session decides when it may run (ready, no
rate-limit wait), writes the requests and the queries.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

from dmabot.core.types import ExecReport
from dmabot.venues.binance.protocol.balances import BalanceBook
from dmabot.venues.binance.protocol.orders import OrderRegistry, TrackedOrder
from dmabot.venues.binance.protocol.replies import parse_account, parse_my_trades, parse_open_orders
from dmabot.venues.binance.protocol.rest_protocol import RequestFailed, Response
from dmabot.venues.binance.protocol.rest_request import RestRequests
from dmabot.venues.binance.request_kinds import RequestKind, Tag

log = logging.getLogger("dmabot.gateway.binance")

Request = tuple[Tag, bytes]
PAGE = 1000  # myTrades' largest `limit`: a page this long may have more trades after it


class Reconciled(NamedTuple):
    """What one reply of a reconciliation asks the session to do."""

    reports: list[ExecReport]         # for the pipeline
    requests: list[Request]           # the next page of myTrades
    queries: list[TrackedOrder]       # live here, gone from openOrders: query each


NOTHING = Reconciled([], [], [])


class Reconciler:
    """Per symbol, the trade id through which every trade is known; whether a reconciliation
    is owed; and the requests and replies of one."""

    def __init__(self, symbols: Sequence[str], requests: RestRequests, balances: BalanceBook) -> None:
        self.symbols = tuple(symbols)
        self.requests = requests
        self.balances = balances
        # Asked for while it could not run (-1021, a 429/418 wait, down): run once possible.
        self.due = False
        # Per symbol, the trade id up to which myTrades showed every trade (each page read moves
        # it to its last trade). Fills from replies and the stream do not move it: they say
        # nothing of the trades they jumped over.
        self.complete_through: dict[str, int] = {}

    def start_requests(self, timestamp_ms: int) -> list[Request]:
        """The first time ready: the latest trade per symbol, and the balances."""
        out = [self._trades_from_mark(symbol, timestamp_ms) for symbol in self.symbols]
        out.append(self.account_request(timestamp_ms))
        return out

    def requests_after_outage(self, timestamp_ms: int) -> list[Request]:
        """All of it: myTrades from the mark and openOrders per symbol, then balances."""
        self.due = False
        log.info("reconciling after an outage: myTrades since %s and openOrders",
                 ", ".join(f"{s}#{t}" for s, t in sorted(self.complete_through.items())) or "the start")
        out: list[Request] = []
        for symbol in self.symbols:
            out.append(self._trades_from_mark(symbol, timestamp_ms))
            out.append((Tag(RequestKind.GAP_ORDERS, symbol), self.requests.open_orders(symbol, timestamp_ms)))
        out.append(self.account_request(timestamp_ms))
        return out

    def account_request(self, timestamp_ms: int) -> Request:
        """The balances as a snapshot; the user data stream keeps them current in between."""
        return Tag(RequestKind.ACCOUNT, "balances"), self.requests.account(timestamp_ms)

    def _trades_from_mark(self, symbol: str, timestamp_ms: int) -> Request:
        """The first page of myTrades after the mark; without a mark yet, the latest trade only
        (where to begin: `on_response` tells the two apart)."""
        mark = self.complete_through.get(symbol)
        if mark is None:
            return Tag(RequestKind.GAP_TRADES, symbol), self.requests.my_trades(symbol, timestamp_ms, limit=1)
        return self._page(symbol, mark + 1, timestamp_ms)

    def _page(self, symbol: str, from_id: int, timestamp_ms: int) -> Request:
        wire = self.requests.my_trades(symbol, timestamp_ms, from_id=from_id, limit=PAGE)
        return Tag(RequestKind.GAP_TRADES, symbol), wire

    def on_response(self, tag: Tag, r: Response, registry: OrderRegistry | None, now: int,
                    timestamp_ms: int) -> Reconciled:
        """A reply to one of its requests: what it makes the session do."""
        if r.status != 200 or (registry is None and tag.kind is not RequestKind.ACCOUNT):
            self._refused(tag, r)
            return NOTHING
        if tag.kind is RequestKind.ACCOUNT:
            self.balances.on_account(parse_account(r.json()))
            return NOTHING
        assert registry is not None
        if tag.kind is RequestKind.GAP_ORDERS:
            return self._on_open_orders(tag.key, r, registry, now)
        return self._on_trades(tag.key, r, registry, now, timestamp_ms)

    def _on_open_orders(self, symbol: str, r: Response, registry: OrderRegistry, now: int) -> Reconciled:
        states = parse_open_orders(r.json())
        reports = [report for state in states for report in registry.on_order_state(state, now)]
        listed = {state.client_order_id for state in states}
        gone = [t for t in registry.on_the_book(symbol) if t.client_order_id not in listed]
        if gone:
            log.info("reconciling %s: %d orders left the book unseen, querying them: %s", symbol, len(gone),
                     ", ".join(t.client_order_id for t in gone[:5]) + (", ..." if len(gone) > 5 else ""))
        return Reconciled(reports, [], gone)

    def _on_trades(self, symbol: str, r: Response, registry: OrderRegistry, now: int,
                   timestamp_ms: int) -> Reconciled:
        trades = parse_my_trades(r.json())
        last = max((t.trade_id for t in trades), default=None)
        if symbol not in self.complete_through:     # the start: only where to begin
            self.complete_through[symbol] = last or 0
            return NOTHING
        before = registry.duplicate_fills
        reports = [report for trade in trades for report in registry.on_trade(trade, now)]
        if last is None:
            return NOTHING
        self.complete_through[symbol] = max(self.complete_through[symbol], last)
        log.info("reconciled %s: %d trades through #%d (%d already applied)", symbol, len(trades), last,
                 registry.duplicate_fills - before)
        following = [self._page(symbol, last + 1, timestamp_ms)] if len(trades) >= PAGE else []
        return Reconciled(reports, following, [])

    def _refused(self, tag: Tag, r: Response) -> None:
        """A reconciliation request answered with an error. After a 429 or 418 the whole
        reconciliation runs again once the wait is over; other errors wait for the next outage
        (the mark stays where the last page read left it, so no trade is skipped)."""
        log.warning("%s %s for reconciliation failed status=%d body=%s", tag.kind.value, tag.key, r.status,
                    r.text())
        if r.status in (429, 418):
            self.due = True

    def on_failure(self, tag: Tag, f: RequestFailed) -> None:
        log.warning("reconciliation request for %s got no answer (%s): it runs again after the "
                    "next reconnect", tag.key, f.reason.name)

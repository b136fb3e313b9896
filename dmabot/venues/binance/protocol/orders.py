"""The engine's local registry of its Binance orders, and the one transition table they follow.

An order is registered (PENDING_NEW) before its request is written. From then on every venue
fact about it, from whichever source arrives first, moves it along `TRANSITIONS`:

* the REST reply (`on_order_response`, `on_cancel_response`) or its failure
  (`on_request_failed`, `on_outcome_unknown` for a timeout or a lost connection);
* a user-data ``executionReport`` (`on_execution_report`), which can come *before* the REST
  reply (the user data stream is not ordered with the REST reply): it is matched on the client
  id until the orderId is known, and on a cancel report by ``C``, because ``c`` is then the
  cancel request's id, not the order's;
* reconciliation: ``GET /api/v3/order``/``openOrders`` (`on_order_state`), ``myTrades``
  (`on_trade`), ``-2013`` for an order that never reached the book (`on_not_found`).

A status that is not an allowed transition from the current one is an older fact arriving
late (events are not ordered under load); it is counted and dropped, never applied backwards.

Fills are separate from statuses: each is applied once, keyed by trade id (per orderId), so a
replayed or duplicated event changes nothing, and the cumulative quantity can never pass the
order's quantity nor the final quantity the exchange reported. A terminal CANCELED/EXPIRED is
reported to the engine only once the fills it includes have been applied, so the engine always
sees its fills first. UNKNOWN (timeout, 5xx, -1007) is left only by a venue fact: the registry
never asks for a resend (pitfall 8). A REJECTED that was inferred (``-2013`` from a query asked
before the exchange's database caught up) can be contradicted by a later event; such an order
is flagged in `OrderRegistry.alive_after_reject` for the gateway to cancel, and its fills are
still applied, so inventory stays true.

Each change becomes the engine's `ExecReport` for ``pipeline.on_exec``: ACK once the venue has
the order, one PARTIALLY_FILLED/FILLED per fill, then CANCELED/EXPIRED/REJECTED. Fill
quantities are what the account's base balance moves by: a commission charged in the base
asset (a BUY's default) is taken off the quantity and reported as a quote fee at the fill
price, so the engine's inventory matches the account. Commissions in a third asset (BNB) are
not converted; `TrackedOrder.commissions` and `OrderRegistry.commissions` keep them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from decimal import Decimal

from dmabot.core.types import ExecReport, ExecStatus, Order
from dmabot.venues.binance.protocol.filters import SymbolRules
from dmabot.venues.binance.protocol.replies import CancelResponse, OrderResponse, OrderState, Trade
from dmabot.venues.binance.protocol.user_events import ExecutionReport
from dmabot.venues.binance.protocol.wire import ApiError, ExecType, OrderStatus

ZERO = Decimal(0)


class LocalStatus(enum.Enum):
    """An order's state as the engine knows it."""

    PENDING_NEW = "PENDING_NEW"  # registered, request written, no answer yet
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    UNKNOWN = "UNKNOWN"  # the request's outcome is unknown; resolved by a query or the stream

    @property
    def is_final(self) -> bool:
        return not TRANSITIONS[self]


_S = LocalStatus
_LIVE = frozenset({_S.NEW, _S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.EXPIRED})
TRANSITIONS: dict[LocalStatus, frozenset[LocalStatus]] = {
    _S.PENDING_NEW: _LIVE | {_S.REJECTED, _S.UNKNOWN},
    _S.UNKNOWN: _LIVE | {_S.REJECTED},
    _S.NEW: frozenset({_S.PARTIALLY_FILLED, _S.FILLED, _S.CANCELED, _S.EXPIRED}),
    _S.PARTIALLY_FILLED: frozenset({_S.FILLED, _S.CANCELED, _S.EXPIRED}),
    _S.FILLED: frozenset(),
    _S.CANCELED: frozenset(),
    _S.EXPIRED: frozenset(),
    _S.REJECTED: frozenset(),
}

_ON_THE_BOOK = frozenset({_S.NEW, _S.PARTIALLY_FILLED, _S.UNKNOWN})

# Venue status -> local status. PENDING_NEW (a pending leg of an order list) and
# PENDING_CANCEL (unused) say nothing new about a plain order.
_FROM_VENUE: dict[OrderStatus, LocalStatus] = {
    OrderStatus.NEW: _S.NEW,
    OrderStatus.PARTIALLY_FILLED: _S.PARTIALLY_FILLED,
    OrderStatus.FILLED: _S.FILLED,
    OrderStatus.CANCELED: _S.CANCELED,
    OrderStatus.EXPIRED: _S.EXPIRED,
    OrderStatus.EXPIRED_IN_MATCH: _S.EXPIRED,
    OrderStatus.REJECTED: _S.REJECTED,
}
# Final statuses reported by their own ExecReport (FILLED rides on the last fill).
_FINAL_REPORT = {_S.CANCELED: ExecStatus.CANCELED, _S.EXPIRED: ExecStatus.EXPIRED, _S.REJECTED: ExecStatus.REJECTED}


class VenueInconsistency(ValueError):
    """Venue facts that cannot all be true (more filled than ordered, a symbol mismatch).

    Nothing was changed; the gateway should log it and reconcile the order by query.
    """


class TrackedOrder:
    """One engine order on Binance: what was sent, and what the venue has said since."""

    __slots__ = (
        "order",
        "client_order_id",
        "rules",
        "qty",
        "status",
        "venue_order_id",
        "filled_qty",
        "venue_cum_qty",
        "final_qty",
        "base_delta",
        "commissions",
        "trade_ids",
        "acked",
        "final_reported",
        "alive_after_reject",
        "updated_ns",
    )

    def __init__(self, order: Order, client_order_id: str, rules: SymbolRules, qty: Decimal, now_ns: int) -> None:
        self.order = order
        self.client_order_id = client_order_id
        self.rules = rules
        self.qty = qty  # the grid quantity sent, exact
        self.status = LocalStatus.PENDING_NEW
        self.venue_order_id: int | None = None
        self.filled_qty = ZERO  # sum of the fills applied
        self.venue_cum_qty = ZERO  # the highest cumulative quantity the venue reported
        self.final_qty: Decimal | None = None  # cumulative quantity at the final status
        self.base_delta = ZERO  # signed change of the account's base balance, commissions included
        self.commissions: dict[str, Decimal] = {}
        self.trade_ids: set[int] = set()
        self.acked = False
        self.final_reported = False
        self.alive_after_reject = False  # the venue showed the order after it was reported REJECTED
        self.updated_ns = now_ns

    @property
    def symbol(self) -> str:
        return self.rules.symbol

    @property
    def awaiting_fills(self) -> bool:
        """Final per the venue, but some of its fills have not arrived (fetch myTrades)."""
        return self.final_qty is not None and self.filled_qty < self.final_qty

    def __repr__(self) -> str:
        return (
            f"TrackedOrder({self.client_order_id!r}, {self.symbol}, {self.status.name}, "
            f"orderId={self.venue_order_id}, filled={self.filled_qty}/{self.qty})"
        )


class _Fill:
    __slots__ = ("trade_id", "price", "qty", "commission", "commission_asset")

    def __init__(self, trade_id: int, price: Decimal, qty: Decimal, commission: Decimal, asset: str | None) -> None:
        self.trade_id = trade_id
        self.price = price
        self.qty = qty
        self.commission = commission
        self.commission_asset = asset


class OrderRegistry:
    """The engine's Binance orders by client id and orderId; venue facts in, `ExecReport` out.

    `symbols` are the rules of the engine's symbols, indexed like ``Order.sym``. Every
    ``on_*`` method takes the reactor time the fact arrived at (the reports' ``ts``) and
    returns the reports to pass to ``pipeline.on_exec``, in order.
    """

    def __init__(self, symbols: Sequence[SymbolRules]) -> None:
        self.symbols = tuple(symbols)
        self._by_client_id: dict[str, TrackedOrder] = {}
        # orderId is unique per symbol only (two symbols both have an orderId 1): key by both
        self._by_venue_id: dict[tuple[str, int], TrackedOrder] = {}
        self.commissions: dict[str, Decimal] = {}
        self.duplicate_fills = 0
        self.late_statuses = 0
        self.foreign_events = 0

    # -- lookups ---------------------------------------------------------------------------

    def get(self, client_order_id: str) -> TrackedOrder | None:
        return self._by_client_id.get(client_order_id)

    def by_venue_id(self, symbol: str, order_id: int) -> TrackedOrder | None:
        return self._by_venue_id.get((symbol, order_id))

    def __len__(self) -> int:
        return len(self._by_client_id)

    def unknown(self) -> list[TrackedOrder]:
        """Orders whose request outcome is unknown: query each by ``origClientOrderId``."""
        return [t for t in self._by_client_id.values() if t.status is LocalStatus.UNKNOWN]

    def awaiting_fills(self) -> list[TrackedOrder]:
        """Final orders whose fills lag: fetch ``myTrades?orderId=`` for each."""
        return [t for t in self._by_client_id.values() if t.awaiting_fills]

    def alive_after_reject(self) -> list[TrackedOrder]:
        """Orders reported REJECTED that the venue later showed alive: cancel each by orderId."""
        return [t for t in self._by_client_id.values() if t.alive_after_reject]

    def on_the_book(self, symbol: str) -> list[TrackedOrder]:
        """Orders on `symbol` the venue may hold on its book (NEW, PARTIALLY_FILLED, UNKNOWN):
        one that ``openOrders`` no longer lists has left it unseen, to be queried. PENDING_NEW is
        left to its reply (a query asked that early can say -2013 of an order that exists)."""
        return [t for t in self._by_client_id.values() if t.symbol == symbol and t.status in _ON_THE_BOOK]

    def open_orders(self) -> list[TrackedOrder]:
        return [t for t in self._by_client_id.values() if not t.status.is_final]

    # -- the engine's side -----------------------------------------------------------------

    def register(self, order: Order, client_order_id: str, qty: Decimal, now_ns: int) -> TrackedOrder:
        """Track `order` before its request is sent; `qty` is the exact grid quantity sent."""
        if client_order_id in self._by_client_id:
            raise ValueError(f"client order id {client_order_id!r} is already registered")
        if not 0 <= order.sym < len(self.symbols):
            raise ValueError(f"order {order.order_id}: symbol index {order.sym} not configured")
        if qty <= 0:
            raise ValueError(f"order {order.order_id}: quantity {qty} is not positive")
        tracked = TrackedOrder(order, client_order_id, self.symbols[order.sym], qty, now_ns)
        self._by_client_id[client_order_id] = tracked
        return tracked

    def prune(self, before_ns: int) -> int:
        """Forget final, fully filled orders last changed before `before_ns`; returns how many.

        Keep them long enough for replayed events to still be recognised as duplicates.
        """
        gone = [
            t
            for t in self._by_client_id.values()
            if t.status.is_final and t.final_reported and t.updated_ns < before_ns
        ]
        for t in gone:
            del self._by_client_id[t.client_order_id]
            if t.venue_order_id is not None:
                self._by_venue_id.pop((t.symbol, t.venue_order_id), None)
        return len(gone)

    # -- venue facts -----------------------------------------------------------------------

    def on_execution_report(self, event: ExecutionReport, now_ns: int) -> list[ExecReport]:
        """A user-data ``executionReport``, possibly before the REST reply, late, or replayed."""
        tracked = self._find(event.symbol, event.order_id, event.order_client_id)
        if tracked is None:
            return []
        fills: tuple[_Fill, ...] = ()
        if event.exec_type is ExecType.TRADE and event.trade_id is not None:
            fills = (
                _Fill(event.trade_id, event.last_price, event.last_qty, event.commission, event.commission_asset),
            )
        status = _FROM_VENUE.get(event.status)
        return self._apply(tracked, event.symbol, event.order_id, status, event.cum_qty, fills, now_ns)

    def on_order_response(self, response: OrderResponse, now_ns: int) -> list[ExecReport]:
        """The ``POST /api/v3/order`` reply (ACK, RESULT or FULL)."""
        tracked = self._find(response.symbol, response.order_id, response.client_order_id)
        if tracked is None:
            return []
        # An ACK reply has no status: the order exists, which is NEW unless more is known.
        status = _S.NEW if response.status is None else _FROM_VENUE.get(response.status)
        fills = [_Fill(f.trade_id, f.price, f.qty, f.commission, f.commission_asset) for f in response.fills]
        return self._apply(
            tracked, response.symbol, response.order_id, status, response.executed_qty, fills, now_ns
        )

    def on_cancel_response(self, response: CancelResponse, now_ns: int) -> list[ExecReport]:
        """The ``DELETE /api/v3/order`` reply, or one order of ``DELETE openOrders``."""
        return self._on_status(response.symbol, response.order_id, response.orig_client_order_id,
                               response.status, response.executed_qty, now_ns)

    def on_order_state(self, state: OrderState, now_ns: int) -> list[ExecReport]:
        """``GET /api/v3/order`` or one of ``openOrders``: resolves UNKNOWN without a resend."""
        return self._on_status(state.symbol, state.order_id, state.client_order_id,
                               state.status, state.executed_qty, now_ns)

    def _on_status(self, symbol: str, order_id: int, client_order_id: str, venue_status: OrderStatus,
                   executed_qty: Decimal, now_ns: int) -> list[ExecReport]:
        """A status and executed quantity the venue states for one order (no fill details)."""
        tracked = self._find(symbol, order_id, client_order_id)
        if tracked is None:
            return []
        return self._apply(tracked, symbol, order_id, _FROM_VENUE.get(venue_status), executed_qty, (), now_ns)

    def on_trade(self, trade: Trade, now_ns: int) -> list[ExecReport]:
        """One ``myTrades`` row: fills missed while the user stream was down."""
        tracked = self._by_venue_id.get((trade.symbol, trade.order_id))
        if tracked is None:
            self.foreign_events += 1
            return []
        fill = _Fill(trade.trade_id, trade.price, trade.qty, trade.commission, trade.commission_asset)
        return self._apply(tracked, trade.symbol, trade.order_id, None, None, (fill,), now_ns)

    def on_request_failed(self, client_order_id: str, error: ApiError, now_ns: int) -> list[ExecReport]:
        """The new-order request came back with an error body.

        An unknown outcome (-1006/-1007/-1000/-1001, HTTP 5xx) makes the order UNKNOWN; any
        other error means it was never placed: REJECTED. (-1021 is the clock's business: call
        this only once `ServerClock.on_invalid_timestamp` gave up.)
        """
        if error.outcome_unknown:
            return self.on_outcome_unknown(client_order_id, now_ns)
        tracked = self._require(client_order_id)
        return self._apply(tracked, tracked.symbol, None, _S.REJECTED, ZERO, (), now_ns)

    def on_outcome_unknown(self, client_order_id: str, now_ns: int) -> list[ExecReport]:
        """The request timed out or its connection closed before the reply: UNKNOWN."""
        tracked = self._require(client_order_id)
        self._transition(tracked, _S.UNKNOWN, now_ns)
        return []

    def on_not_found(self, client_order_id: str, now_ns: int) -> list[ExecReport]:
        """``GET /api/v3/order`` said -2013 (after the stream had its chance): never placed."""
        tracked = self._require(client_order_id)
        return self._apply(tracked, tracked.symbol, None, _S.REJECTED, ZERO, (), now_ns)

    # -- the state machine -----------------------------------------------------------------

    def _find(self, symbol: str, venue_order_id: int | None, client_order_id: str) -> TrackedOrder | None:
        tracked = self._by_venue_id.get((symbol, venue_order_id)) if venue_order_id is not None else None
        if tracked is None:
            tracked = self._by_client_id.get(client_order_id)
        if tracked is None:
            self.foreign_events += 1  # another client's order (web UI, another bot) or pruned
        return tracked

    def _require(self, client_order_id: str) -> TrackedOrder:
        tracked = self._by_client_id.get(client_order_id)
        if tracked is None:
            raise KeyError(f"client order id {client_order_id!r} is not registered")
        return tracked

    def _transition(self, tracked: TrackedOrder, status: LocalStatus, now_ns: int) -> bool:
        """Move to `status` if the table allows it; a late (older) status is dropped."""
        if status is tracked.status:
            return False
        if status not in TRANSITIONS[tracked.status]:
            self.late_statuses += 1
            return False
        tracked.status = status
        tracked.updated_ns = now_ns
        return True

    def _apply(
        self,
        tracked: TrackedOrder,
        symbol: str,
        venue_order_id: int | None,
        status: LocalStatus | None,
        cum_qty: Decimal | None,
        fills: Iterable[_Fill],
        now_ns: int,
    ) -> list[ExecReport]:
        new_fills = self._check(tracked, symbol, venue_order_id, status, cum_qty, fills)
        if venue_order_id is not None and tracked.venue_order_id is None:
            tracked.venue_order_id = venue_order_id
            self._by_venue_id[symbol, venue_order_id] = tracked
        if tracked.status is _S.REJECTED and (new_fills or status in _LIVE):
            # REJECTED was inferred (a -2013 asked too early, an ambiguous error) yet the order
            # lives. Its fills still count, so inventory stays true; the gateway must cancel it.
            tracked.alive_after_reject = True
        reports: list[ExecReport] = []
        moved = status is not None and self._transition(tracked, status, now_ns)
        if moved and tracked.status.is_final:
            tracked.final_qty = cum_qty if cum_qty is not None else tracked.filled_qty
        # ACK once the venue has shown it has the order; it precedes every other report.
        if not tracked.acked and (moved or new_fills) and tracked.status is not _S.REJECTED:
            tracked.acked = True
            reports.append(ExecReport(tracked.order, now_ns, ExecStatus.ACK))
        if cum_qty is not None and cum_qty > tracked.venue_cum_qty:
            tracked.venue_cum_qty = cum_qty
        for fill in new_fills:
            reports.append(self._fill(tracked, fill, now_ns))
        if new_fills and tracked.filled_qty == tracked.qty and self._transition(tracked, _S.FILLED, now_ns):
            # fills alone (myTrades) can complete an order: it has left the book, FILLED
            tracked.final_qty = tracked.qty
        if (
            tracked.status in _FINAL_REPORT
            and not tracked.final_reported
            and not tracked.awaiting_fills
        ):
            tracked.final_reported = True
            reports.append(ExecReport(tracked.order, now_ns, _FINAL_REPORT[tracked.status]))
        return reports

    def _check(
        self,
        tracked: TrackedOrder,
        symbol: str,
        venue_order_id: int | None,
        status: LocalStatus | None,
        cum_qty: Decimal | None,
        fills: Iterable[_Fill],
    ) -> list[_Fill]:
        """The fills not yet applied; raises before any change if the facts contradict."""
        where = f"order {tracked.client_order_id!r}"
        if symbol != tracked.symbol:
            raise VenueInconsistency(f"{where} is on {tracked.symbol}, the venue says {symbol}")
        if venue_order_id is not None and tracked.venue_order_id not in (None, venue_order_id):
            raise VenueInconsistency(f"{where} has orderId {tracked.venue_order_id}, the venue says {venue_order_id}")
        if cum_qty is not None and cum_qty > tracked.qty:
            raise VenueInconsistency(f"{where}: cumulative quantity {cum_qty} above the order's {tracked.qty}")
        new: list[_Fill] = []
        seen = set(tracked.trade_ids)
        filled = tracked.filled_qty
        for fill in fills:
            if fill.trade_id in seen:
                self.duplicate_fills += 1
                continue
            seen.add(fill.trade_id)
            filled += fill.qty
            new.append(fill)
        # A REJECTED order's zero is what the engine inferred; if it traded, the venue was right.
        ceiling = tracked.qty if tracked.final_qty is None or tracked.status is _S.REJECTED else tracked.final_qty
        if status is not None and status.is_final and status in TRANSITIONS[tracked.status] and cum_qty is not None:
            ceiling = cum_qty
        if filled > ceiling:
            raise VenueInconsistency(f"{where}: fills add up to {filled}, more than the venue's {ceiling}")
        return new

    def _fill(self, tracked: TrackedOrder, fill: _Fill, now_ns: int) -> ExecReport:
        tracked.trade_ids.add(fill.trade_id)
        tracked.filled_qty += fill.qty
        tracked.updated_ns = now_ns
        side = tracked.order.side  # +1 BUY, -1 SELL
        base_delta = fill.qty * side
        fee_quote = ZERO
        asset = fill.commission_asset
        if fill.commission and asset is not None:
            tracked.commissions[asset] = tracked.commissions.get(asset, ZERO) + fill.commission
            self.commissions[asset] = self.commissions.get(asset, ZERO) + fill.commission
            if asset == tracked.rules.base_asset:
                # The account holds less base than traded; the engine books that as a fee.
                base_delta -= fill.commission
                fee_quote = fill.commission * fill.price
            elif asset == tracked.rules.quote_asset:
                fee_quote = fill.commission
        tracked.base_delta += base_delta
        if tracked.filled_qty == tracked.qty:
            status = ExecStatus.FILLED
            tracked.final_reported = True
        else:
            status = ExecStatus.PARTIALLY_FILLED
        return ExecReport(
            tracked.order, now_ns, status, float(fill.price), float(abs(base_delta)), float(fee_quote), fill.trade_id
        )

"""Binance Spot user-data events, from parsed JSON to typed records: order changes
(`ExecutionReport`), balances (`AccountPosition`, `BalanceUpdate`), the end of a subscription
and the server's shutdown notice.

Sans-IO, like the REST replies: frozen, slotted dataclasses out, `ParseError` naming the
event and the field for a malformed one, exact `Decimal` amounts with ``*_f`` float views.

Wire sentinels become ``None``: ``-1`` ids and times (no order list, not a trade), ``""``
for an unset ``C`` (original client order id), ``"NONE"`` reject reason, ``null``
commission asset. Reasons (``r``, ``eR``) and the self-trade-prevention mode stay strings.
Unknown event types (``listStatus``, ``externalLockUpdate``, ...) come back as
`UnknownEvent`, not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from dmabot.venues.binance.protocol.replies import Balance, average_price, parse_balance
from dmabot.venues.binance.protocol.wire import (
    ExecType,
    FieldReader,
    OrderStatus,
    OrderType,
    TimeInForce,
    WireSide,
    json_array,
)


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """User-data ``executionReport``: one change of one order (docs/binance.md, "User data stream").

    Apply fills with ``trade_id`` as the dedup key and ``cum_qty`` as the truth; events can
    arrive out of order and before the REST reply of the same order.
    """

    subscription_id: int | None
    event_time: int  # E
    transaction_time: int  # T
    symbol: str  # s
    client_order_id: str  # c: on CANCELED, the cancel request's id
    orig_client_order_id: str | None  # C: the cancelled order's id; None when "" (not a cancel)
    side: WireSide  # S
    order_type: OrderType  # o
    time_in_force: TimeInForce  # f
    qty: Decimal  # q
    price: Decimal  # p
    stop_price: Decimal  # P
    exec_type: ExecType  # x
    status: OrderStatus  # X
    reject_reason: str | None  # r, None for "NONE"
    order_id: int | None  # i, None for -1 (some rejects)
    order_list_id: int | None  # g
    last_qty: Decimal  # l
    cum_qty: Decimal  # z
    last_price: Decimal  # L
    commission: Decimal  # n
    commission_asset: str | None  # N
    trade_id: int | None  # t, None for -1 (not a trade)
    is_maker: bool  # m
    is_working: bool  # w
    cum_quote_qty: Decimal  # Z
    last_quote_qty: Decimal  # Y
    quote_order_qty: Decimal  # Q
    order_time: int | None  # O
    working_time: int | None  # W, only once on the book
    stp_mode: str | None  # V
    expiry_reason: str | None  # eR, on expired orders

    @property
    def order_client_id(self) -> str:
        """The id the order was placed with: ``C`` on cancel reports, else ``c``."""
        return self.orig_client_order_id or self.client_order_id

    @property
    def is_fill(self) -> bool:
        return self.exec_type is ExecType.TRADE

    @property
    def avg_price(self) -> Decimal | None:
        return average_price(self.cum_quote_qty, self.cum_qty)

    @property
    def last_qty_f(self) -> float:
        return float(self.last_qty)

    @property
    def last_price_f(self) -> float:
        return float(self.last_price)

    @property
    def cum_qty_f(self) -> float:
        return float(self.cum_qty)

    @property
    def commission_f(self) -> float:
        return float(self.commission)


@dataclass(frozen=True, slots=True)
class AccountPosition:
    """``outboundAccountPosition``: new absolute balances of the assets that changed."""

    subscription_id: int | None
    event_time: int
    update_time: int
    balances: tuple[Balance, ...]


@dataclass(frozen=True, slots=True)
class BalanceUpdate:
    """``balanceUpdate``: deposit/withdrawal/transfer; ``delta`` is a change, not a balance."""

    subscription_id: int | None
    event_time: int
    asset: str
    delta: Decimal
    clear_time: int


@dataclass(frozen=True, slots=True)
class EventStreamTerminated:
    """The subscription ended; resubscribe (and reconcile) unless it was asked for."""

    subscription_id: int | None
    event_time: int


@dataclass(frozen=True, slots=True)
class ServerShutdown:
    """The WebSocket API server is going away; reconnect and resubscribe."""

    event_time: int


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """A user-data event type this module does not model; kept whole for the recorder."""

    subscription_id: int | None
    event_type: str
    payload: Mapping[str, Any] = field(compare=False)


UserEvent = ExecutionReport | AccountPosition | BalanceUpdate | EventStreamTerminated | UnknownEvent


def parse_user_event(msg: Any) -> UserEvent | ServerShutdown:
    """A user-data event: ``{"subscriptionId":N,"event":{..}}`` as the WebSocket API sends it.

    A bare ``{"e":..}`` (the retired listenKey stream, and the real captures kept as
    samples) is accepted too, with ``subscription_id`` None.
    """
    outer = FieldReader(msg, "user data event")
    if outer.has("event"):
        subscription_id = outer.opt(outer.integer, "subscriptionId")
        r = FieldReader(outer.get("event"), "user data event")
    else:
        subscription_id, r = None, outer
    event_type = r.text("e")
    if event_type == "serverShutdown":
        return ServerShutdown(r.integer("E"))
    parser = _EVENT_PARSERS.get(event_type)
    if parser is None:
        return UnknownEvent(subscription_id, event_type, r.d)
    r.where = event_type
    return parser(r, subscription_id)


def _execution_report(r: FieldReader, subscription_id: int | None) -> ExecutionReport:
    reject_reason = r.text("r")
    return ExecutionReport(
        subscription_id=subscription_id,
        event_time=r.integer("E"),
        transaction_time=r.integer("T"),
        symbol=r.text("s"),
        client_order_id=r.text("c"),
        orig_client_order_id=r.text("C") or None,
        side=r.enum(WireSide, "S"),
        order_type=r.enum(OrderType, "o"),
        time_in_force=r.enum(TimeInForce, "f"),
        qty=r.dec("q"),
        price=r.dec("p"),
        stop_price=r.dec("P"),
        exec_type=r.enum(ExecType, "x"),
        status=r.enum(OrderStatus, "X"),
        reject_reason=None if reject_reason == "NONE" else reject_reason,
        order_id=r.id_or_none("i"),
        order_list_id=r.id_or_none("g"),
        last_qty=r.dec("l"),
        cum_qty=r.dec("z"),
        last_price=r.dec("L"),
        commission=r.dec("n"),
        commission_asset=r.opt(r.text, "N"),
        trade_id=r.id_or_none("t"),
        is_maker=r.flag("m"),
        is_working=r.flag("w"),
        cum_quote_qty=r.dec("Z"),
        last_quote_qty=r.dec("Y"),
        quote_order_qty=r.dec("Q"),
        order_time=r.id_or_none("O"),
        working_time=r.opt(r.integer, "W"),
        stp_mode=r.opt(r.text, "V"),
        expiry_reason=r.opt(r.text, "eR"),
    )


def _account_position(r: FieldReader, subscription_id: int | None) -> AccountPosition:
    balances = tuple(parse_balance(b, "a", "f", "l") for b in json_array(r.get("B"), "outboundAccountPosition.B"))
    return AccountPosition(subscription_id, r.integer("E"), r.integer("u"), balances)


def _balance_update(r: FieldReader, subscription_id: int | None) -> BalanceUpdate:
    return BalanceUpdate(subscription_id, r.integer("E"), r.text("a"), r.dec("d"), r.integer("T"))


def _stream_terminated(r: FieldReader, subscription_id: int | None) -> EventStreamTerminated:
    return EventStreamTerminated(subscription_id, r.integer("E"))


_EVENT_PARSERS: Mapping[str, Callable[[FieldReader, int | None], UserEvent]] = {
    "executionReport": _execution_report,
    "outboundAccountPosition": _account_position,
    "balanceUpdate": _balance_update,
    "eventStreamTerminated": _stream_terminated,
}

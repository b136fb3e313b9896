"""Binance Spot REST replies, from parsed JSON to typed records: order placement, cancels,
order queries, trades and the account.

Sans-IO: every parser takes what ``json.loads`` returned and gives back frozen, slotted
dataclasses, or raises `ParseError` naming the payload and the field. Prices, quantities and
commissions stay exact as `Decimal` (the exchange sends them as strings); the ``*_f``
properties are the float views the Cython hot path takes.

Wire sentinels become ``None``: ``-1`` ids and times (no order list), ``null`` optional
fields. Reasons (``expiryReason``) and the self-trade-prevention mode stay strings: the engine
only reports them, and Binance adds values over time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from dmabot.venues.binance.protocol.wire import (
    FieldReader,
    OrderStatus,
    OrderType,
    RespType,
    TimeInForce,
    WireSide,
    json_array,
)


class _FillFloats:
    """Float views of a fill's exact Decimal price, quantity and commission."""

    __slots__ = ()
    price: Decimal
    qty: Decimal
    commission: Decimal

    @property
    def price_f(self) -> float:
        return float(self.price)

    @property
    def qty_f(self) -> float:
        return float(self.qty)

    @property
    def commission_f(self) -> float:
        return float(self.commission)


@dataclass(frozen=True, slots=True)
class Fill(_FillFloats):
    """One entry of a FULL order reply's ``fills``."""

    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    trade_id: int


@dataclass(frozen=True, slots=True)
class OrderResponse:
    """``POST /api/v3/order`` reply. ACK has only the first five fields (the rest None/empty)."""

    symbol: str
    order_id: int
    order_list_id: int | None
    client_order_id: str
    transact_time: int
    resp_type: RespType
    status: OrderStatus | None = None
    side: WireSide | None = None
    order_type: OrderType | None = None
    time_in_force: TimeInForce | None = None
    price: Decimal | None = None
    orig_qty: Decimal | None = None
    executed_qty: Decimal | None = None
    cum_quote_qty: Decimal | None = None
    orig_quote_order_qty: Decimal | None = None
    working_time: int | None = None
    stp_mode: str | None = None
    expiry_reason: str | None = None
    fills: tuple[Fill, ...] = ()

    @property
    def avg_price(self) -> Decimal | None:
        return average_price(self.cum_quote_qty, self.executed_qty)


@dataclass(frozen=True, slots=True)
class CancelResponse:
    """``DELETE /api/v3/order`` reply (and each order of ``DELETE /api/v3/openOrders``).

    ``client_order_id`` is the cancel request's own id; the order's is ``orig_client_order_id``.
    """

    symbol: str
    order_id: int
    order_list_id: int | None
    orig_client_order_id: str
    client_order_id: str
    transact_time: int | None
    status: OrderStatus
    side: WireSide
    order_type: OrderType
    time_in_force: TimeInForce
    price: Decimal
    orig_qty: Decimal
    executed_qty: Decimal
    cum_quote_qty: Decimal
    orig_quote_order_qty: Decimal | None
    stp_mode: str | None


@dataclass(frozen=True, slots=True)
class OrderState:
    """One order from ``GET /api/v3/order`` or ``GET /api/v3/openOrders``."""

    symbol: str
    order_id: int
    order_list_id: int | None
    client_order_id: str
    status: OrderStatus
    side: WireSide
    order_type: OrderType
    time_in_force: TimeInForce
    price: Decimal
    orig_qty: Decimal
    executed_qty: Decimal
    cum_quote_qty: Decimal
    orig_quote_order_qty: Decimal | None
    stop_price: Decimal | None
    iceberg_qty: Decimal | None
    time: int
    update_time: int
    is_working: bool
    working_time: int | None
    stp_mode: str | None

    @property
    def avg_price(self) -> Decimal | None:
        return average_price(self.cum_quote_qty, self.executed_qty)


@dataclass(frozen=True, slots=True)
class Trade(_FillFloats):
    """One row of ``GET /api/v3/myTrades``."""

    symbol: str
    trade_id: int
    order_id: int
    order_list_id: int | None
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool
    is_best_match: bool

    @property
    def side(self) -> WireSide:
        return WireSide.BUY if self.is_buyer else WireSide.SELL


@dataclass(frozen=True, slots=True)
class Balance:
    """Free and locked amounts of one asset (absolute values, not deltas)."""

    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class CommissionRates:
    maker: Decimal
    taker: Decimal
    buyer: Decimal
    seller: Decimal


@dataclass(frozen=True, slots=True)
class Account:
    """``GET /api/v3/account``."""

    can_trade: bool
    account_type: str
    update_time: int
    commission_rates: CommissionRates
    balances: tuple[Balance, ...]
    permissions: tuple[str, ...]
    uid: int | None

    def balance(self, asset: str) -> Balance | None:
        """The balance of `asset`, or None if the account lists none (a zero balance)."""
        return next((b for b in self.balances if b.asset == asset), None)


def average_price(quote: Decimal | None, base: Decimal | None) -> Decimal | None:
    """Quote quantity over base quantity; None before anything was executed."""
    if quote is None or not base:
        return None
    return quote / base


def parse_order_response(body: Any) -> OrderResponse:
    """``POST /api/v3/order`` reply of any ``newOrderRespType`` (ACK, RESULT or FULL)."""
    r = FieldReader(body, "order response")
    common = (
        r.text("symbol"),
        r.integer("orderId"),
        r.id_or_none("orderListId"),
        r.text("clientOrderId"),
        r.integer("transactTime"),
    )
    if not r.has("status"):
        return OrderResponse(*common, resp_type=RespType.ACK)
    fills = r.get("fills") if r.has("fills") else None
    if fills is not None and not isinstance(fills, list):
        raise r.fail("fills", "expected a list")
    return OrderResponse(
        *common,
        resp_type=RespType.RESULT if fills is None else RespType.FULL,
        status=r.enum(OrderStatus, "status"),
        side=r.enum(WireSide, "side"),
        order_type=r.enum(OrderType, "type"),
        time_in_force=r.enum(TimeInForce, "timeInForce"),
        price=r.dec("price"),
        orig_qty=r.dec("origQty"),
        executed_qty=r.dec("executedQty"),
        cum_quote_qty=r.dec("cummulativeQuoteQty"),  # sic: two m's on the wire
        orig_quote_order_qty=r.opt(r.dec, "origQuoteOrderQty"),
        working_time=r.opt(r.integer, "workingTime"),
        stp_mode=r.opt(r.text, "selfTradePreventionMode"),
        expiry_reason=r.opt(r.text, "expiryReason"),
        fills=tuple(_fill(f) for f in fills or ()),
    )


def _fill(d: Any) -> Fill:
    r = FieldReader(d, "fill")
    return Fill(r.dec("price"), r.dec("qty"), r.dec("commission"), r.text("commissionAsset"), r.integer("tradeId"))


def parse_cancel_response(body: Any) -> CancelResponse:
    """``DELETE /api/v3/order`` reply."""
    r = FieldReader(body, "cancel response")
    return CancelResponse(
        symbol=r.text("symbol"),
        order_id=r.integer("orderId"),
        order_list_id=r.id_or_none("orderListId"),
        orig_client_order_id=r.text("origClientOrderId"),
        client_order_id=r.text("clientOrderId"),
        transact_time=r.opt(r.integer, "transactTime"),
        status=r.enum(OrderStatus, "status"),
        side=r.enum(WireSide, "side"),
        order_type=r.enum(OrderType, "type"),
        time_in_force=r.enum(TimeInForce, "timeInForce"),
        price=r.dec("price"),
        orig_qty=r.dec("origQty"),
        executed_qty=r.dec("executedQty"),
        cum_quote_qty=r.dec("cummulativeQuoteQty"),
        orig_quote_order_qty=r.opt(r.dec, "origQuoteOrderQty"),
        stp_mode=r.opt(r.text, "selfTradePreventionMode"),
    )


def parse_cancel_open_orders(body: Any) -> list[CancelResponse]:
    """``DELETE /api/v3/openOrders`` reply; orders of an order list are flattened in."""
    orders: list[CancelResponse] = []
    for item in json_array(body, "cancel open orders response"):
        reports = item.get("orderReports") if isinstance(item, Mapping) else None
        orders.extend(parse_cancel_response(x) for x in (reports if isinstance(reports, list) else [item]))
    return orders


def parse_order(body: Any) -> OrderState:
    """One order of ``GET /api/v3/order`` or ``GET /api/v3/openOrders``."""
    r = FieldReader(body, "order")
    return OrderState(
        symbol=r.text("symbol"),
        order_id=r.integer("orderId"),
        order_list_id=r.id_or_none("orderListId"),
        client_order_id=r.text("clientOrderId"),
        status=r.enum(OrderStatus, "status"),
        side=r.enum(WireSide, "side"),
        order_type=r.enum(OrderType, "type"),
        time_in_force=r.enum(TimeInForce, "timeInForce"),
        price=r.dec("price"),
        orig_qty=r.dec("origQty"),
        executed_qty=r.dec("executedQty"),
        cum_quote_qty=r.dec("cummulativeQuoteQty"),
        orig_quote_order_qty=r.opt(r.dec, "origQuoteOrderQty"),
        stop_price=r.opt(r.dec, "stopPrice"),
        iceberg_qty=r.opt(r.dec, "icebergQty"),
        time=r.integer("time"),
        update_time=r.integer("updateTime"),
        is_working=r.flag("isWorking"),
        working_time=r.opt(r.integer, "workingTime"),
        stp_mode=r.opt(r.text, "selfTradePreventionMode"),
    )


def parse_open_orders(body: Any) -> list[OrderState]:
    """``GET /api/v3/openOrders`` reply."""
    return [parse_order(x) for x in json_array(body, "open orders response")]


def parse_my_trades(body: Any) -> list[Trade]:
    """``GET /api/v3/myTrades`` reply."""
    return [_trade(x) for x in json_array(body, "myTrades response")]


def _trade(d: Any) -> Trade:
    r = FieldReader(d, "trade")
    return Trade(
        symbol=r.text("symbol"),
        trade_id=r.integer("id"),
        order_id=r.integer("orderId"),
        order_list_id=r.id_or_none("orderListId"),
        price=r.dec("price"),
        qty=r.dec("qty"),
        quote_qty=r.dec("quoteQty"),
        commission=r.dec("commission"),
        commission_asset=r.text("commissionAsset"),
        time=r.integer("time"),
        is_buyer=r.flag("isBuyer"),
        is_maker=r.flag("isMaker"),
        is_best_match=r.flag("isBestMatch"),
    )


def parse_account(body: Any) -> Account:
    """``GET /api/v3/account`` reply."""
    r = FieldReader(body, "account")
    rates = FieldReader(r.get("commissionRates"), "account.commissionRates")
    return Account(
        can_trade=r.flag("canTrade"),
        account_type=r.text("accountType"),
        update_time=r.integer("updateTime"),
        commission_rates=CommissionRates(*(rates.dec(k) for k in ("maker", "taker", "buyer", "seller"))),
        balances=tuple(
            parse_balance(b, "asset", "free", "locked") for b in json_array(r.get("balances"), "account.balances")
        ),
        permissions=tuple(json_array(r.get("permissions"), "account.permissions")) if r.has("permissions") else (),
        uid=r.opt(r.integer, "uid"),
    )


def parse_balance(d: Any, asset: str, free: str, locked: str) -> Balance:
    """One balance object, its fields named by the caller (REST and user-data events differ)."""
    r = FieldReader(d, "balance")
    return Balance(r.text(asset), r.dec(free), r.dec(locked))


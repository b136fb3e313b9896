"""Binance Spot replies and user-data events, from parsed JSON to typed records.

Sans-IO: every function takes what ``json.loads`` returned and gives back frozen, slotted
dataclasses, or raises `ParseError` naming the payload and the field. Prices, quantities and
commissions stay exact as `Decimal` (the exchange sends them as strings); the ``*_f``
properties are the float views the Cython hot path takes.

Wire sentinels become ``None``: ``-1`` ids and times (no order list, not a trade), ``""``
for an unset ``origClientOrderId``, ``"NONE"`` reject reason, ``null`` commission asset.

Enums are strict for what drives the order state machine (side, type, time in force,
execution type, status): an unknown value there is a `ParseError`, never a guess. Reasons
(``r``, ``eR``, ``expiryReason``) and the self-trade-prevention mode stay strings: the engine
only reports them, and Binance adds values over time. Unknown user-data event types
(``listStatus``, ``externalLockUpdate``, ...) come back as `UnknownEvent`, not an error.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

E = TypeVar("E", bound=enum.Enum)


class ParseError(ValueError):
    """A payload did not have the documented shape; the message names payload and field."""


class Side(enum.StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(enum.StrEnum):
    LIMIT = "LIMIT"
    LIMIT_MAKER = "LIMIT_MAKER"
    MARKET = "MARKET"
    STOP_LOSS = "STOP_LOSS"
    STOP_LOSS_LIMIT = "STOP_LOSS_LIMIT"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"


class TimeInForce(enum.StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class ExecType(enum.StrEnum):
    """executionReport ``x``: what happened now."""

    NEW = "NEW"
    TRADE = "TRADE"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    REPLACED = "REPLACED"
    TRADE_PREVENTION = "TRADE_PREVENTION"


class OrderStatus(enum.StrEnum):
    """Order state after the event (executionReport ``X``, REST ``status``)."""

    NEW = "NEW"
    PENDING_NEW = "PENDING_NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    PENDING_CANCEL = "PENDING_CANCEL"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"

    @property
    def is_final(self) -> bool:
        """No further fills can happen."""
        return self in _FINAL_STATUSES


_FINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED, OrderStatus.EXPIRED_IN_MATCH}
)


class RespType(enum.StrEnum):
    """``newOrderRespType``; for a parsed reply, inferred from the fields present."""

    ACK = "ACK"
    RESULT = "RESULT"
    FULL = "FULL"


class RateLimitType(enum.StrEnum):
    REQUEST_WEIGHT = "REQUEST_WEIGHT"
    ORDERS = "ORDERS"
    RAW_REQUESTS = "RAW_REQUESTS"


class RateLimitInterval(enum.StrEnum):
    SECOND = "SECOND"
    MINUTE = "MINUTE"
    HOUR = "HOUR"
    DAY = "DAY"

    @property
    def ms(self) -> int:
        return _INTERVAL_MS[self]


_INTERVAL_MS = {"SECOND": 1_000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}


class ErrorCode(enum.IntEnum):
    """Error codes the engine acts on (docs/binance.md, "Error codes"); others still parse as ints."""

    UNKNOWN = -1000
    DISCONNECTED = -1001
    TOO_MANY_REQUESTS = -1003
    UNEXPECTED_RESP = -1006
    TIMEOUT = -1007
    SERVER_BUSY = -1008
    INVALID_MESSAGE = -1013
    TOO_MANY_ORDERS = -1015
    INVALID_TIMESTAMP = -1021
    INVALID_SIGNATURE = -1022
    ILLEGAL_CHARS = -1100
    MANDATORY_PARAM_EMPTY_OR_MALFORMED = -1102
    BAD_PRECISION = -1111
    BAD_SYMBOL = -1121
    NEW_ORDER_REJECTED = -2010
    CANCEL_REJECTED = -2011
    NO_SUCH_ORDER = -2013
    BAD_API_KEY_FMT = -2014
    REJECTED_MBX_KEY = -2015
    ORDER_ARCHIVED = -2026
    SUBSCRIPTION_ACTIVE = -2035
    SUBSCRIPTION_INACTIVE = -2036
    CLIENT_ORDER_ID_INVALID = -2039
    MAXIMUM_SUBSCRIPTION_IDS = -2042


# -1000/-1001: "orders: reconcile first"; -1006/-1007: "execution status unknown" (docs/binance.md, "Error codes").
_UNKNOWN_OUTCOME = frozenset({-1000, -1001, -1006, -1007})
_FILTER_FAILURE = "Filter failure: "


@dataclass(frozen=True, slots=True)
class ApiError:
    """An error body ``{"code":..,"msg":..}`` (REST) or ``error`` object (WebSocket API)."""

    code: int
    msg: str
    http_status: int | None = None
    retry_after_ms: int | None = None  # WebSocket API 429/418: epoch ms when requests may resume

    @property
    def known(self) -> ErrorCode | None:
        try:
            return ErrorCode(self.code)
        except ValueError:
            return None

    @property
    def outcome_unknown(self) -> bool:
        """The order may or may not exist: query it by client id before sending again."""
        return self.code in _UNKNOWN_OUTCOME or (self.http_status is not None and self.http_status >= 500)

    @property
    def filter_name(self) -> str | None:
        """``LOT_SIZE`` for ``-1013 "Filter failure: LOT_SIZE"``, else None."""
        if self.code == ErrorCode.INVALID_MESSAGE and self.msg.startswith(_FILTER_FAILURE):
            return self.msg[len(_FILTER_FAILURE) :]
        return None


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One ``rateLimits`` entry; ``count`` is set only in WebSocket API responses."""

    kind: RateLimitType
    interval: RateLimitInterval
    interval_num: int
    limit: int
    count: int | None = None

    @property
    def window_ms(self) -> int:
        return self.interval.ms * self.interval_num


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
    side: Side | None = None
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
        return _avg_price(self.cum_quote_qty, self.executed_qty)


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
    side: Side
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
    side: Side
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
        return _avg_price(self.cum_quote_qty, self.executed_qty)


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
    def side(self) -> Side:
        return Side.BUY if self.is_buyer else Side.SELL


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
    side: Side  # S
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
        return _avg_price(self.cum_quote_qty, self.cum_qty)

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


@dataclass(frozen=True, slots=True)
class WsApiResponse:
    """``{"id","status","result"|"error","rateLimits"}``: the reply to one WS API request."""

    id: str | int | None
    status: int
    result: Any
    error: ApiError | None
    rate_limits: tuple[RateLimit, ...]

    @property
    def ok(self) -> bool:
        return self.error is None


# --- field reader ---------------------------------------------------------------------


class _Reader:
    """Typed access to one JSON object; errors name the payload (`where`) and the field."""

    __slots__ = ("d", "where")

    def __init__(self, d: Any, where: str) -> None:
        if not isinstance(d, Mapping):
            raise ParseError(f"{where}: expected a JSON object, got {type(d).__name__}")
        self.d = d
        self.where = where

    def fail(self, key: str, what: str) -> ParseError:
        return ParseError(f"{self.where}: field {key!r}: {what}, got {self.d.get(key)!r}")

    def get(self, key: str) -> Any:
        try:
            return self.d[key]
        except KeyError:
            raise ParseError(f"{self.where}: missing field {key!r}") from None

    def has(self, key: str) -> bool:
        return key in self.d

    def text(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise self.fail(key, "expected a string")
        return value

    def integer(self, key: str) -> int:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, "expected an integer")
        return value

    def flag(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            raise self.fail(key, "expected true/false")
        return value

    def dec(self, key: str) -> Decimal:
        value = self.get(key)
        # Binance sends decimals as strings; a float here means precision is already lost.
        if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
            raise self.fail(key, "expected a decimal string")
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise self.fail(key, "expected a decimal string") from None
        if not result.is_finite():
            raise self.fail(key, "expected a finite decimal")
        return result

    def enum(self, cls: type[E], key: str) -> E:
        value = self.get(key)
        try:
            return cls(value)
        except ValueError:
            raise self.fail(key, f"unknown {cls.__name__}") from None

    def opt(self, reader: Callable[[str], Any], key: str) -> Any:
        """`reader(key)`, or None if the field is absent or null."""
        return None if self.d.get(key) is None else reader(key)

    def id_or_none(self, key: str) -> int | None:
        """An id or time where ``-1`` means "none"."""
        value = self.integer(key)
        return None if value == -1 else value


def _avg_price(quote: Decimal | None, base: Decimal | None) -> Decimal | None:
    if quote is None or not base:
        return None
    return quote / base


# --- REST -----------------------------------------------------------------------------


def is_error_body(body: Any) -> bool:
    """True for a REST error body ``{"code": <int>, "msg": <str>}``."""
    return isinstance(body, Mapping) and isinstance(body.get("code"), int) and isinstance(body.get("msg"), str)


def parse_api_error(body: Any, http_status: int | None = None) -> ApiError:
    """A REST error body, or the ``error`` object of a WebSocket API reply."""
    r = _Reader(body, "error body")
    data = body.get("data")
    retry_after = data.get("retryAfter") if isinstance(data, Mapping) else None
    if isinstance(retry_after, bool) or not isinstance(retry_after, int):
        retry_after = None
    return ApiError(r.integer("code"), r.text("msg"), http_status, retry_after)


def parse_order_response(body: Any) -> OrderResponse:
    """``POST /api/v3/order`` reply of any ``newOrderRespType`` (ACK, RESULT or FULL)."""
    r = _Reader(body, "order response")
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
        side=r.enum(Side, "side"),
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
    r = _Reader(d, "fill")
    return Fill(r.dec("price"), r.dec("qty"), r.dec("commission"), r.text("commissionAsset"), r.integer("tradeId"))


def parse_cancel_response(body: Any) -> CancelResponse:
    """``DELETE /api/v3/order`` reply."""
    r = _Reader(body, "cancel response")
    return CancelResponse(
        symbol=r.text("symbol"),
        order_id=r.integer("orderId"),
        order_list_id=r.id_or_none("orderListId"),
        orig_client_order_id=r.text("origClientOrderId"),
        client_order_id=r.text("clientOrderId"),
        transact_time=r.opt(r.integer, "transactTime"),
        status=r.enum(OrderStatus, "status"),
        side=r.enum(Side, "side"),
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
    for item in _list(body, "cancel open orders response"):
        reports = item.get("orderReports") if isinstance(item, Mapping) else None
        orders.extend(parse_cancel_response(x) for x in (reports if isinstance(reports, list) else [item]))
    return orders


def parse_order(body: Any) -> OrderState:
    """One order of ``GET /api/v3/order`` or ``GET /api/v3/openOrders``."""
    r = _Reader(body, "order")
    return OrderState(
        symbol=r.text("symbol"),
        order_id=r.integer("orderId"),
        order_list_id=r.id_or_none("orderListId"),
        client_order_id=r.text("clientOrderId"),
        status=r.enum(OrderStatus, "status"),
        side=r.enum(Side, "side"),
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
    return [parse_order(x) for x in _list(body, "open orders response")]


def parse_my_trades(body: Any) -> list[Trade]:
    """``GET /api/v3/myTrades`` reply."""
    return [_trade(x) for x in _list(body, "myTrades response")]


def _trade(d: Any) -> Trade:
    r = _Reader(d, "trade")
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
    r = _Reader(body, "account")
    rates = _Reader(r.get("commissionRates"), "account.commissionRates")
    return Account(
        can_trade=r.flag("canTrade"),
        account_type=r.text("accountType"),
        update_time=r.integer("updateTime"),
        commission_rates=CommissionRates(*(rates.dec(k) for k in ("maker", "taker", "buyer", "seller"))),
        balances=tuple(_balance(b, "asset", "free", "locked") for b in _list(r.get("balances"), "account.balances")),
        permissions=tuple(_list(r.get("permissions"), "account.permissions")) if r.has("permissions") else (),
        uid=r.opt(r.integer, "uid"),
    )


def _balance(d: Any, asset: str, free: str, locked: str) -> Balance:
    r = _Reader(d, "balance")
    return Balance(r.text(asset), r.dec(free), r.dec(locked))


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ParseError(f"{where}: expected a JSON array, got {type(value).__name__}")
    return value


def parse_rate_limits(items: Any) -> tuple[RateLimit, ...]:
    """A ``rateLimits`` array (exchangeInfo or WS API reply). Unknown limit types are skipped."""
    limits = []
    for item in _list(items, "rateLimits"):
        r = _Reader(item, "rateLimit")
        if r.get("rateLimitType") not in RateLimitType.__members__:
            continue
        limits.append(
            RateLimit(
                r.enum(RateLimitType, "rateLimitType"),
                r.enum(RateLimitInterval, "interval"),
                r.integer("intervalNum"),
                r.integer("limit"),
                r.opt(r.integer, "count"),
            )
        )
    return tuple(limits)


# --- WebSocket API and user data ------------------------------------------------------


def parse_ws_api_message(msg: Any) -> WsApiResponse | UserEvent | ServerShutdown:
    """Any JSON text frame of a WebSocket API connection: a reply or a pushed event."""
    if isinstance(msg, Mapping) and "event" in msg:
        return parse_user_event(msg)
    return parse_ws_api_response(msg)


def parse_ws_api_response(msg: Any) -> WsApiResponse:
    """``{"id","status","result","rateLimits"}`` or ``{"id","status","error",..}``."""
    r = _Reader(msg, "WS API response")
    status = r.integer("status")
    request_id = r.get("id")
    if request_id is not None and (isinstance(request_id, bool) or not isinstance(request_id, str | int)):
        raise r.fail("id", "expected a string, an integer or null")
    error = parse_api_error(r.get("error"), status) if r.has("error") else None
    if error is None and not r.has("result"):
        raise ParseError("WS API response: neither 'result' nor 'error'")
    limits = parse_rate_limits(r.get("rateLimits")) if r.has("rateLimits") else ()
    return WsApiResponse(request_id, status, msg.get("result"), error, limits)


def parse_user_event(msg: Any) -> UserEvent | ServerShutdown:
    """A user-data event: ``{"subscriptionId":N,"event":{..}}`` as the WebSocket API sends it.

    A bare ``{"e":..}`` (the retired listenKey stream, and the real captures kept as
    samples) is accepted too, with ``subscription_id`` None.
    """
    outer = _Reader(msg, "user data event")
    if outer.has("event"):
        subscription_id = outer.opt(outer.integer, "subscriptionId")
        r = _Reader(outer.get("event"), "user data event")
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


def _execution_report(r: _Reader, subscription_id: int | None) -> ExecutionReport:
    reject_reason = r.text("r")
    return ExecutionReport(
        subscription_id=subscription_id,
        event_time=r.integer("E"),
        transaction_time=r.integer("T"),
        symbol=r.text("s"),
        client_order_id=r.text("c"),
        orig_client_order_id=r.text("C") or None,
        side=r.enum(Side, "S"),
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


def _account_position(r: _Reader, subscription_id: int | None) -> AccountPosition:
    balances = tuple(_balance(b, "a", "f", "l") for b in _list(r.get("B"), "outboundAccountPosition.B"))
    return AccountPosition(subscription_id, r.integer("E"), r.integer("u"), balances)


def _balance_update(r: _Reader, subscription_id: int | None) -> BalanceUpdate:
    return BalanceUpdate(subscription_id, r.integer("E"), r.text("a"), r.dec("d"), r.integer("T"))


def _stream_terminated(r: _Reader, subscription_id: int | None) -> EventStreamTerminated:
    return EventStreamTerminated(subscription_id, r.integer("E"))


_EVENT_PARSERS: Mapping[str, Callable[[_Reader, int | None], UserEvent]] = {
    "executionReport": _execution_report,
    "outboundAccountPosition": _account_position,
    "balanceUpdate": _balance_update,
    "eventStreamTerminated": _stream_terminated,
}

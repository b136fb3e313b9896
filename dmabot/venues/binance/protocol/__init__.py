"""Binance Spot order entry, sans-IO: request signing, symbol filters, typed REST replies
(`replies`) and user-data events (`user_events`) over a shared wire vocabulary (`wire`: the
enums, error bodies, rate limits; `WireSide` is Binance's ``"BUY"``/``"SELL"``, not the
engine's `dmabot.core.types.Side`), WebSocket API messages (`ws_api`), prepared order
requests, the REST connection, the server clock, the local order registry and the account's
balance book.

No sockets and no clock reads: callers pass timestamps in and get strings, dicts and records
out, so the same code serves the live gateway, the simulator and the tests.

    creds = Credentials(api_key, secret)
    rules = parse_exchange_info(json.loads(body)).rules("BTCUSDT")
    px, qty = rules.round_price(WireSide.BUY, 91250.017), rules.round_qty(0.0012345)
    if (reject := rules.check(WireSide.BUY, OrderType.LIMIT, px, qty, mid)) is None:
        params = [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
                  ("quantity", format_decimal(qty)), ("price", format_decimal(px))]
        body = signed_query(params, creds, now_ms, 5000)     # send these bytes unchanged
    event = parse_ws_api_message(json.loads(frame))           # ExecutionReport, WsApiResponse, ...
"""

from dmabot.venues.binance.protocol.balances import BalanceBook
from dmabot.venues.binance.protocol.client_order_id import ClientOrderId, ClientOrderIdError, ClientOrderIdFactory
from dmabot.venues.binance.protocol.clock import ClockState, RetryDecision, ServerClock, TimeSample, parse_server_time
from dmabot.venues.binance.protocol.filters import (
    ExchangeInfo,
    FilterName,
    FilterReject,
    LotSize,
    NotionalFilter,
    PercentPriceFilter,
    PriceFilter,
    SymbolRules,
    UnknownSymbol,
    ceil_to_grid,
    coerce_side,
    floor_to_grid,
    format_decimal,
    on_grid,
    parse_exchange_info,
    to_decimal,
)
from dmabot.venues.binance.protocol.orders import LocalStatus, OrderRegistry, TrackedOrder, VenueInconsistency
from dmabot.venues.binance.protocol.replies import (
    Account,
    Balance,
    CancelResponse,
    CommissionRates,
    Fill,
    OrderResponse,
    OrderState,
    Trade,
    parse_account,
    parse_cancel_open_orders,
    parse_cancel_response,
    parse_my_trades,
    parse_open_orders,
    parse_order,
    parse_order_response,
)
from dmabot.venues.binance.protocol.rest_protocol import (
    ConnectionClosedError,
    ConnectionState,
    FailureReason,
    RateLimitState,
    RateLimitStatus,
    RequestFailed,
    Response,
    RestConnection,
)
from dmabot.venues.binance.protocol.rest_request import OrderTemplate, RequestError, RestRequests
from dmabot.venues.binance.protocol.signing import (
    API_KEY_HEADER,
    Credentials,
    KeyType,
    PreparedHmac,
    SigningError,
    encode_query,
    signed_query,
    ws_api_params,
    ws_api_payload,
)
from dmabot.venues.binance.protocol.user_events import (
    AccountPosition,
    BalanceUpdate,
    EventStreamTerminated,
    ExecutionReport,
    ServerShutdown,
    UnknownEvent,
    UserEvent,
    parse_user_event,
)
from dmabot.venues.binance.protocol.wire import (
    ApiError,
    ErrorCode,
    ExecType,
    OrderStatus,
    OrderType,
    ParseError,
    RateLimit,
    RateLimitInterval,
    RateLimitType,
    RespType,
    TimeInForce,
    WireSide,
    is_error_body,
    parse_api_error,
    parse_rate_limits,
)
from dmabot.venues.binance.protocol.ws_api import WsApiResponse, parse_ws_api_message, parse_ws_api_response

__all__ = [
    "API_KEY_HEADER",
    "Account",
    "AccountPosition",
    "ApiError",
    "Balance",
    "BalanceBook",
    "BalanceUpdate",
    "CancelResponse",
    "ClientOrderId",
    "ClientOrderIdError",
    "ClientOrderIdFactory",
    "ClockState",
    "CommissionRates",
    "ConnectionClosedError",
    "ConnectionState",
    "Credentials",
    "ErrorCode",
    "EventStreamTerminated",
    "ExchangeInfo",
    "ExecType",
    "ExecutionReport",
    "FailureReason",
    "Fill",
    "FilterName",
    "FilterReject",
    "KeyType",
    "LocalStatus",
    "LotSize",
    "NotionalFilter",
    "OrderRegistry",
    "OrderResponse",
    "OrderState",
    "OrderStatus",
    "OrderTemplate",
    "OrderType",
    "ParseError",
    "PercentPriceFilter",
    "PreparedHmac",
    "PriceFilter",
    "RateLimit",
    "RateLimitInterval",
    "RateLimitState",
    "RateLimitStatus",
    "RateLimitType",
    "RequestError",
    "RequestFailed",
    "RespType",
    "Response",
    "RestConnection",
    "RestRequests",
    "RetryDecision",
    "ServerClock",
    "ServerShutdown",
    "SigningError",
    "SymbolRules",
    "TimeInForce",
    "TimeSample",
    "TrackedOrder",
    "Trade",
    "UnknownEvent",
    "UnknownSymbol",
    "UserEvent",
    "VenueInconsistency",
    "WireSide",
    "WsApiResponse",
    "ceil_to_grid",
    "coerce_side",
    "encode_query",
    "floor_to_grid",
    "format_decimal",
    "is_error_body",
    "on_grid",
    "parse_account",
    "parse_api_error",
    "parse_cancel_open_orders",
    "parse_cancel_response",
    "parse_exchange_info",
    "parse_my_trades",
    "parse_open_orders",
    "parse_order",
    "parse_order_response",
    "parse_rate_limits",
    "parse_server_time",
    "parse_user_event",
    "parse_ws_api_message",
    "parse_ws_api_response",
    "signed_query",
    "to_decimal",
    "ws_api_params",
    "ws_api_payload",
]

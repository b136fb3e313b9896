"""The Binance Spot wire vocabulary shared by the reply, event and exchange-rules parsers and
the order writers: the string enums Binance sends and accepts, error bodies and rate limits,
and `FieldReader`, the typed reader every parser of this package reads JSON through.

`WireSide` is the side as Binance spells it (``"BUY"``/``"SELL"``): a string enum, compared
with JSON strings and written into requests as is. It is not the engine's side,
`dmabot.core.types.Side` (``+1``/``-1``); `filters.coerce_side` maps the engine's to it.

Enums are strict for what drives the order state machine (side, type, time in force,
execution type, status): `FieldReader.enum` turns an unknown value into a `ParseError`, never
a guess.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

E = TypeVar("E", bound=enum.Enum)


class ParseError(ValueError):
    """A payload did not have the documented shape; the message names payload and field."""


class WireSide(enum.StrEnum):
    """The side as Binance writes it (``S``, ``side``); the engine's is `dmabot.core.types.Side`."""

    BUY = "BUY"
    SELL = "SELL"

    @classmethod
    def of(cls, side: int) -> WireSide:
        """From the engine's side (+1 buy, -1 sell)."""
        return cls.BUY if side > 0 else cls.SELL


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


# --- field reader ---------------------------------------------------------------------


class FieldReader:
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


def json_array(value: Any, where: str) -> list[Any]:
    """`value` if it is a JSON array, else a `ParseError` naming `where`."""
    if not isinstance(value, list):
        raise ParseError(f"{where}: expected a JSON array, got {type(value).__name__}")
    return value


# --- error bodies and rate limits -----------------------------------------------------


def is_error_body(body: Any) -> bool:
    """True for a REST error body ``{"code": <int>, "msg": <str>}``."""
    return isinstance(body, Mapping) and isinstance(body.get("code"), int) and isinstance(body.get("msg"), str)


def parse_api_error(body: Any, http_status: int | None = None) -> ApiError:
    """A REST error body, or the ``error`` object of a WebSocket API reply."""
    r = FieldReader(body, "error body")
    data = body.get("data")
    retry_after = data.get("retryAfter") if isinstance(data, Mapping) else None
    if isinstance(retry_after, bool) or not isinstance(retry_after, int):
        retry_after = None
    return ApiError(r.integer("code"), r.text("msg"), http_status, retry_after)


def parse_rate_limits(items: Any) -> tuple[RateLimit, ...]:
    """A ``rateLimits`` array (exchangeInfo or WS API reply). Unknown limit types are skipped."""
    limits = []
    for item in json_array(items, "rateLimits"):
        r = FieldReader(item, "rateLimit")
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


"""Rate limits the simulator advertises, the request weight and order counts it keeps
against them, and the 429/418 answers when a client goes past them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dmabot.venues.binance.sim._errors import VenueError

MINUTE_MS = 60_000
TEN_SECONDS_MS = 10_000
DAY_MS = 86_400_000
REQUEST_WEIGHT_LIMIT = 6000
ORDERS_10S_LIMIT = 100
ORDERS_1D_LIMIT = 200_000
# 429s answered while over the limit before the IP is banned (418), and the first ban's length
BAN_AFTER_429S = 3
BAN_MS = 120_000


@dataclass(frozen=True)
class Limits:
    request_weight: int = REQUEST_WEIGHT_LIMIT  # per minute
    orders_10s: int = ORDERS_10S_LIMIT
    orders_1d: int = ORDERS_1D_LIMIT

    def as_rate_limits(self) -> list[dict[str, Any]]:
        """The exchangeInfo `rateLimits` array (mainnet values by default)."""
        return [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": self.request_weight},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": self.orders_10s},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": self.orders_1d},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300000},
        ]


DEFAULT_LIMITS = Limits()
# As mainnet's exchangeInfo served them in 2026 (docs/binance.md, "Rate limits").
RATE_LIMITS = tuple(DEFAULT_LIMITS.as_rate_limits())


class _Window:
    """A count in fixed windows of `length_ms` (Binance resets at the window's boundary)."""

    def __init__(self, length_ms: int) -> None:
        self.length_ms = length_ms
        self._window = -1
        self._count = 0

    def count(self, now_ms: int) -> int:
        if now_ms // self.length_ms != self._window:
            self._window = now_ms // self.length_ms
            self._count = 0
        return self._count

    def add(self, n: int, now_ms: int) -> int:
        self._count = self.count(now_ms) + n
        return self._count

    def ends_ms(self, now_ms: int) -> int:
        return (now_ms // self.length_ms + 1) * self.length_ms


class RequestWeight:
    """REQUEST_WEIGHT per fixed one-minute window, ORDERS per 10 s and per day, IP bans.

    One counter serves REST and the WebSocket API alike: the docs leave open whether the
    two pools are one, and counting them together is the cautious reading. `admit` raises
    the 429 (-1003) a request past the weight limit gets; after `BAN_AFTER_429S` of those in
    a row the "IP" is banned (418) for `BAN_MS`, doubling with every further ban.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self.limits = limits
        self._weight = _Window(MINUTE_MS)
        self._orders_10s = _Window(TEN_SECONDS_MS)
        self._orders_1d = _Window(DAY_MS)
        self._violations = 0
        self._bans = 0
        self.banned_until_ms = 0

    @property
    def used(self) -> int:
        return self._weight._count

    def used_at(self, now_ms: int) -> int:
        return self._weight.count(now_ms)

    def add(self, weight: int, now_ms: int) -> int:
        return self._weight.add(weight, now_ms)

    def admit(self, weight: int, now_ms: int) -> None:
        """Raise the 418 or 429 `VenueError` if a request of `weight` may not run now."""
        if now_ms < self.banned_until_ms:
            raise self._banned()
        if self._weight.count(now_ms) + weight <= self.limits.request_weight:
            self._violations = 0
            return
        self._violations += 1
        if self._violations > BAN_AFTER_429S:
            self.ban(now_ms, BAN_MS << min(self._bans, 11))
            raise self._banned()
        raise VenueError(
            429,
            -1003,
            f"Too much request weight used; current limit is {self.limits.request_weight} request weight per 1 MINUTE."
            " Please use WebSocket Streams for live updates to avoid polling the API.",
            retry_after_ms=self._weight.ends_ms(now_ms),
        )

    def ban(self, now_ms: int, length_ms: int) -> None:
        self._bans += 1
        self._violations = 0
        self.banned_until_ms = now_ms + length_ms

    def _banned(self) -> VenueError:
        until = self.banned_until_ms
        return VenueError(
            418,
            -1003,
            f"Way too much request weight used; IP banned until {until}."
            " Please use WebSocket Streams for live updates to avoid bans.",
            retry_after_ms=until,
        )

    def admit_order(self, now_ms: int) -> None:
        """Raise the 429 (-1015) a new order past the ORDERS limits gets."""
        for window, limit, text in (
            (self._orders_10s, self.limits.orders_10s, "10 SECOND"),
            (self._orders_1d, self.limits.orders_1d, "1 DAY"),
        ):
            if window.count(now_ms) >= limit:
                raise VenueError(
                    429,
                    -1015,
                    f"Too many new orders; current limit is {limit} orders per {text}.",
                    retry_after_ms=window.ends_ms(now_ms),
                )

    def add_order(self, now_ms: int, n: int = 1) -> None:
        """Count a new unfilled order (`n=-1`: one traded, or was never placed after all).

        As on Binance, orders that trade give their count back: an account whose orders
        fill can keep trading; counts never go below zero.
        """
        for window in (self._orders_10s, self._orders_1d):
            window.add(max(n, -window.count(now_ms)), now_ms)

    def order_counts(self, now_ms: int) -> tuple[int, int]:
        """(orders in this 10 s window, orders today) for `X-MBX-ORDER-COUNT-10S/-1D`."""
        return self._orders_10s.count(now_ms), self._orders_1d.count(now_ms)

    def as_rate_limits(self, now_ms: int | None = None, orders: bool = False) -> list[dict[str, object]]:
        """The `rateLimits` array of a WebSocket API response (the count at `now_ms`); with
        `orders` (an order.place reply) the ORDERS windows first, as Binance lists them."""
        used = self.used if now_ms is None else self.used_at(now_ms)
        limits = self.limits.as_rate_limits()
        weight = [{**limits[0], "count": used}]
        if not orders or now_ms is None:
            return weight
        return [{**limits[1], "count": self._orders_10s.count(now_ms)},
                {**limits[2], "count": self._orders_1d.count(now_ms)}, *weight]

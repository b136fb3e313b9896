"""Rate limits the simulator advertises, and the request weight it counts against them."""

from __future__ import annotations

MINUTE_MS = 60_000
REQUEST_WEIGHT_LIMIT = 6000

# As served by mainnet exchangeInfo in 2026 (samples/rest/exchange_info_btcusdt_ethusdt.json).
RATE_LIMITS = (
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": REQUEST_WEIGHT_LIMIT},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300000},
)


class RequestWeight:
    """REQUEST_WEIGHT used in the current fixed one-minute window.

    One counter serves REST and the WebSocket API alike: the docs leave open whether the
    two pools are one, and counting them together is the cautious reading. Nothing is
    rejected yet; the count is reported in `X-MBX-USED-WEIGHT-1M` and `rateLimits[]`.
    """

    def __init__(self) -> None:
        self._window = -1
        self.used = 0

    def add(self, weight: int, now_ms: int) -> int:
        window = now_ms // MINUTE_MS
        if window != self._window:
            self._window = window
            self.used = 0
        self.used += weight
        return self.used

    def as_rate_limits(self) -> list[dict[str, object]]:
        """The `rateLimits` array of a WebSocket API response."""
        return [{**RATE_LIMITS[0], "count": self.used}]

"""The one error type of the simulator's Binance endpoints (REST and the WebSocket API)."""

from __future__ import annotations

from typing import Any


class VenueError(Exception):
    """A Binance-style error reply: HTTP `status` with body `{"code":code,"msg":msg}`.

    `retry_after_ms` (epoch ms) is set on 429/418: REST sends it as `Retry-After` seconds,
    the WebSocket API as `error.data.retryAfter`.
    """

    def __init__(self, status: int, code: int, msg: str, *, retry_after_ms: int | None = None) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg
        self.retry_after_ms = retry_after_ms

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "msg": self.msg}

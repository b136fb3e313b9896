"""WebSocket API sessions (`/ws-api/v3`), sans-IO: one JSON request in, one reply out.

Requests are dispatched by `method` through a table of `Method`s, so trading methods are
added by extending the table (`PUBLIC_METHODS | TRADING_METHODS`), not by editing the
dispatcher. Replies follow the documented shape:

    {"id":..,"status":200,"result":{..},"rateLimits":[..]}
    {"id":..,"status":400,"error":{"code":..,"msg":".."},"rateLimits":[..]}

The error codes for requests the simulator cannot read (-1102) or methods it does not
know (-1020) are its own choice; the real server's texts may differ.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dmabot.venues.binance.sim._errors import VenueError  # the same {"code","msg"} error as REST
from dmabot.venues.binance.sim._limits import RequestWeight


@dataclass(frozen=True)
class RequestContext:
    """What a method handler may use besides its params: the time and its session."""

    now_ms: int
    session: WsApiClientSession


@dataclass(frozen=True)
class Method:
    weight: int
    handler: Callable[[Mapping[str, Any], RequestContext], Any]
    free_if_ok: bool = False  # order placement and cancels: weight only when they fail


ORDER_PLACE = "order.place"

PUBLIC_METHODS: Mapping[str, Method] = {
    "ping": Method(1, lambda params, ctx: {}),
    "time": Method(1, lambda params, ctx: {"serverTime": ctx.now_ms}),
}


class WsApiClientSession:
    """One `/ws-api/v3` connection's state: its methods, and its user-data subscriptions.

    `push` is set by the I/O side to send a text frame outside a reply (subscription
    events); `close()` ends the subscriptions when the connection goes away.
    `on_order_place` is called as soon as an `order.place` request has been read, before
    it is checked or run (see `SimApp.on_order_arrival`). `lose_reply` (the lose_reply fault)
    says whether a trading request that ran loses its reply: `handle_text` then returns None
    and the connection must close without it.
    """

    def __init__(
        self, methods: Mapping[str, Method], weight: RequestWeight, on_order_place: Callable[[], None] | None = None,
        lose_reply: Callable[[], bool] | None = None,
    ) -> None:
        self._methods = methods
        self._weight = weight
        self._on_order_place = on_order_place
        self._lose_reply = lose_reply
        self.push: Callable[[str], None] | None = None
        # subscriptionId -> what ends it (detaches the listener)
        self.subscriptions: dict[int, Callable[[], None]] = {}
        self.next_subscription_id = 0

    def send(self, obj: Any) -> None:
        if self.push is not None:
            self.push(json.dumps(obj, separators=(",", ":")))

    def close(self) -> None:
        for end in self.subscriptions.values():
            end()
        self.subscriptions.clear()

    def handle_text(self, text: str, now_ms: int) -> str | None:
        request_id = name = None
        try:
            request = _parse_object(text)
            request_id = request.get("id")
            name, params = _method_and_params(request)
            if name == ORDER_PLACE and self._on_order_place is not None:
                self._on_order_place()
            method = self._methods.get(name)
            if method is None:
                raise VenueError(400, -1020, f"Unsupported operation: unknown method '{name}'.")
            self._weight.admit(method.weight, now_ms)
            try:
                result = method.handler(params, RequestContext(now_ms, self))
            except VenueError:
                self._weight.add(method.weight, now_ms)
                raise
            self._weight.add(0 if method.free_if_ok else method.weight, now_ms)
            if method.free_if_ok and self._lose_reply is not None and self._lose_reply():
                return None     # executed; the reply goes down with the connection
        except VenueError as exc:
            error: dict[str, Any] = {"code": exc.code, "msg": exc.msg}
            if exc.retry_after_ms is not None:
                error["data"] = {"serverTime": now_ms, "retryAfter": exc.retry_after_ms}
            reply = {"id": request_id, "status": exc.status, "error": error}
        else:
            reply = {"id": request_id, "status": 200, "result": result}
        reply["rateLimits"] = self._weight.as_rate_limits(now_ms, orders=name == ORDER_PLACE)
        return json.dumps(reply, separators=(",", ":"))


def _parse_object(text: str) -> dict[str, Any]:
    try:
        request = json.loads(text)
    except ValueError as exc:
        raise VenueError(400, -1102, f"Malformed request: {exc}.") from None
    if not isinstance(request, dict):
        raise VenueError(400, -1102, "Malformed request: expected a JSON object.")
    return request


def _method_and_params(request: dict[str, Any]) -> tuple[str, Mapping[str, Any]]:
    name = request.get("method")
    params = request.get("params", {})
    if not isinstance(name, str):
        raise VenueError(400, -1102, "Mandatory parameter 'method' was not sent, was empty/null, or malformed.")
    if not isinstance(params, dict):
        raise VenueError(400, -1102, "Mandatory parameter 'params' was not sent, was empty/null, or malformed.")
    return name, params

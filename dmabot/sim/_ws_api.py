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

from dmabot.sim._limits import RequestWeight
from dmabot.sim._rest import ApiError  # the same {"code","msg"} error as REST


@dataclass(frozen=True)
class RequestContext:
    """What a method handler may use besides its params; grows with trading (account, keys)."""

    now_ms: int


@dataclass(frozen=True)
class Method:
    weight: int
    handler: Callable[[Mapping[str, Any], RequestContext], Any]


PUBLIC_METHODS: Mapping[str, Method] = {
    "ping": Method(1, lambda params, ctx: {}),
    "time": Method(1, lambda params, ctx: {"serverTime": ctx.now_ms}),
}


class WsApiSession:
    def __init__(self, methods: Mapping[str, Method], weight: RequestWeight) -> None:
        self._methods = methods
        self._weight = weight

    def handle_text(self, text: str, now_ms: int) -> str:
        request_id = None
        try:
            request = _parse_object(text)
            request_id = request.get("id")
            name, params = _method_and_params(request)
            method = self._methods.get(name)
            if method is None:
                raise ApiError(400, -1020, f"Unsupported operation: unknown method '{name}'.")
            self._weight.add(method.weight, now_ms)
            result = method.handler(params, RequestContext(now_ms))
        except ApiError as exc:
            reply = {"id": request_id, "status": exc.status, "error": {"code": exc.code, "msg": exc.msg}}
        else:
            reply = {"id": request_id, "status": 200, "result": result}
        reply["rateLimits"] = self._weight.as_rate_limits()
        return json.dumps(reply, separators=(",", ":"))


def _parse_object(text: str) -> dict[str, Any]:
    try:
        request = json.loads(text)
    except ValueError as exc:
        raise ApiError(400, -1102, f"Malformed request: {exc}.") from None
    if not isinstance(request, dict):
        raise ApiError(400, -1102, "Malformed request: expected a JSON object.")
    return request


def _method_and_params(request: dict[str, Any]) -> tuple[str, Mapping[str, Any]]:
    name = request.get("method")
    params = request.get("params", {})
    if not isinstance(name, str):
        raise ApiError(400, -1102, "Mandatory parameter 'method' was not sent, was empty/null, or malformed.")
    if not isinstance(params, dict):
        raise ApiError(400, -1102, "Mandatory parameter 'params' was not sent, was empty/null, or malformed.")
    return name, params

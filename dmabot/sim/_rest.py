"""The simulator's REST endpoints, sans-IO: (method, target, body, time) -> HttpResponse.

Binance endpoints answer like the real ones (samples/rest, samples/errors): JSON bodies,
`{"code":..,"msg":..}` errors with HTTP 400, `X-MBX-USED-WEIGHT-1M` on every reply. Paths
that do not exist give 404 with an empty body, a known path with the wrong method 405.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from dmabot.sim._exchange_info import exchange_info
from dmabot.sim._faults import FaultError, FaultSwitch, parse_fault
from dmabot.sim._limits import RequestWeight
from dmabot.sim._symbols import SymbolSpec

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"

Params = Mapping[str, str]


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


class ApiError(Exception):
    """A Binance-style error reply: HTTP `status` with body `{"code":code,"msg":msg}`."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


@dataclass(frozen=True)
class Route:
    method: str
    weight: int  # REQUEST_WEIGHT; 0 for the simulator's own endpoints, which send no weight header
    handler: Callable[[Params, int], Any]


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class RestApi:
    def __init__(self, specs: Mapping[str, SymbolSpec], weight: RequestWeight, faults: FaultSwitch) -> None:
        self._specs = specs
        self._weight = weight
        self._faults = faults
        self._routes = {
            "/api/v3/ping": Route("GET", 1, lambda params, now_ms: {}),
            "/api/v3/time": Route("GET", 1, lambda params, now_ms: {"serverTime": now_ms}),
            "/api/v3/exchangeInfo": Route("GET", 20, self._exchange_info),
            "/sim/fault": Route("POST", 0, self._fault),
        }

    def handle(self, method: str, target: str, body: bytes, now_ms: int) -> HttpResponse:
        url = urlsplit(target)
        route = self._routes.get(url.path)
        if route is None:
            return HttpResponse(404)
        if method != route.method:
            return HttpResponse(405, headers=(("Allow", route.method),))
        headers = [("Content-Type", JSON_CONTENT_TYPE)]
        if route.weight:
            used = self._weight.add(route.weight, now_ms)
            headers.append(("X-MBX-USED-WEIGHT-1M", str(used)))
        # a parameter sent in both places takes the query string's value
        params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        params.update(parse_qsl(url.query, keep_blank_values=True))
        try:
            result = route.handler(params, now_ms)
        except ApiError as exc:
            return HttpResponse(exc.status, json_bytes({"code": exc.code, "msg": exc.msg}), tuple(headers))
        return HttpResponse(200, json_bytes(result), tuple(headers))

    def _exchange_info(self, params: Params, now_ms: int) -> dict[str, Any]:
        if "symbol" in params and "symbols" in params:
            raise ApiError(400, -1128, "Combination of optional parameters invalid.")
        if "symbol" in params:
            names = [params["symbol"]]
        elif "symbols" in params:
            names = _symbol_list(params["symbols"])
        else:
            names = list(self._specs)
        if not all(name in self._specs for name in names):
            raise ApiError(400, -1121, "Invalid symbol.")
        return exchange_info((self._specs[name] for name in names), now_ms)

    def _fault(self, params: Params, now_ms: int) -> dict[str, Any]:
        try:
            fault = parse_fault(params)
        except FaultError as exc:
            raise ApiError(400, -1102, str(exc)) from None
        return {"action": fault.action.value, "connections": self._faults.apply_fault(fault)}


def _symbol_list(text: str) -> list[str]:
    """`symbols=["BTCUSDT","ETHUSDT"]` (a JSON array, URL-encoded by the client)."""
    try:
        names = json.loads(text)
    except ValueError:
        names = None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ApiError(400, -1102, "Mandatory parameter 'symbols' was not sent, was empty/null, or malformed.")
    return names

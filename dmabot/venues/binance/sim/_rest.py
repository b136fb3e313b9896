"""The simulator's REST endpoints, sans-IO: (method, target, body, headers, time) -> RestReply.

Binance endpoints answer like the real ones (docs/binance.md, "REST order entry", "Error
codes"): JSON bodies, `{"code":..,"msg":..}` errors with HTTP 400 (401 for key problems, 429/418 for rate
limits, with `Retry-After` in seconds), `X-MBX-USED-WEIGHT-1M` on every reply and
`X-MBX-ORDER-COUNT-10S`/`-1D` on every reply of `POST /api/v3/order`. Paths that do not
exist give 404 with an empty body, a known path with the wrong method 405.

`POST /api/v3/order/test` runs every check of an order without trading it.

The simulator's own endpoints, for tests (no key, no weight):

    POST /sim/fault?action=...                  fault switches (`dmabot.venues.binance.sim._faults`)
    POST /sim/balance_update?asset=A&delta=D    a deposit (D > 0) or withdrawal (D < 0):
                                                balanceUpdate, then outboundAccountPosition
    GET  /sim/requests                          the last `JOURNAL_LENGTH` Binance requests
                                                answered: [{"time","method","path","status"}]

Signed endpoints (TRADE, USER_DATA) check the `X-MBX-APIKEY` header, the HMAC signature
over the bytes as sent and the timestamp window (`dmabot.venues.binance.sim._auth`) before they run.
Successful order placement and cancellation cost no weight (Binance since 2026-04-02);
failed ones cost the listed weight.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from dmabot.venues.binance.sim._auth import Authenticator, outside_recv_window
from dmabot.venues.binance.sim._errors import VenueError
from dmabot.venues.binance.sim._exchange_info import exchange_info
from dmabot.venues.binance.sim._faults import Fault, FaultAction, FaultError, FaultSwitch, parse_fault
from dmabot.venues.binance.sim._limits import RequestWeight
from dmabot.venues.binance.sim._symbols import SymbolSpec
from dmabot.venues.binance.sim._venue import Venue

__all__ = ["JSON_CONTENT_TYPE", "ORDER_PATH", "VenueError", "RestReply", "RestApi", "Route"]

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"
API_KEY_HEADER = "x-mbx-apikey"
JOURNAL_LENGTH = 10_000
ORDER_PATH = "/api/v3/order"

Params = Mapping[str, str]


@dataclass(frozen=True)
class RestReply:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0  # a fault: send the reply this much later
    lose: bool = False  # a fault: never send it; close the connection instead


@dataclass(frozen=True)
class Route:
    method: str
    weight: int | Callable[[Params], int]  # 0 for the simulator's own endpoints: no weight header
    handler: Callable[[Params, int], Any]
    signed: bool = False
    free_if_ok: bool = False  # order placement and cancels: weight only when they fail
    places_order: bool = False
    trading: bool = False  # reply faults (delay, lose, 5xx) apply to these

    def weight_of(self, params: Params) -> int:
        return self.weight(params) if callable(self.weight) else self.weight


_PLACE: dict[str, bool] = {"signed": True, "free_if_ok": True, "places_order": True, "trading": True}
_CANCEL: dict[str, bool] = {"signed": True, "free_if_ok": True, "trading": True}


def json_bytes(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


class RestApi:
    def __init__(
        self,
        specs: Mapping[str, SymbolSpec],
        weight: RequestWeight,
        faults: FaultSwitch,
        venue: Venue | None = None,
        auth: Authenticator | None = None,
    ) -> None:
        self._specs = specs
        self._weight = weight
        self._faults = faults
        self._auth = auth or Authenticator(None)
        # faults queued for the next trading replies, and counters of forced rejections
        self._reply_faults: deque[Fault] = deque()
        self._force_1021 = 0
        self._force_429 = 0
        self._retry_after_429_s: float | None = None  # forced 429s: Retry-After, None = to the window's end
        self._force_429_orders = False  # forced 429s are -1015 on new orders, not -1003 on any request
        # What the exchange saw, for tests to check against: (time, method, path, status).
        self._journal: deque[tuple[int, str, str, int]] = deque(maxlen=JOURNAL_LENGTH)
        routes = [
            ("/api/v3/ping", Route("GET", 1, lambda params, now_ms: {})),
            ("/api/v3/time", Route("GET", 1, lambda params, now_ms: {"serverTime": now_ms})),
            ("/api/v3/exchangeInfo", Route("GET", 20, self._exchange_info)),
            ("/sim/fault", Route("POST", 0, self._fault)),
            ("/sim/requests", Route("GET", 0, self._requests)),
        ]
        if venue is not None:
            routes += [
                (ORDER_PATH, Route("POST", 1, venue.new_order, **_PLACE)),
                ("/api/v3/order/test", Route("POST", 1, venue.test_order, signed=True)),
                (ORDER_PATH, Route("DELETE", 1, venue.cancel_order, **_CANCEL)),
                (ORDER_PATH, Route("GET", 4, venue.query_order, signed=True)),
                ("/api/v3/openOrders", Route("GET", _open_orders_weight, venue.open_orders, signed=True)),
                ("/api/v3/openOrders", Route("DELETE", 1, venue.cancel_open_orders, **_CANCEL)),
                ("/api/v3/account", Route("GET", 20, venue.account, signed=True)),
                ("/api/v3/myTrades", Route("GET", _my_trades_weight, venue.my_trades, signed=True)),
                ("/sim/balance_update", Route("POST", 0, venue.balance_update)),
            ]
        self._routes: dict[str, dict[str, Route]] = {}
        for path, route in routes:
            self._routes.setdefault(path, {})[route.method] = route

    def handle(
        self, method: str, target: str, body: bytes, now_ms: int, headers: Mapping[str, str] | None = None
    ) -> RestReply:
        """Answer one request. `headers` maps lower-case names to values."""
        url = urlsplit(target)
        routes = self._routes.get(url.path)
        if routes is None:
            return RestReply(404)
        route = routes.get(method)
        if route is None:
            return RestReply(405, headers=(("Allow", ", ".join(routes)),))
        body_text = body.decode("utf-8", "replace")
        # a parameter sent in both places takes the query string's value
        params = dict(parse_qsl(body_text, keep_blank_values=True))
        params.update(parse_qsl(url.query, keep_blank_values=True))
        weight = route.weight_of(params)
        reply_fault = None
        try:
            if weight:
                self._weight.admit(weight, now_ms)
                if self._force_429 and not self._force_429_orders:
                    self._force_429 -= 1
                    raise self._forced_429(now_ms)
            if route.signed:
                self._auth.check_rest((headers or {}).get(API_KEY_HEADER), url.query, body_text, params, now_ms)
                if self._force_1021:
                    self._force_1021 -= 1
                    raise outside_recv_window()
            if route.places_order:
                self._weight.admit_order(now_ms)
                if self._force_429 and self._force_429_orders:
                    self._force_429 -= 1
                    raise self._forced_429(now_ms)
            if route.trading and self._reply_faults:
                reply_fault = self._reply_faults.popleft()
            result = self._run(route, params, now_ms)
        except VenueError as exc:
            response = RestReply(exc.status, json_bytes(exc.body()), self._charge(route, weight, now_ms, exc))
        else:
            charged = 0 if route.free_if_ok else weight
            response = RestReply(200, json_bytes(result), self._charge(route, charged, now_ms))
        if route.weight:  # a Binance endpoint, not one of the simulator's own
            self._journal.append((now_ms, method, url.path, response.status))
        # a reply fault hits whatever the matching engine answered, a rejection included
        return _faulty(response, reply_fault) if reply_fault else response

    def _run(self, route: Route, params: Params, now_ms: int) -> Any:
        if not route.places_order:
            return route.handler(params, now_ms)
        # counted before it runs, so that its own immediate fills can give the count back
        self._weight.add_order(now_ms)
        try:
            return route.handler(params, now_ms)
        except VenueError:
            self._weight.add_order(now_ms, -1)
            raise

    def _charge(
        self, route: Route, weight: int, now_ms: int, error: VenueError | None = None
    ) -> tuple[tuple[str, str], ...]:
        """Count `weight` (not for a 429 -1003 or 418: they did not run) and build the headers."""
        out = [("Content-Type", JSON_CONTENT_TYPE)]
        if route.weight and not (error is not None and error.status == 418):
            if not (error is not None and error.status == 429 and error.code == -1003):
                self._weight.add(weight, now_ms)
            out.append(("X-MBX-USED-WEIGHT-1M", str(self._weight.used_at(now_ms))))
        if route.places_order:
            ten_s, day = self._weight.order_counts(now_ms)
            out += [("X-MBX-ORDER-COUNT-10S", str(ten_s)), ("X-MBX-ORDER-COUNT-1D", str(day))]
        if error is not None and error.retry_after_ms is not None:
            out.append(("Retry-After", str(max(0, -(-(error.retry_after_ms - now_ms) // 1000)))))
        return tuple(out)

    def _forced_429(self, now_ms: int) -> VenueError:
        window_ms = 10_000 if self._force_429_orders else 60_000
        if self._retry_after_429_s is None:
            retry_after_ms = (now_ms // window_ms + 1) * window_ms
        else:
            retry_after_ms = now_ms + round(self._retry_after_429_s * 1000)
        if self._force_429_orders:
            return VenueError(429, -1015,
                              f"Too many new orders; current limit is {self._weight.limits.orders_10s} orders per "
                              "10 SECOND.", retry_after_ms=retry_after_ms)
        limit = self._weight.limits.request_weight
        return VenueError(
            429,
            -1003,
            f"Too much request weight used; current limit is {limit} request weight per 1 MINUTE."
            " Please use WebSocket Streams for live updates to avoid polling the API.",
            retry_after_ms=retry_after_ms,
        )

    # -- fault switches for replies ------------------------------------------------------
    def queue_reply_fault(self, fault: Fault) -> None:
        """DELAY_REPLY, LOSE_REPLY or HTTP_5XX for the next `fault.count` trading replies."""
        self._reply_faults.extend([fault] * fault.count)

    def lose_next_reply(self) -> bool:
        """For a WebSocket API trading request that ran: True (and the fault is used up) if
        the next queued reply fault is lose_reply; the other reply faults are REST's alone."""
        if self._reply_faults and self._reply_faults[0].action is FaultAction.LOSE_REPLY:
            self._reply_faults.popleft()
            return True
        return False

    def force_1021(self, count: int) -> None:
        self._force_1021 += count

    def force_429(self, count: int, retry_after_s: float | None = None, too_many_orders: bool = False) -> None:
        self._force_429 += count
        self._retry_after_429_s = retry_after_s
        self._force_429_orders = too_many_orders

    def force_418(self, now_ms: int, seconds: float) -> None:
        self._weight.ban(now_ms, round(seconds * 1000))

    # -- handlers ------------------------------------------------------------------------
    def _exchange_info(self, params: Params, now_ms: int) -> dict[str, Any]:
        if "symbol" in params and "symbols" in params:
            raise VenueError(400, -1128, "Combination of optional parameters invalid.")
        if "symbol" in params:
            names = [params["symbol"]]
        elif "symbols" in params:
            names = _symbol_list(params["symbols"])
        else:
            names = list(self._specs)
        if not all(name in self._specs for name in names):
            raise VenueError(400, -1121, "Invalid symbol.")
        return exchange_info((self._specs[name] for name in names), now_ms, self._weight.limits.as_rate_limits())

    def _requests(self, params: Params, now_ms: int) -> dict[str, Any]:
        return {
            "requests": [
                {"time": t, "method": method, "path": path, "status": status}
                for t, method, path, status in self._journal
            ]
        }

    def _fault(self, params: Params, now_ms: int) -> dict[str, Any]:
        try:
            fault = parse_fault(params)
        except FaultError as exc:
            raise VenueError(400, -1102, str(exc)) from None
        return {"action": fault.action.value, "connections": self._faults.apply_fault(fault)}


def _faulty(response: RestReply, fault: Fault) -> RestReply:
    if fault.action is FaultAction.DELAY_REPLY:
        return RestReply(response.status, response.body, response.headers, delay_s=fault.seconds)
    if fault.action is FaultAction.LOSE_REPLY:
        return RestReply(response.status, lose=True)
    # HTTP_5XX: the request was executed; the client learns nothing about it
    return RestReply(fault.code, b"", (("Content-Type", "text/html"),))


def _open_orders_weight(params: Params) -> int:
    return 6 if "symbol" in params else 80


def _my_trades_weight(params: Params) -> int:
    return 5 if "orderId" in params else 20


def _symbol_list(text: str) -> list[str]:
    """`symbols=["BTCUSDT","ETHUSDT"]` (a JSON array, URL-encoded by the client)."""
    try:
        names = json.loads(text)
    except ValueError:
        names = None
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise VenueError(400, -1102, "Mandatory parameter 'symbols' was not sent, was empty/null, or malformed.")
    return names

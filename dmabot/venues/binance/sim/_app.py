"""What the simulator serves, shared by all connections: REST routes and WebSocket sessions."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from enum import Enum
from functools import partial
from urllib.parse import parse_qs, urlsplit

from dmabot.venues.binance.sim._auth import Authenticator
from dmabot.venues.binance.sim._faults import FaultSwitch
from dmabot.venues.binance.sim._limits import DEFAULT_LIMITS, Limits, RequestWeight
from dmabot.venues.binance.sim._rest import JSON_CONTENT_TYPE, RestApi, RestReply
from dmabot.venues.binance.sim._streams import StreamSession, UnknownStream
from dmabot.venues.binance.sim._symbols import SymbolSpec
from dmabot.venues.binance.sim._venue import Venue
from dmabot.venues.binance.sim._ws_api import PUBLIC_METHODS, Method, WsApiClientSession
from dmabot.venues.binance.sim._ws_trading import trading_methods

WS_API_PATH = "/ws-api/v3"

Session = StreamSession | WsApiClientSession


class OrderEntry(Enum):
    """How an order request reached the simulator."""

    REST = "rest"  # POST /api/v3/order
    WS_API = "ws_api"  # order.place on /ws-api/v3


class Rejected(Exception):
    """A WebSocket upgrade the simulator refuses; `response` says why, over HTTP."""

    def __init__(self, response: RestReply) -> None:
        super().__init__(response.status)
        self.response = response


class SimApp:
    def __init__(
        self,
        specs: Mapping[str, SymbolSpec],
        faults: FaultSwitch,
        ws_api_methods: Mapping[str, Method] = PUBLIC_METHODS,
        *,
        venue: Venue | None = None,
        auth: Authenticator | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        """With a `venue`, the signed trading endpoints (REST and WebSocket API) are served too."""
        self.weight = RequestWeight(limits)
        auth = auth or Authenticator(None)
        self.rest = RestApi(specs, self.weight, faults, venue, auth)
        self.served_streams = frozenset(f"{spec.stream_prefix}@bookTicker" for spec in specs.values())
        if venue is not None:
            venue.on_first_trade = lambda now_ms: self.weight.add_order(now_ms, -1)
            ws_api_methods = {**ws_api_methods, **trading_methods(venue, auth, self.weight)}
        self._ws_api_methods = ws_api_methods
        # Called the moment an order request has arrived whole and been parsed, before any
        # check or the matching engine runs: the tick-to-trade probe stops its clock here
        # (dmabot.venues.binance.sim._probe), so the simulator's own work on the order is not counted.
        self.on_order_arrival: Callable[[OrderEntry], None] | None = None

    def order_arrived(self, entry: OrderEntry) -> None:
        if self.on_order_arrival is not None:
            self.on_order_arrival(entry)

    def open_session(self, target: str) -> Session:
        """The session for a WebSocket upgrade to `target`, or `Rejected`.

        `/ws`, `/ws/a/b` (raw frames), `/stream`, `/stream?streams=a/b` (wrapped frames),
        `/ws-api/v3` (requests).
        """
        url = urlsplit(target)
        if url.path == WS_API_PATH:
            return WsApiClientSession(self._ws_api_methods, self.weight, partial(self.order_arrived, OrderEntry.WS_API),
                                lose_reply=self.rest.lose_next_reply)
        if url.path == "/ws" or url.path.startswith("/ws/"):
            streams, combined = url.path[len("/ws/") :].split("/"), False
        elif url.path == "/stream":
            streams, combined = parse_qs(url.query).get("streams", [""])[0].split("/"), True
        else:
            raise Rejected(RestReply(404))
        try:
            return StreamSession(self.served_streams, [s for s in streams if s], combined)
        except UnknownStream as exc:
            body = json.dumps({"code": 2, "msg": f"Invalid request: {exc}"}).encode()
            raise Rejected(RestReply(400, body, (("Content-Type", JSON_CONTENT_TYPE),))) from None

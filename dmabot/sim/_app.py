"""What the simulator serves, shared by all connections: REST routes and WebSocket sessions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from urllib.parse import parse_qs, urlsplit

from dmabot.sim._faults import FaultSwitch
from dmabot.sim._limits import RequestWeight
from dmabot.sim._rest import JSON_CONTENT_TYPE, HttpResponse, RestApi
from dmabot.sim._streams import StreamSession, UnknownStream
from dmabot.sim._symbols import SymbolSpec
from dmabot.sim._ws_api import PUBLIC_METHODS, Method, WsApiSession

WS_API_PATH = "/ws-api/v3"

Session = StreamSession | WsApiSession


class Rejected(Exception):
    """A WebSocket upgrade the simulator refuses; `response` says why, over HTTP."""

    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.status)
        self.response = response


class SimApp:
    def __init__(
        self,
        specs: Mapping[str, SymbolSpec],
        faults: FaultSwitch,
        ws_api_methods: Mapping[str, Method] = PUBLIC_METHODS,
    ) -> None:
        self.weight = RequestWeight()
        self.rest = RestApi(specs, self.weight, faults)
        self.served_streams = frozenset(f"{spec.stream_prefix}@bookTicker" for spec in specs.values())
        self._ws_api_methods = ws_api_methods

    def open_session(self, target: str) -> Session:
        """The session for a WebSocket upgrade to `target`, or `Rejected`.

        `/ws`, `/ws/a/b` (raw frames), `/stream`, `/stream?streams=a/b` (wrapped frames),
        `/ws-api/v3` (requests).
        """
        url = urlsplit(target)
        if url.path == WS_API_PATH:
            return WsApiSession(self._ws_api_methods, self.weight)
        if url.path == "/ws" or url.path.startswith("/ws/"):
            streams, combined = url.path[len("/ws/") :].split("/"), False
        elif url.path == "/stream":
            streams, combined = parse_qs(url.query).get("streams", [""])[0].split("/"), True
        else:
            raise Rejected(HttpResponse(404))
        try:
            return StreamSession(self.served_streams, [s for s in streams if s], combined)
        except UnknownStream as exc:
            body = json.dumps({"code": 2, "msg": f"Invalid request: {exc}"}).encode()
            raise Rejected(HttpResponse(400, body, (("Content-Type", JSON_CONTENT_TYPE),))) from None

"""One simulator connection on the wire, sans-IO: HTTP/1.1 (`dmabot.io.http`, over h11)
until a WebSocket upgrade, then WebSocket frames (wsproto). Bytes and timestamps in, bytes to
send out.

The HTTP reader hands over the upgrade request whole; wsproto's `initiate_upgrade_connection`
takes it over from there, so REST and WebSocket share one port as on a real gateway. Protocol
errors of either library become a reply (an HTTP 4xx, or a WebSocket close with wsproto's
code) followed by `closing = True`; they never escape as exceptions.
"""

from __future__ import annotations

from enum import Enum, auto

from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError as WsHandshakeError

from dmabot.io.http import HttpRefused, HttpRequest, HttpRequestReader, HttpResponse
from dmabot.venues.binance.sim._app import OrderEntry, Rejected, Session, SimApp
from dmabot.venues.binance.sim._rest import ORDER_PATH, RestReply
from dmabot.venues.binance.sim._streams import StreamSession

MAX_REQUEST_BODY = 64 * 1024
# FIN + reserved opcode 0x3, empty payload: every conforming client must fail the connection
MALFORMED_FRAME = b"\x83\x00"


class ConnectionMode(Enum):
    """What a simulator connection speaks now."""

    HTTP = auto()
    STREAM = auto()  # WebSocket market-data streams
    WS_API = auto()  # WebSocket API requests


class SimProtocol:
    def __init__(self, app: SimApp) -> None:
        self._app = app
        self._http = HttpRequestReader(max_body_bytes=MAX_REQUEST_BODY)
        self._ws: WSConnection | None = None
        self._text_parts: list[str] = []
        self._last_ping = b""
        self.mode = ConnectionMode.HTTP
        self.session: Session | None = None
        self.target: str | None = None  # of the first request, for logs
        self.requests = 0
        self.closing = False  # close the transport once the returned bytes are written
        # replies held back by a delay fault: (seconds, bytes) for the I/O side to send later
        self.delayed: list[tuple[float, bytes]] = []
        # when the oldest ping still without its pong was sent (ns), or None
        self.unanswered_ping_since: int | None = None

    # -- input -------------------------------------------------------------------------
    def receive_data(self, data: bytes, now_ms: int) -> bytes:
        if self._ws is not None:
            self._ws.receive_data(data)
            return self._ws_events(now_ms)
        self._http.receive_data(data)
        return self._http_events(now_ms)

    def _http_events(self, now_ms: int) -> bytes:
        out = bytearray()
        while self._ws is None and not self.closing:
            item = self._http.next_request()
            if item is None:
                break
            if isinstance(item, HttpRefused):
                out += item.data
                self.closing = True
                break
            self.requests += 1
            if self.target is None:
                self.target = item.target.decode("ascii", "replace")
            out += self._on_request(item, now_ms)
        return bytes(out)

    def _on_request(self, request: HttpRequest, now_ms: int) -> bytes:
        target = request.target.decode("ascii", "replace")
        if request.method == b"POST" and target.partition("?")[0] == ORDER_PATH:
            self._app.order_arrived(OrderEntry.REST)
        if _wants_websocket(request):
            return self._upgrade(request, target, now_ms)
        method = request.method.decode("ascii", "replace")
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in request.headers}
        reply = self._app.rest.handle(method, target, request.body, now_ms, headers)
        if reply.lose:
            self.closing = True  # the request was executed; its reply is lost with the connection
            return b""
        if reply.delay_s > 0:
            self.delayed.append((reply.delay_s, self._respond(request, reply)))
            return b""
        return self._respond(request, reply)

    def _respond(self, request: HttpRequest, reply: RestReply, *, close: bool = False) -> bytes:
        headers = tuple((name.encode("latin-1"), value.encode("latin-1")) for name, value in reply.headers)
        out = self._http.respond(request, HttpResponse(reply.status, reply.body, headers), close=close)
        if self._http.must_close:
            self.closing = True
        return out

    # -- WebSocket -----------------------------------------------------------------------
    def _upgrade(self, request: HttpRequest, target: str, now_ms: int) -> bytes:
        try:
            session = self._app.open_session(target)
        except Rejected as rejected:
            return self._respond(request, rejected.response, close=True)
        ws = WSConnection(ConnectionType.SERVER)
        try:
            ws.initiate_upgrade_connection(list(request.headers), request.target)
        except WsHandshakeError as exc:
            return self._respond(request, RestReply(400, f"{exc}\n".encode()), close=True)
        for _ in ws.events():  # the handshake's Request event: already routed above
            pass
        out = ws.send(AcceptConnection())
        self._ws = ws
        self.session = session
        self.mode = ConnectionMode.STREAM if isinstance(session, StreamSession) else ConnectionMode.WS_API
        trailing = self._http.trailing_data  # frames the client sent right behind the request
        if trailing:
            ws.receive_data(trailing)
            out += self._ws_events(now_ms)
        return out

    def _ws_events(self, now_ms: int) -> bytes:
        assert self._ws is not None and self.session is not None
        out = bytearray()
        for event in self._ws.events():
            if isinstance(event, TextMessage):
                self._text_parts.append(event.data)
                if event.message_finished:
                    text = "".join(self._text_parts)
                    self._text_parts.clear()
                    reply = self.session.handle_text(text, now_ms)
                    if reply is None:      # a lose_reply fault: drop the connection instead
                        self.closing = True
                        break
                    out += self.send_text(reply)
            elif isinstance(event, Ping):
                out += self._send(event.response())
            elif isinstance(event, Pong):
                # only the echo of our latest ping proves liveness; unsolicited pongs do not
                if event.payload == self._last_ping:
                    self.unanswered_ping_since = None
            elif isinstance(event, CloseConnection):
                # OPEN here means wsproto failed to parse a frame (event.code says how)
                if self._ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                    out += self._ws.send(event.response())
                self.closing = True
            elif isinstance(event, BytesMessage):
                out += self.close(1003, "binary frames are not supported")
        return bytes(out)

    # -- output ------------------------------------------------------------------------
    @property
    def is_open_websocket(self) -> bool:
        return self._ws is not None and self._ws.state is ConnectionState.OPEN

    def send_text(self, text: str) -> bytes:
        return self._send(TextMessage(data=text))

    def ping(self, payload: bytes, now_ns: int) -> bytes:
        self._last_ping = payload
        if self.unanswered_ping_since is None:
            self.unanswered_ping_since = now_ns
        return self._send(Ping(payload=payload))

    def close(self, code: int, reason: str = "") -> bytes:
        """Start the closing handshake; `closing` becomes True when the peer answers."""
        return self._send(CloseConnection(code=code, reason=reason))

    def _send(self, event: Event) -> bytes:
        if not self.is_open_websocket:
            return b""
        assert self._ws is not None
        return self._ws.send(event)


def _wants_websocket(request: HttpRequest) -> bool:
    return any(name == b"upgrade" and value.lower() == b"websocket" for name, value in request.headers)

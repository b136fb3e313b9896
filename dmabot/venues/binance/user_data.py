"""Binance user data (and, with ORDER_TRANSPORT=ws_api, order entry) over the WebSocket API,
on the reactor.

One connection to BINANCE_WS_API_URL: wsproto for the WebSocket's handshake, control frames
and everything received (a few messages a second), `WsApiSession` for the requests and
events. Orders are the exception on the way out: `send_order` writes the frame an
`OrderPlaceWriter` built and masked in Cython, because wsproto's send path costs microseconds
an order cannot spare; both write whole frames, so they interleave safely. It subscribes with
`userDataStream.subscribe.signature` when the connection opens, subscribes again after
`eventStreamTerminated`, reconnects with backoff when the connection ends, and tells its
owner each time a subscription is (re)established, because events missed while it was
down must then be reconciled (open orders, trades since the last trade id).
"""
from __future__ import annotations

import logging
from typing import Callable
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from dmabot.io.backoff import Backoff
from dmabot.io.reactor import Reactor, TimerHandle
from dmabot.io.transport import Transport, TransportError, client_tls_context, connect, resolve
from dmabot.venues.binance.protocol.signing import Credentials
from dmabot.venues.binance.protocol.user_events import ServerShutdown, UserEvent
from dmabot.venues.binance.protocol.ws_api import ORDER_PLACE_METHOD, Reply, Unmatched, WsApiResponse, WsApiSession

log = logging.getLogger("dmabot.user_stream")
NS = 1_000_000_000


class UserDataStream:
    """Delivers the account's user-data events to `on_event`; `on_subscribed` runs after each
    successful (re)subscription. `server_ms` gives the venue's time for signing.

    Orders sent with `send_order` get their reply through `on_order_reply(client id, reply)`,
    or, when the connection ends first, are named in `on_orders_lost(client ids)`: their
    outcome is unknown until looked up.
    """

    def __init__(self, reactor: Reactor, url: str, credentials: Credentials, server_ms: Callable[[], int],
                 on_event: Callable[[UserEvent], None], on_subscribed: Callable[[], None],
                 ca_file: str | None = None, recv_window_ms: int | None = 5000,
                 backoff: Backoff | None = None,
                 on_order_reply: Callable[[str, WsApiResponse], None] | None = None,
                 on_orders_lost: Callable[[list[str]], None] | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"expected a ws:// or wss:// URL, got {url!r}")
        self.reactor = reactor
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "wss" else 80)
        self.path = parts.path or "/"
        self.credentials = credentials
        self.server_ms = server_ms
        self.on_event = on_event
        self.on_subscribed = on_subscribed
        self.on_order_reply = on_order_reply
        self.on_orders_lost = on_orders_lost
        self.recv_window_ms = recv_window_ms
        self._tls = client_tls_context(ca_file or None) if parts.scheme == "wss" else None
        self._backoff = backoff or Backoff(NS // 2, 30 * NS)
        self._addresses: list = []
        self._connection: _Connection | None = None
        self._reconnect_timer: TimerHandle | None = None
        self._stopped = False
        # health, for metrics
        self.connected = False
        self.subscribed = False
        self.reconnects = 0
        self.events = 0

    def resolve(self) -> None:
        """Look the host up (may block: call before trading starts)."""
        self._addresses = resolve(self.host, self.port)

    def start(self) -> None:
        """Connect (and subscribe once open); resolves first if `resolve` was not called."""
        if not self._addresses:
            self.resolve()
        self._connect()

    def stop(self) -> None:
        self._stopped = True
        if self._reconnect_timer is not None:
            self._reconnect_timer.cancel()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def send_order(self, client_id: str, frame: bytes) -> bool:
        """Write one ``order.place`` request, framed (`OrderPlaceWriter.frame`, whose request
        id is `client_id`); False, with nothing written, while the connection is not open."""
        conn = self._connection
        if conn is None or not conn.open or conn.ended or conn.transport is None:
            return False
        conn.session.expect_reply(client_id, ORDER_PLACE_METHOD)
        conn.transport.write(frame)
        return True

    def _connect(self) -> None:
        address = self._addresses[self._backoff.attempts % len(self._addresses)]
        session = WsApiSession(self.credentials, self.recv_window_ms)
        self._connection = _Connection(self, session)
        connect(self.reactor, address, self._connection, tls=self._tls)

    def _closed(self, why: str) -> None:
        self.connected = self.subscribed = False
        self._connection = None
        if self._stopped:
            return
        delay = self._backoff.next_delay()
        log.warning("user data stream down reason=%s reconnect_in_s=%.2f", why, delay / NS)
        self._reconnect_timer = self.reactor.call_later(delay, self._reconnect)

    def _reconnect(self) -> None:
        if not self._stopped:
            self.reconnects += 1
            self._connect()

    def _handle(self, message: Reply | UserEvent | ServerShutdown | Unmatched, conn: _Connection) -> None:
        session = conn.session
        if isinstance(message, Reply) and message.method == ORDER_PLACE_METHOD:
            if self.on_order_reply is not None:
                self.on_order_reply(str(message.response.id), message.response)
        elif isinstance(message, Reply):
            if session.subscription_id is not None and not self.subscribed:
                self.subscribed = True
                self._backoff.reset()
                log.info("user data subscribed subscriptionId=%s", session.subscription_id)
                self.on_subscribed()
            elif not message.response.ok:
                log.error("user data request %s failed: %s", message.method, message.response.error)
                if session.needs_subscribe:     # try again on a new connection, after a backoff
                    conn.abort("subscribe refused")
                    return
        elif isinstance(message, ServerShutdown):
            log.warning("serverShutdown on the WebSocket API: reconnecting now")
            self._backoff.reset()
            conn.abort("serverShutdown")
            return
        elif isinstance(message, Unmatched):
            log.warning("user data: ignored %s", message.why)
        else:
            self.events += 1
            self.on_event(message)
        if session.needs_subscribe:            # first open, a failed subscribe, or terminated
            self.subscribed = False
            conn.send_text(session.subscribe_user_data(self.server_ms()))


class _Connection:
    """Transport protocol of one WebSocket API connection."""

    def __init__(self, stream: UserDataStream, session: WsApiSession) -> None:
        self.stream = stream
        self.session = session
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.transport: Transport | None = None
        self.open = False
        self.ended = False

    def connection_made(self, transport: Transport) -> None:
        self.transport = transport
        s = self.stream
        host = s.host if s.port in (80, 443) else f"{s.host}:{s.port}"
        transport.write(self.ws.send(Request(host=host, target=s.path)))

    def data_received(self, data: bytes) -> None:
        try:
            self.ws.receive_data(data)
            for event in self.ws.events():
                self._on_ws_event(event)
        except RemoteProtocolError as exc:
            self.abort(f"protocol error: {exc}")

    def _on_ws_event(self, event: object) -> None:
        if isinstance(event, AcceptConnection):
            self.open = True
            self.stream.connected = True
            self.send_text(self.session.subscribe_user_data(self.stream.server_ms()))
        elif isinstance(event, TextMessage):
            if event.message_finished:
                self.stream._handle(self.session.receive_text(event.data), self)
        elif isinstance(event, Ping):
            self._write(self.ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            self._write(self.ws.send(event.response()))
            self._end(f"closed by the venue ({event.code})")
        elif isinstance(event, (RejectConnection, RejectData)):
            self.abort(f"handshake rejected with HTTP {getattr(event, 'status_code', '?')}")

    def send_text(self, text: str) -> None:
        self._write(self.ws.send(TextMessage(data=text)))

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.ended:
            self.transport.write(data)

    def connection_lost(self, exc: TransportError | None) -> None:
        if exc is not None:
            log.error("user data connection failed: %s", exc)
        self._end(str(exc) if exc else "connection closed")

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass

    def close(self) -> None:
        if self.open and not self.ended:
            try:
                self._write(self.ws.send(CloseConnection(code=1000, reason="shutdown")))
            except LocalProtocolError:
                pass
        self._end("shutdown")

    def abort(self, why: str) -> None:
        if self.transport is not None and not self.ended:
            self.transport.abort()
        self._end(why)

    def _end(self, why: str) -> None:
        if self.ended:
            return
        self.ended = True
        lost = self.session.connection_lost()
        if lost:
            log.warning("WebSocket API connection ended with %d requests unanswered: %s", len(lost),
                        ", ".join(sorted(set(lost.values()))))
        if self.transport is not None:
            self.transport.close()
        orders = [request_id for request_id, method in lost.items() if method == ORDER_PLACE_METHOD]
        if orders and self.stream.on_orders_lost is not None:
            self.stream.on_orders_lost(orders)
        self.stream._closed(why)

"""Binance user data (and, with ORDER_TRANSPORT=ws_api, order entry) over the WebSocket API,
on the reactor.

One connection to BINANCE_WS_API_URL, a `WebSocketClient` (handshake, control frames, whole
messages however fragmented, size limits, liveness), with `WsApiSession` for the requests and
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

from dmabot.io.backoff import Backoff
from dmabot.io.frames import PayloadSink
from dmabot.io.reactor import NS, Reactor, TimerHandle
from dmabot.io.transport import Address, Connector, client_tls_context, connect, resolve
from dmabot.io.url import parse_target
from dmabot.io.websocket import CloseCause, WebSocketClient, WebSocketSettings
from dmabot.venues.binance.protocol.signing import Credentials
from dmabot.venues.binance.protocol.user_events import ServerShutdown, UserEvent
from dmabot.venues.binance.protocol.wire import ApiError
from dmabot.venues.binance.protocol.ws_api import ORDER_PLACE_METHOD, Reply, Unmatched, WsApiResponse, WsApiSession

log = logging.getLogger("dmabot.user_stream")


class UserDataStream:
    """Delivers the account's user-data events to `on_event`; `on_subscribed` runs after each
    successful (re)subscription. `server_ms` gives the venue's time for signing.

    Orders sent with `send_order` get their reply through `on_order_reply(client id, reply)`,
    or, when the connection ends first, are named in `on_orders_lost(client ids)`: their
    outcome is unknown until looked up. A refused subscription goes to
    `on_subscribe_refused(error)` before it is asked again; the owner may `stop` the stream
    there (credentials the venue refuses never come right by asking again).
    """

    def __init__(self, reactor: Reactor, url: str, credentials: Credentials, server_ms: Callable[[], int],
                 on_event: Callable[[UserEvent], None], on_subscribed: Callable[[], None],
                 ca_file: str | None = None, recv_window_ms: int | None = 5000,
                 backoff_initial_ns: int = NS // 2, backoff_max_ns: int = 30 * NS,
                 on_order_reply: Callable[[str, WsApiResponse], None] | None = None,
                 on_orders_lost: Callable[[list[str]], None] | None = None,
                 on_subscribe_refused: Callable[[ApiError], None] | None = None,
                 websocket: WebSocketSettings | None = None,
                 connect_timeout_ns: int = 10 * NS, connector: Connector = connect,
                 resolver: Callable[[str, int], list[Address]] = resolve) -> None:
        self.reactor = reactor
        self.connector = connector
        self.resolver = resolver
        self.target = parse_target(url, ("ws", "wss"))
        self.credentials = credentials
        self.server_ms = server_ms
        self.on_event = on_event
        self.on_subscribed = on_subscribed
        self.on_order_reply = on_order_reply
        self.on_orders_lost = on_orders_lost
        self.on_subscribe_refused = on_subscribe_refused
        self.recv_window_ms = recv_window_ms
        self.websocket = websocket or WebSocketSettings()
        self.connect_timeout_ns = connect_timeout_ns
        self._tls = client_tls_context(ca_file or None) if self.target.tls else None
        self._backoff = Backoff(backoff_initial_ns, backoff_max_ns)
        self._addresses: list[Address] = []
        self._connection: _Connection | None = None
        self._reconnect_timer: TimerHandle | None = None
        self._stopped = False
        # health, for metrics
        self.connected = False
        self.subscribed = False
        self.reconnects = 0
        self.events = 0
        self.disconnects: dict[str, int] = {}    # CloseCause value -> connections ended so far

    def resolve(self) -> None:
        """Look the host up (may block: call before trading starts)."""
        self._addresses = self.resolver(self.target.host, self.target.port)

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
        if conn is None or not conn.client.open:
            return False
        conn.session.expect_reply(client_id, ORDER_PLACE_METHOD)
        return conn.client.send_frame(frame)

    def _connect(self) -> None:
        address = self._addresses[self._backoff.attempts % len(self._addresses)]
        session = WsApiSession(self.credentials, self.recv_window_ms)
        self._connection = _Connection(self, session)
        self.connector(self.reactor, address, self._connection.client, tls=self._tls,
                       timeout_ns=self.connect_timeout_ns)

    def _closed(self, cause: CloseCause, detail: str) -> None:
        """Count the end, log it once, reconnect after a backoff."""
        self.disconnects[cause.value] = self.disconnects.get(cause.value, 0) + 1
        self.connected = self.subscribed = False
        self._connection = None
        if self._stopped:
            return
        delay = self._backoff.next_delay()
        log.warning("user data stream down reason=%s detail=%s url=%s reconnect_in_s=%.2f",
                    cause.value, detail, self.target.url, delay / NS)
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
            elif message.response.error is not None:
                error = message.response.error
                if session.needs_subscribe and self.on_subscribe_refused is not None:
                    self.on_subscribe_refused(error)        # refused credentials stop the stream
                if self._stopped:
                    return                                  # and its owner says why
                log.error("user data request %s failed: code=%d msg=%s", message.method, error.code, error.msg)
                if session.needs_subscribe:     # try again on a new connection, after a backoff
                    conn.client.abort(CloseCause.LOCAL, "subscribe refused")
                    return
        elif isinstance(message, ServerShutdown):
            log.warning("serverShutdown on the WebSocket API: reconnecting now")
            self._backoff.reset()
            conn.client.abort(CloseCause.LOCAL, "serverShutdown")
            return
        elif isinstance(message, Unmatched):
            log.warning("user data: ignored %s", message.why)
        else:
            self.events += 1
            self.on_event(message)
        if session.needs_subscribe:            # first open, a failed subscribe, or terminated
            self.subscribed = False
            conn.client.send_text(session.subscribe_user_data(self.server_ms()))


class _Connection:
    """One WebSocket API connection: its client and its request session (WebSocketOwner)."""

    def __init__(self, stream: UserDataStream, session: WsApiSession) -> None:
        self.stream = stream
        self.session = session
        # The base sink passes every message on: each arrives whole in ws_message.
        self.client = WebSocketClient(stream.reactor, stream.target, self, PayloadSink(),
                                      stream.websocket)

    def send_text(self, text: str) -> None:
        self.client.send_text(text)

    def close(self) -> None:
        self.client.close(1000, "shutdown")

    def ws_open(self, client: WebSocketClient) -> None:
        self.stream.connected = True
        client.send_text(self.session.subscribe_user_data(self.stream.server_ms()))

    def ws_message(self, client: WebSocketClient, payload: bytes) -> None:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:      # a binary message: text frames are checked already
            log.warning("user data: ignored a binary message of %d bytes", len(payload))
            return
        self.stream._handle(self.session.receive_text(text), self)

    def ws_read(self, client: WebSocketClient, nbytes: int) -> None:
        pass

    def ws_closed(self, client: WebSocketClient, cause: CloseCause, detail: str) -> None:
        lost = self.session.connection_lost()
        if lost:
            log.warning("WebSocket API connection ended with %d requests unanswered: %s", len(lost),
                        ", ".join(sorted(set(lost.values()))))
        orders = [request_id for request_id, method in lost.items() if method == ORDER_PLACE_METHOD]
        if orders and self.stream.on_orders_lost is not None:
            self.stream.on_orders_lost(orders)
        self.stream._closed(cause, detail)

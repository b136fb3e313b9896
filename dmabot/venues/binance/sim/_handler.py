"""The I/O side of one accepted connection: transport callbacks, timers and logging around
a sans-IO `SimProtocol`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from dmabot.io.reactor import TimerHandle
from dmabot.io.transport import Transport, TransportError
from dmabot.venues.binance.sim._protocol import MALFORMED_FRAME, ConnectionMode, SimProtocol
from dmabot.venues.binance.sim._streams import StreamSession
from dmabot.venues.binance.sim._ws_api import WsApiClientSession

if TYPE_CHECKING:
    from dmabot.venues.binance.sim._simulator import Simulator

log = logging.getLogger("dmabot.sim")

# how long a close handshake we started may take before the socket is cut
CLOSE_TIMEOUT_NS = 5_000_000_000
# a bookTicker cut in half: valid UTF-8 and a valid frame, but not JSON
MALFORMED_PAYLOAD = '{"u":400900217,"s":"BNBUSDT","b":"25.3519'


class ClientHandler:
    def __init__(self, sim: Simulator) -> None:
        self._sim = sim
        self._protocol = SimProtocol(sim.app)
        self.transport: Transport | None = None  # set by connection_made
        self._writable = True
        self._logged_open = False
        self._streams: StreamSession | None = None  # set once upgraded to a stream connection
        self._ping_timer: TimerHandle | None = None
        self._close_deadline: TimerHandle | None = None
        self._pings_sent = 0
        self._delayed: dict[int, TimerHandle] = {}  # replies a delay fault holds back
        self._delayed_count = 0

    @property
    def mode(self) -> ConnectionMode:
        return self._protocol.mode

    # -- transport callbacks -----------------------------------------------------------
    def connection_made(self, transport: Transport) -> None:
        self.transport = transport
        self._sim.connections.add(self)

    def data_received(self, data: bytes) -> None:
        was_http = self._protocol.mode is ConnectionMode.HTTP
        try:
            self.write(self._protocol.receive_data(data, self._sim.now_ms()))
        except Exception:  # a bug here must cost one connection, not the whole simulator
            log.exception("conn peer=%s path=%s: internal error; dropping it", self.peer, self._protocol.target)
            self.drop()
            return
        if not self._logged_open and self._protocol.target is not None:
            self._logged_open = True
            log.info("conn open peer=%s path=%s", self.peer, self._protocol.target)
        if was_http and self._protocol.mode is not ConnectionMode.HTTP:
            self._on_websocket_open()
        elif self._streams is not None:
            self._sim.feed.kick()  # a SUBSCRIBE may have made us want data
        # a pipelined request behind a delayed reply is answered first: fine for a fault
        for delay_s, reply in self._protocol.delayed:
            self._delayed_count += 1
            key = self._delayed_count
            self._delayed[key] = self._sim.reactor.call_later(round(delay_s * 1e9), self._send_delayed, key, reply)
        self._protocol.delayed.clear()
        if self._protocol.closing and not self._delayed:
            self._close_transport()

    def _send_delayed(self, key: int, reply: bytes) -> None:
        del self._delayed[key]
        self.write(reply)
        if self._protocol.closing and not self._delayed:
            self._close_transport()

    def connection_lost(self, exc: TransportError | None) -> None:
        self._sim.connections.discard(self)
        if isinstance(self._protocol.session, WsApiClientSession):
            self._protocol.session.close()  # its user-data subscriptions end with it
            self._protocol.session.push = None
        for timer in (self._ping_timer, self._close_deadline, *self._delayed.values()):
            if timer is not None:
                timer.cancel()
        self._delayed.clear()
        if self.transport is None:  # the TLS handshake failed; exc names the peer
            log.info("conn failed: %s", exc)
            return
        log.info(
            "conn closed peer=%s path=%s requests=%d reason=%s",
            self.peer,
            self._protocol.target,
            self._protocol.requests,
            exc or "closed",
        )

    def pause_writing(self) -> None:
        self._writable = False

    def resume_writing(self) -> None:
        self._writable = True
        self._sim.feed.kick()

    # -- feed ----------------------------------------------------------------------------
    @property
    def wants_data(self) -> bool:
        return self._writable and self._streams is not None and bool(self._streams.subscriptions)

    def takes(self, stream: str) -> bool:
        """Subscribed to `stream` and not held back by a full write buffer."""
        return self._writable and self._streams is not None and stream in self._streams.subscriptions

    def publish(self, stream: str, payload: str) -> None:
        self.write(self.encode(stream, payload))

    def encode(self, stream: str, payload: str) -> bytes:
        """The bytes that publish `payload` of `stream` here; empty when this connection takes none.

        Apart from `write` so the tick-to-trade probe can start its clock between the two.
        """
        if not self._writable or self._streams is None:
            return b""
        frame = self._streams.frame(stream, payload)
        return self._protocol.send_text(frame) if frame is not None else b""

    def write(self, data: bytes) -> None:
        if data and self.transport is not None:
            self.transport.write(data)

    # -- faults and liveness -------------------------------------------------------------
    def drop(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def send_malformed_frame(self) -> None:
        if self._protocol.is_open_websocket:
            self.write(MALFORMED_FRAME)

    def send_malformed_payload(self) -> None:
        self.write(self._protocol.send_text(MALFORMED_PAYLOAD))

    def send_server_shutdown(self) -> None:
        session = self._protocol.session
        if isinstance(session, StreamSession):
            self.write(self._protocol.send_text(session.server_shutdown(self._sim.now_ms())))

    def ping(self) -> None:
        self._pings_sent += 1
        self.write(self._protocol.ping(b"%d" % self._pings_sent, self._sim.reactor.now()))

    def close(self, code: int, reason: str = "") -> None:
        """Start a WebSocket close handshake; cut the socket if the peer does not answer."""
        self.write(self._protocol.close(code, reason))
        if self._close_deadline is None:
            self._close_deadline = self._sim.reactor.call_later(CLOSE_TIMEOUT_NS, self.drop)

    # -- internals -------------------------------------------------------------------------
    @property
    def peer(self) -> str:
        return self.transport.peer if self.transport is not None else "?"

    @property
    def has_user_stream(self) -> bool:
        session = self._protocol.session
        return isinstance(session, WsApiClientSession) and bool(session.subscriptions)

    def _on_websocket_open(self) -> None:
        self._schedule_ping()
        session = self._protocol.session
        if isinstance(session, StreamSession):
            self._streams = session
            self._sim.feed.kick()
        elif isinstance(session, WsApiClientSession):
            session.push = self._push_text

    def _push_text(self, text: str) -> None:
        self.write(self._protocol.send_text(text))

    def _schedule_ping(self) -> None:
        self._ping_timer = self._sim.reactor.call_later(self._sim.config.ping_interval_ns, self._on_ping_timer)

    def _on_ping_timer(self) -> None:
        since = self._protocol.unanswered_ping_since
        if since is not None and self._sim.reactor.now() - since >= self._sim.config.pong_timeout_ns:
            log.info("conn peer=%s sent no pong in time; dropping it", self.peer)
            self.drop()
            return
        self.ping()
        self._schedule_ping()

    def _close_transport(self) -> None:
        if self.transport is not None:
            self.transport.close()

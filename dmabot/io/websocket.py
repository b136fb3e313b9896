"""The one WebSocket client: a transport protocol for both the market feed and the WebSocket
API connection.

It owns everything one connection needs to survive a hostile server:

- the opening handshake (wsproto), bounded in time by `handshake_timeout_ns` (a server that
  accepts TCP and never answers, or drips its headers, is dropped) and in size by h11's limit
  on an incomplete HTTP message; a malformed reply (a bad Sec-WebSocket-Accept, no Upgrade, an
  extension we did not ask for, bytes that are no HTTP) is a close with a cause, never an
  exception out of the reactor;
- after it, a `StreamReader`: data frames walked in Cython into the `PayloadSink`, the rest to
  wsproto (pings answered, fragmented messages reassembled, the closing handshake), a frame or
  message over the size limits closed with 1009;
- a liveness watchdog: no byte at all (no ping, no data) for `liveness_timeout_ns` and the
  connection is dropped (Binance pings every 20 s on both the market streams and the
  WebSocket API).

The owner learns of each connection's end exactly once, through `ws_closed(client, cause,
detail)`, and decides about reconnecting; `cause` is one of `CloseCause`, for counting. On
close the client cancels its timers and lets go of its transport, so a closed connection is
freed by reference counting alone (no cycle waits for the collector).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from dmabot.io.frames import PayloadSink
from dmabot.io.reactor import NS, Reactor, TimerHandle
from dmabot.io.transport import Transport, TransportError
from dmabot.io.url import Target
from dmabot.io.ws_reader import (
    DEFAULT_MAX_FRAME_BYTES,
    DEFAULT_MAX_MESSAGE_BYTES,
    StreamEventKind,
    StreamReader,
)


class CloseCause(enum.Enum):
    """Why a connection ended, as counted by its owner."""

    CONNECT_FAILED = "connect_failed"          # TCP or TLS did not come up
    HANDSHAKE_TIMEOUT = "handshake_timeout"    # no complete 101 in time
    HANDSHAKE_FAILED = "handshake_failed"      # a reply that is no valid WebSocket upgrade
    HANDSHAKE_REJECTED = "handshake_rejected"  # a well-formed HTTP answer other than 101
    TOO_BIG = "too_big"                        # a frame or message over the limits (1009)
    PROTOCOL_ERROR = "protocol_error"          # any other RFC 6455 violation by the server
    SILENT = "silent"                          # no ping and no data for the liveness timeout
    CLOSED_BY_PEER = "closed_by_peer"          # the server's close frame
    CONNECTION_LOST = "connection_lost"        # the socket ended without a closing handshake
    LOCAL = "local"                            # the owner closed it (shutdown, stale, ...)


@dataclass(frozen=True)
class WebSocketSettings:
    handshake_timeout_ns: int = 10 * NS
    # Three of Binance's 20 s ping intervals without a byte: the server is gone.
    liveness_timeout_ns: int = 60 * NS
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES


class WebSocketOwner(Protocol):
    def ws_open(self, client: WebSocketClient) -> None:
        """The handshake completed; `client.send_text` works from now on."""

    def ws_message(self, client: WebSocketClient, payload: bytes) -> None:
        """A whole message the sink passed on (UTF-8 for a text message)."""

    def ws_read(self, client: WebSocketClient, nbytes: int) -> None:
        """After the frames of one socket read (`nbytes` of plaintext) were dealt with: what
        the sink took, and `ws_message` for each message it passed on."""

    def ws_closed(self, client: WebSocketClient, cause: CloseCause, detail: str) -> None:
        """The connection ended (once, and never from inside a call of the owner's)."""


class WebSocketClient:
    """Transport protocol of one client WebSocket to `target`; see the module docstring."""

    def __init__(self, reactor: Reactor, target: Target, owner: WebSocketOwner,
                 sink: PayloadSink, settings: WebSocketSettings = WebSocketSettings()) -> None:
        self.reactor = reactor
        self.target = target
        self.settings = settings
        self.sink = sink
        self._owner: WebSocketOwner | None = owner
        self._transport: Transport | None = None
        self._handshake: WSConnection | None = WSConnection(ConnectionType.CLIENT)
        self._reader: StreamReader | None = None
        self._timer: TimerHandle | None = None
        self.opened_ns = 0
        self.last_heard_ns = 0
        self.closed = False

    @property
    def transport(self) -> Transport | None:
        """The connection's transport; None before it is made and once closed."""
        return self._transport

    @property
    def open(self) -> bool:
        """The handshake is done and the connection not yet closed: sending works."""
        return self._reader is not None and not self.closed

    # -- transport protocol ----------------------------------------------------------------
    def connection_made(self, transport: Transport) -> None:
        if self.closed:         # closed by the owner while connecting
            transport.abort()
            return
        assert self._handshake is not None
        self._transport = transport
        self._timer = self.reactor.call_later(self.settings.handshake_timeout_ns,
                                              self._handshake_timed_out)
        target = self.target
        transport.write(self._handshake.send(Request(host=target.host_header, target=target.target)))

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if self._reader is None:
            self._receive_handshake(data)
            return
        self._receive_frames(data)

    def connection_lost(self, exc: TransportError | None) -> None:
        if self.closed:
            return
        if self._transport is None:
            self._end(CloseCause.CONNECT_FAILED, str(exc) if exc else "connection closed")
        elif exc is not None:
            self._end(CloseCause.CONNECTION_LOST, str(exc))
        else:
            self._end(CloseCause.CONNECTION_LOST, "closed by the server without a close frame")

    def pause_writing(self) -> None:
        pass        # a client writes a few requests; the transport buffers them

    def resume_writing(self) -> None:
        pass

    # -- sending -----------------------------------------------------------------------------
    def send_text(self, text: str) -> None:
        """One text message (after `ws_open`; dropped once closed)."""
        if self._reader is not None and self._transport is not None and not self.closed:
            self._transport.write(self._reader.send(TextMessage(data=text)))

    def send_frame(self, frame: bytes) -> bool:
        """Bytes of whole, masked client frames built elsewhere (an order in Cython); False,
        with nothing written, unless open."""
        if self._reader is None or self._transport is None or self.closed:
            return False
        self._transport.write(frame)
        return True

    # -- closing ---------------------------------------------------------------------------
    def close(self, code: int, reason: str) -> None:
        """Our closing handshake, then the socket; the owner hears `ws_closed(LOCAL)`."""
        if self.closed:
            return
        if self._reader is not None and self._transport is not None:
            try:
                self._transport.write(self._reader.send(CloseConnection(code=code, reason=reason)))
            except LocalProtocolError:   # already closing: the socket closes anyway
                pass
        self._end(CloseCause.LOCAL, reason)

    def abort(self, cause: CloseCause, detail: str) -> None:
        """Drop the connection now, unsent bytes and all."""
        self._end(cause, detail, graceful=False)

    def _end(self, cause: CloseCause, detail: str, graceful: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        transport, self._transport = self._transport, None
        if transport is not None:
            if graceful:
                transport.close()
            else:
                transport.abort()
        self._handshake = None
        owner, self._owner = self._owner, None
        if owner is not None:
            owner.ws_closed(self, cause, detail)

    # -- the handshake -----------------------------------------------------------------------
    def _receive_handshake(self, data: bytes) -> None:
        ws = self._handshake
        assert ws is not None
        try:
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, AcceptConnection):
                    self._opened(ws)
                    return
                if isinstance(event, RejectConnection):
                    self.abort(CloseCause.HANDSHAKE_REJECTED,
                               f"handshake rejected with HTTP {event.status_code}")
                    return
                if isinstance(event, RejectData):   # pragma: no cover - comes after RejectConnection
                    return
        except (RemoteProtocolError, h11.ProtocolError) as exc:
            self.abort(CloseCause.HANDSHAKE_FAILED, f"bad handshake reply: {exc}")

    def _handshake_timed_out(self) -> None:
        self._timer = None
        self.abort(CloseCause.HANDSHAKE_TIMEOUT, f"no handshake reply within "
                   f"{self.settings.handshake_timeout_ns / NS:g} s")

    def _opened(self, ws: WSConnection) -> None:
        settings = self.settings
        self._reader = StreamReader.after_handshake(ws, self.sink, settings.max_frame_bytes,
                                                    settings.max_message_bytes)
        self._handshake = None
        if self._timer is not None:
            self._timer.cancel()
        now = self.reactor.now()
        self.opened_ns = self.last_heard_ns = now
        self._timer = self.reactor.call_later(settings.liveness_timeout_ns // 4, self._watch)
        assert self._owner is not None
        self._owner.ws_open(self)
        if not self.closed:
            self._receive_frames(b"")       # frames that came with the 101 response

    # -- open --------------------------------------------------------------------------------
    def _receive_frames(self, data: bytes) -> None:
        reader, owner = self._reader, self._owner
        assert reader is not None and owner is not None
        now = self.reactor.now()
        if data:
            self.last_heard_ns = now
        for event in reader.receive_data(data, now):
            if event.to_send and self._transport is not None:
                self._transport.write(event.to_send)
            kind = event.kind
            if kind is StreamEventKind.MESSAGE:
                owner.ws_message(self, event.data)
            elif kind is StreamEventKind.CLOSE:
                self._end(CloseCause.CLOSED_BY_PEER,
                          f"closed by the server code={event.code} reason={event.reason!r}")
            elif kind is StreamEventKind.PROTOCOL_ERROR:
                cause = CloseCause.TOO_BIG if event.code == 1009 else CloseCause.PROTOCOL_ERROR
                self._end(cause, f"protocol error code={event.code} reason={event.reason!r}")
            if self.closed:
                break
        owner.ws_read(self, len(data))

    def _watch(self) -> None:
        self._timer = None
        if self.closed:
            return
        silent_ns = self.reactor.now() - self.last_heard_ns
        timeout = self.settings.liveness_timeout_ns
        if silent_ns > timeout:
            self.abort(CloseCause.SILENT, f"no ping and no data for {silent_ns / NS:.1f} s")
            return
        self._timer = self.reactor.call_later(timeout // 4, self._watch)

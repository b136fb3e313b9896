"""Sans-IO reader of a client WebSocket after the opening handshake.

Plain data frames (final, unmasked, no RSV bits, text or binary) are walked in Cython and their
payloads handed in place to a `PayloadSink` (a venue's decoder pushing ticks into its ring; the
base sink passes every message on). Every other frame goes, whole, to a wsproto `Connection`,
which answers pings, runs the closing handshake, reassembles fragmented messages and turns
protocol violations into a CloseConnection; messages it reassembles go to the same sink. The
two never disagree because wsproto only ever sees whole frames at a frame and message
boundary, the one state in which the fast path is allowed to run.

Sizes are bounded against a hostile server: a frame declaring more than `max_frame_bytes` of
payload, or a fragmented message growing past `max_message_bytes`, is a protocol error (close
code 1009, MESSAGE_TOO_BIG) before any of it is buffered, so the reader holds at most one
frame's worth of bytes.
"""
from __future__ import annotations

import enum
from typing import TYPE_CHECKING, NamedTuple

from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Ping, Pong, TextMessage
from wsproto.frame_protocol import CloseReason

from dmabot.io.frames import FrameStop, PayloadSink, SinkStatus, read_frames

if TYPE_CHECKING:
    from wsproto import WSConnection

# Defaults for the bounds above: far above any Binance message (a bookTicker is ~150 bytes,
# a WebSocket API reply a few KiB), far below what would hurt the process.
DEFAULT_MAX_FRAME_BYTES = 1 << 20
DEFAULT_MAX_MESSAGE_BYTES = 4 << 20

# Frames wsproto must see, whole, before the fast path may go on.
_WSPROTO_FRAMES = frozenset((FrameStop.CONTROL, FrameStop.FRAGMENT, FrameStop.INVALID_UTF8))


class StreamEventKind(enum.IntEnum):
    MESSAGE = 1          # valid JSON but no bookTicker: a reply, an error, serverShutdown
    PING = 2             # already answered: the pong is in `to_send`
    PONG = 3
    CLOSE = 4            # the server closed; our reply is in `to_send`, then close the socket
    PROTOCOL_ERROR = 5   # the server broke RFC 6455; a close frame is in `to_send`; drop the socket
    CONNECTION_LOST = 6  # the transport ended without a closing handshake (code 1006)


class StreamEvent(NamedTuple):
    """Something other than a tick that the driver must see or act on."""

    kind: StreamEventKind
    data: bytes = b""       # MESSAGE payload; PING/PONG payload
    code: int = 0           # CLOSE, PROTOCOL_ERROR, CONNECTION_LOST: the close code
    reason: str = ""
    to_send: bytes = b""    # write these bytes to the socket


class StreamReader:
    """Client side of an open WebSocket.

    `receive_data(data, ts)` hands every whole data message in `data` to `sink` (stamped `ts`)
    and returns the StreamEvents for everything else: a MESSAGE for each payload the sink
    passed on. Payload problems are the sink's to count, not raised. After CLOSE,
    PROTOCOL_ERROR or CONNECTION_LOST further bytes are ignored. No extension
    (permessage-deflate) may be negotiated: RSV bits are a protocol error here.
    """

    def __init__(self, sink: PayloadSink, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.sink = sink
        self.max_frame_bytes = max_frame_bytes
        self.max_message_bytes = max_message_bytes
        self._connection = Connection(ConnectionType.CLIENT)
        self._pending = bytearray()       # bytes after the last whole frame dealt with
        self._message_open = False        # wsproto holds part of a fragmented message
        self._message_parts: list[bytes | bytearray] = []   # of the message wsproto reassembles
        self._message_size = 0
        self._finished = False

    @classmethod
    def after_handshake(cls, ws: WSConnection, sink: PayloadSink,
                        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> StreamReader:
        """Take over a client WSConnection right when it yields AcceptConnection.

        wsproto hands the bytes that arrived with the 101 response to its frame parser; they
        are taken back (the one place this module reads wsproto internals) and wait in the
        reader: call `receive_data(b"", now)` to decode them. From then on feed the socket's
        bytes to the reader only.
        """
        connection = ws.connection
        if connection is None or connection.state is not ConnectionState.OPEN:
            raise ValueError("the opening handshake has not completed")
        frame_protocol = connection._proto
        frame_decoder = frame_protocol._frame_decoder
        if frame_protocol.extensions:
            raise ValueError("WebSocket extensions were negotiated; StreamReader speaks plain "
                             "RFC 6455 only")
        if (frame_decoder.header is not None or frame_decoder.buffer.bytes_used
                or frame_protocol._message_decoder.opcode is not None):
            raise ValueError("wsproto has already parsed frames of this connection")
        reader = cls(sink, max_frame_bytes, max_message_bytes)
        reader._connection = connection
        reader._pending += frame_decoder.buffer.buffer
        del frame_decoder.buffer.buffer[:]
        return reader

    @property
    def state(self) -> ConnectionState:
        """wsproto's view of the connection (OPEN, LOCAL_CLOSING, REMOTE_CLOSING, CLOSED)."""
        return self._connection.state

    def send(self, event: Event) -> bytes:
        """Bytes for an outgoing wsproto event: a TextMessage (SUBSCRIBE), Ping or
        CloseConnection."""
        return self._connection.send(event)

    def receive_data(self, data: bytes | bytearray | memoryview | None,
                     ts: int) -> list[StreamEvent]:
        """Process bytes from the socket (None: the transport closed). Payloads go to the sink."""
        if self._finished:
            return []
        if data is None:
            self._finished = True
            self._connection.receive_data(None)
            return [StreamEvent(StreamEventKind.CONNECTION_LOST,
                                code=CloseReason.ABNORMAL_CLOSURE)]
        buffer: bytes | bytearray | memoryview
        if self._pending:
            self._pending += data
            buffer = self._pending
        else:
            buffer = data
        events: list[StreamEvent] = []
        n = len(buffer)
        position = 0
        sink, max_frame = self.sink, self.max_frame_bytes
        while position < n and not self._finished:
            stop, position, frame_end, payload_start = read_frames(
                buffer, sink, ts, position, self._message_open, max_frame)
            if stop is FrameStop.MESSAGE:
                events.append(StreamEvent(StreamEventKind.MESSAGE,
                                          bytes(buffer[payload_start:position])))
                continue
            if stop is FrameStop.END or stop is FrameStop.INCOMPLETE:
                break
            if stop is FrameStop.TOO_BIG:
                events.append(self._too_big(f"a frame of more than {max_frame} bytes"))
                break
            if stop in _WSPROTO_FRAMES:
                if frame_end > n:
                    break
                frame = bytes(buffer[position:frame_end])
                position = frame_end
            else:
                # A protocol error: wsproto fails on this frame's header; what follows is moot.
                frame = bytes(buffer[position:])
                position = n
            self._connection.receive_data(frame)
            self._wsproto_events(ts, events)
        if self._finished:
            del self._pending[:]
        elif buffer is self._pending:
            del self._pending[:position]
        else:
            self._pending += buffer[position:]
        return events

    def _wsproto_events(self, ts: int, events: list[StreamEvent]) -> None:
        connection = self._connection
        for event in connection.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                # wsproto has decoded text frame by frame, whole characters only.
                part = event.data.encode("utf-8") if isinstance(event, TextMessage) else event.data
                self._message_size += len(part)
                if self._message_size > self.max_message_bytes:
                    events.append(self._too_big(f"a message of more than {self.max_message_bytes}"
                                                f" bytes"))
                    return
                self._message_parts.append(part)
                self._message_open = not event.message_finished
                if event.message_finished:
                    payload = b"".join(self._message_parts)
                    self._message_parts.clear()
                    self._message_size = 0
                    if self.sink.take_payload(payload, ts) is SinkStatus.PASSED:
                        events.append(StreamEvent(StreamEventKind.MESSAGE, payload))
            elif isinstance(event, Ping):
                events.append(StreamEvent(StreamEventKind.PING, bytes(event.payload),
                                          to_send=connection.send(event.response())))
            elif isinstance(event, Pong):
                events.append(StreamEvent(StreamEventKind.PONG, bytes(event.payload)))
            elif isinstance(event, CloseConnection):
                self._finished = True
                events.append(self._close_event(event))

    def _too_big(self, what: str) -> StreamEvent:
        """Refuse what would have to be buffered whole: close with 1009, stop reading."""
        self._finished = True
        self._message_parts.clear()
        reason = f"{what} received"
        to_send = b""
        if self._connection.state is ConnectionState.OPEN:
            to_send = self._connection.send(CloseConnection(CloseReason.MESSAGE_TOO_BIG, reason))
        return StreamEvent(StreamEventKind.PROTOCOL_ERROR, code=CloseReason.MESSAGE_TOO_BIG,
                           reason=reason, to_send=to_send)

    def _close_event(self, event: CloseConnection) -> StreamEvent:
        # A close frame moves wsproto to REMOTE_CLOSING (or CLOSED when it answers ours); a
        # ParseFailed leaves the state alone, and the close frame is ours to send.
        connection = self._connection
        if connection.state is ConnectionState.REMOTE_CLOSING:
            return StreamEvent(StreamEventKind.CLOSE, code=event.code, reason=event.reason or "",
                               to_send=connection.send(event.response()))
        if connection.state is ConnectionState.CLOSED:
            return StreamEvent(StreamEventKind.CLOSE, code=event.code, reason=event.reason or "")
        to_send = b""
        if connection.state is ConnectionState.OPEN:
            to_send = connection.send(CloseConnection(code=event.code, reason=event.reason))
        return StreamEvent(StreamEventKind.PROTOCOL_ERROR, code=event.code,
                           reason=event.reason or "", to_send=to_send)

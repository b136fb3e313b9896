"""Binance bookTicker feed: one WebSocket for all SYMBOLS, reconnecting on its own.

The I/O is the transport's (TCP, TLS over MemoryBIO, on the reactor); the opening
handshake is wsproto's; after it `StreamReader` walks data frames in Cython straight into
the pipeline's ring and hands control frames to wsproto. This module owns the connection's
life: stale-feed detection, capped exponential backoff with jitter, a planned reconnect
before the venue's 24 h cut-off, `serverShutdown`, and the health numbers for metrics.
"""
from __future__ import annotations

import enum
import logging
import random
from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlsplit

import ujson
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import LocalProtocolError

from dmabot.core.pipeline import Pipeline
from dmabot.io.backoff import Backoff
from dmabot.io.reactor import Reactor, TimerHandle
from dmabot.io.transport import Address, Transport, TransportError, client_tls_context, connect, resolve
from dmabot.io.ws_reader import StreamEvent, StreamEventKind, StreamReader
from dmabot.venues.binance.fast.bookticker import BookTickerDecoder, DecodeResult

log = logging.getLogger("dmabot.feed.binance")

NS = 1_000_000_000
# Good reasons a payload is dropped; everything else in DecodeResult is a bad message.
_NOT_BAD = (DecodeResult.OK.name, DecodeResult.NOT_BOOK_TICKER.name)
# One log line per bad-message reason per this many seconds; the counters see every one.
BAD_LOG_INTERVAL_NS = 10 * NS


class StreamForm(enum.Enum):
    COMBINED = "combined"      # /stream?streams=a@bookTicker/b@bookTicker, frames wrapped
    RAW = "raw"                # /ws/a@bookTicker, the others added with SUBSCRIBE


class FeedState(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"  # TCP, TLS and the WebSocket handshake
    STREAMING = "streaming"
    WAITING = "waiting"        # backing off before the next attempt
    STOPPED = "stopped"


@dataclass(frozen=True)
class StreamTarget:
    host: str
    port: int
    tls: bool
    path: str

    @property
    def url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}{self.path}"


def stream_target(ws_url: str, symbols: tuple[str, ...], form: StreamForm) -> StreamTarget:
    """Where to connect for the bookTicker streams of `symbols`.

    `ws_url` is the stream host's base ending in `/ws` (the seed's BINANCE_WS_URL form),
    e.g. `wss://stream.testnet.binance.vision/ws`.
    """
    parts = urlsplit(ws_url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"expected a ws:// or wss:// URL, got {ws_url!r}")
    base = parts.path.rstrip("/")
    if not base.endswith("/ws"):
        raise ValueError(f"expected the stream base ending in /ws, got {ws_url!r}")
    streams = [f"{s.lower()}@bookTicker" for s in symbols]
    if form is StreamForm.COMBINED:
        path = base[:-3] + "/stream?streams=" + "/".join(streams)
    else:
        path = f"{base}/{streams[0]}"
    tls = parts.scheme == "wss"
    return StreamTarget(parts.hostname, parts.port or (443 if tls else 80), tls, path)


@dataclass(frozen=True)
class FeedSettings:
    stale_ns: int = 5 * NS
    backoff_initial_ns: int = NS // 2
    backoff_max_ns: int = 30 * NS
    # Binance cuts a connection at 24 h; roll it ourselves well before, at a time we choose.
    max_lifetime_ns: int = 23 * 3600 * NS + 30 * 60 * NS
    connect_timeout_ns: int = 10 * NS


class BinanceFeed:
    """Streams bookTicker for `symbols` into `pipeline`; `after_data` runs after each read."""

    def __init__(self, reactor: Reactor, pipeline: Pipeline, symbols: tuple[str, ...],
                 target: StreamTarget, form: StreamForm, ca_file: str | None,
                 settings: FeedSettings, after_data: Callable[[], None],
                 rng: random.Random | None = None) -> None:
        self.reactor = reactor
        self.pipeline = pipeline
        self.symbols = symbols
        self.target = target
        self.form = form
        self.settings = settings
        self.after_data = after_data
        self.decoder = BookTickerDecoder(list(symbols))
        self._tls = client_tls_context(ca_file or None) if target.tls else None
        self._backoff = Backoff(settings.backoff_initial_ns, settings.backoff_max_ns, rng)
        self._addresses: list[Address] = []
        self._connection: _StreamConnection | None = None
        self._stale_timer: TimerHandle | None = None
        self._reconnect_timer: TimerHandle | None = None
        self._bad_logged_at: dict[str, int] = {}
        self._bad_seen: dict[str, int] = {}
        self._dropped_seen = 0
        self.state = FeedState.IDLE
        # health, read by the metrics collector
        self.connected = False
        self.reconnects = 0
        self.last_event_ns = 0
        self.bytes_received = 0
        self.stale_disconnects = 0

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        """Resolve the host (may block: done before trading starts) and connect."""
        self._addresses = resolve(self.target.host, self.target.port)
        self._connect()
        self._stale_timer = self.reactor.call_later(self.settings.stale_ns // 2, self._check_stale)

    def stop(self) -> None:
        self.state = FeedState.STOPPED
        for timer in (self._stale_timer, self._reconnect_timer):
            if timer is not None:
                timer.cancel()
        if self._connection is not None:
            self._connection.close(1000, "shutdown")
            self._connection = None
        self.connected = False

    def _connect(self) -> None:
        self.state = FeedState.CONNECTING
        address = self._addresses[self._backoff.attempts % len(self._addresses)]
        self._connection = _StreamConnection(self)
        log.info("connecting url=%s address=%s", self.target.url, address)
        connect(self.reactor, address, self._connection, tls=self._tls,
                timeout_ns=self.settings.connect_timeout_ns)

    def _schedule_reconnect(self, why: str) -> None:
        """After a failure or a close: wait (exponential, capped, with jitter), reconnect."""
        if self.state is FeedState.STOPPED:
            return
        self.connected = False
        self._connection = None
        delay = self._backoff.next_delay()
        self.state = FeedState.WAITING
        log.warning("stream disconnected reason=%s reconnect_in_s=%.2f attempt=%d", why, delay / NS,
                    self._backoff.attempts)
        self._reconnect_timer = self.reactor.call_later(delay, self._reconnect)

    def _reconnect(self) -> None:
        if self.state is not FeedState.WAITING:
            return
        self.reconnects += 1
        self._connect()

    def _check_stale(self) -> None:
        now = self.reactor.now()
        conn = self._connection
        if self.state is FeedState.STREAMING and conn is not None:
            if now - self.last_event_ns > self.settings.stale_ns:
                self.stale_disconnects += 1
                log.warning("stream stale: no message for %.1f s, reconnecting", (now - self.last_event_ns) / NS)
                conn.abort("stale feed")
            elif now - conn.opened_ns > self.settings.max_lifetime_ns:
                log.info("planned reconnect: connection is %.1f h old", (now - conn.opened_ns) / 3600 / NS)
                self._backoff.reset()
                conn.close(1000, "planned reconnect")
        self._stale_timer = self.reactor.call_later(self.settings.stale_ns // 2, self._check_stale)

    # -- callbacks from the connection ---------------------------------------------------
    def _on_open(self, conn: "_StreamConnection") -> None:
        self.state = FeedState.STREAMING
        self.connected = True
        self._backoff.reset()
        self.last_event_ns = self.reactor.now()
        log.info("stream open url=%s symbols=%d", self.target.url, len(self.symbols))
        if self.form is StreamForm.RAW and len(self.symbols) > 1:
            # one SUBSCRIBE for the rest: a single message, well inside 5 messages/s
            params = [f"{s.lower()}@bookTicker" for s in self.symbols[1:]]
            conn.send_text(ujson.dumps({"method": "SUBSCRIBE", "params": params, "id": 1}))

    def _on_data(self, nbytes: int, got_messages: bool) -> None:
        self.bytes_received += nbytes
        if got_messages:      # pings alone do not make a feed alive
            self.last_event_ns = self.reactor.now()
        self.pipeline.drain()
        self._log_bad_messages()
        self.after_data()

    def _on_message(self, payload: bytes) -> None:
        """A whole message that is valid JSON but not a bookTicker."""
        try:
            msg = ujson.loads(payload)
        except ValueError:
            return
        event = msg.get("data", msg) if isinstance(msg, dict) else None
        if isinstance(event, dict) and event.get("e") == "serverShutdown":
            log.warning("serverShutdown from the venue: reconnecting now")
            if self._connection is not None:
                self._backoff.reset()
                self._connection.abort("serverShutdown")
        elif isinstance(msg, dict) and "code" in msg:
            log.error("stream control request failed: %s", payload[:200].decode("utf-8", "replace"))

    def _on_closed(self, why: str) -> None:
        self._schedule_reconnect(why)

    def _log_bad_messages(self) -> None:
        if self.decoder.dropped == self._dropped_seen:     # the usual case, after every read
            return
        self._dropped_seen = self.decoder.dropped
        counts = self.decoder.counters()
        now = self.reactor.now()
        for result, count in counts.items():
            if result in _NOT_BAD or count == self._bad_seen.get(result, 0):
                continue
            new = count - self._bad_seen.get(result, 0)
            self._bad_seen[result] = count
            if now - self._bad_logged_at.get(result, -BAD_LOG_INTERVAL_NS) >= BAD_LOG_INTERVAL_NS:
                self._bad_logged_at[result] = now
                log.warning("bad market data dropped reason=%s new=%d total=%d url=%s",
                            result.lower(), new, count, self.target.url)

    @property
    def messages(self) -> int:
        """Messages decoded: ticks, bad ones and control replies."""
        return sum(self.decoder.counters().values())

    def bad_message_counts(self) -> dict[str, int]:
        return {r.lower(): n for r, n in self.decoder.counters().items() if r not in _NOT_BAD}


class _StreamConnection:
    """One WebSocket connection's protocol object (transport callbacks)."""

    def __init__(self, feed: BinanceFeed) -> None:
        self.feed = feed
        self.transport: Transport | None = None
        self.ws: WSConnection | None = WSConnection(ConnectionType.CLIENT)
        self.reader: StreamReader | None = None
        self.opened_ns = 0
        self.closed = False

    # transport protocol
    def connection_made(self, transport: Transport) -> None:
        self.transport = transport
        target = self.feed.target
        assert self.ws is not None
        host = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
        transport.write(self.ws.send(Request(host=host, target=target.path)))

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        if self.reader is None:
            self._handshake(data)
            return
        ring = self.feed.pipeline.ring
        pushed = ring.pushed
        got_messages = False
        for event in self.reader.receive_data(data, self.feed.reactor.now()):
            got_messages |= event.kind is StreamEventKind.MESSAGE
            self._on_event(event)
        self.feed._on_data(len(data), got_messages or ring.pushed != pushed)

    def connection_lost(self, exc: TransportError | None) -> None:
        if self.closed:
            return
        self.closed = True
        if exc is not None:
            log.error("stream connection failed: %s", exc)
        self.feed._on_closed(str(exc) if exc else "connection closed")

    def pause_writing(self) -> None:
        pass        # we send a few control frames only

    def resume_writing(self) -> None:
        pass

    # WebSocket
    def _handshake(self, data: bytes) -> None:
        assert self.ws is not None
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.reader = StreamReader.after_handshake(self.ws, self.feed.decoder, self.feed.pipeline.ring)
                self.ws = None
                self.opened_ns = self.feed.reactor.now()
                self.feed._on_open(self)
                self.data_received(b"")       # frames that came with the 101 response
                return
            if isinstance(event, (RejectConnection, RejectData)):
                status = getattr(event, "status_code", "?")
                self.abort(f"handshake rejected with HTTP {status}")
                return

    def _on_event(self, event: StreamEvent) -> None:
        if event.to_send and self.transport is not None:
            self.transport.write(event.to_send)
        kind = event.kind
        if kind is StreamEventKind.MESSAGE:
            self.feed._on_message(event.data)
        elif kind is StreamEventKind.CLOSE:
            log.warning("stream closed by the venue code=%d reason=%s", event.code, event.reason)
            self._end(f"closed by venue ({event.code})")
        elif kind is StreamEventKind.PROTOCOL_ERROR:
            log.error("stream protocol error code=%d reason=%s", event.code, event.reason)
            self._end(f"protocol error ({event.reason})")

    def send_text(self, text: str) -> None:
        if self.reader is not None and self.transport is not None:
            self.transport.write(self.reader.send(TextMessage(data=text)))

    def close(self, code: int, reason: str) -> None:
        """Close handshake from our side, then the socket."""
        if self.closed:
            return
        if self.reader is not None and self.transport is not None:
            try:
                self.transport.write(self.reader.send(CloseConnection(code=code, reason=reason)))
            except LocalProtocolError:   # already closing: the socket closes anyway
                pass
        self._end(reason)

    def abort(self, why: str) -> None:
        if self.closed:
            return
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        self.feed._on_closed(why)

    def _end(self, why: str) -> None:
        if self.closed:
            return
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        self.feed._on_closed(why)

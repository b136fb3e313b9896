"""Binance bookTicker feed: one WebSocket for all SYMBOLS, reconnecting on its own.

The connection is `WebSocketClient`'s (handshake, frames walked in Cython straight into the
pipeline's ring through the decoder as its PayloadSink, control frames, size limits, liveness);
this module owns the feed's life on top: stale-feed detection (no tick for WS_STALE_S: pings,
control replies and other valid JSON do not count, so a stream without market data is left and
reconnected), the decoder's stale filter started afresh on every connection (its first tick of
each symbol is a snapshot, whatever ids came before), capped exponential backoff with jitter, a
planned reconnect before the venue's 24 h cut-off, `serverShutdown`, what is not market data
counted by kind and logged rate-limited, and the health numbers for metrics.
"""
from __future__ import annotations

import enum
import logging
import random
from dataclasses import dataclass, field
from typing import Callable

import ujson

from dmabot.core.pipeline import Pipeline
from dmabot.io.backoff import Backoff
from dmabot.io.reactor import NS, Reactor, TimerHandle
from dmabot.io.transport import Address, client_tls_context, connect, resolve
from dmabot.io.url import Target, parse_target
from dmabot.io.websocket import CloseCause, WebSocketClient, WebSocketSettings
from dmabot.venues.binance.fast.bookticker import BookTickerDecoder, DecodeResult

log = logging.getLogger("dmabot.feed.binance")

# Good reasons a payload is dropped; everything else in DecodeResult is a bad message.
_NOT_BAD = (DecodeResult.OK.name, DecodeResult.NOT_BOOK_TICKER.name)
# One log line per kind (bad-message reason, non-market message kind) per this many seconds;
# the counters see every one.
LOG_INTERVAL_NS = 10 * NS


class LogLimiter:
    """Decides when a counted kind of event gets a log line: the first at once, then at most
    one per `interval_ns`, each carrying the events since the line before."""

    def __init__(self, interval_ns: int) -> None:
        self.interval_ns = interval_ns
        self._logged_at: dict[str, int] = {}
        self._unlogged: dict[str, int] = {}

    def add(self, kind: str, new: int, now: int) -> int:
        """Count `new` events of `kind`; the number to report if a line is due now, else 0."""
        pending = self._unlogged.get(kind, 0) + new
        if now - self._logged_at.get(kind, -self.interval_ns) >= self.interval_ns:
            self._logged_at[kind] = now
            self._unlogged[kind] = 0
            return pending
        self._unlogged[kind] = pending
        return 0


# A failed control request is an error; a control request's answer is expected.
_NON_MARKET_LEVEL = {"error_reply": logging.ERROR, "reply": logging.INFO}


def non_market_kind(msg: object) -> str:
    """What a valid JSON message that is no bookTicker is, for counting and logging."""
    event = msg.get("data", msg) if isinstance(msg, dict) else None
    if isinstance(event, dict) and event.get("e") == "serverShutdown":
        return "server_shutdown"
    if isinstance(msg, dict) and "code" in msg:
        return "error_reply"            # a control request failed
    if isinstance(msg, dict) and "id" in msg and "result" in msg:
        return "reply"                  # a control request's answer
    if isinstance(event, dict) and "e" in event:
        return "event"                  # another stream's event
    return "other"


class StreamForm(enum.Enum):
    COMBINED = "combined"      # /stream?streams=a@bookTicker/b@bookTicker, frames wrapped
    RAW = "raw"                # /ws/a@bookTicker, the others added with SUBSCRIBE


class FeedState(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"  # TCP, TLS and the WebSocket handshake
    STREAMING = "streaming"
    WAITING = "waiting"        # backing off before the next attempt
    STOPPED = "stopped"


def stream_target(ws_url: str, symbols: tuple[str, ...], form: StreamForm) -> Target:
    """Where to connect for the bookTicker streams of `symbols`.

    `ws_url` is the stream host's base ending in `/ws` (the BINANCE_WS_URL form),
    e.g. `wss://stream.testnet.binance.vision/ws`.
    """
    base = parse_target(ws_url, ("ws", "wss"))
    path = base.target.rstrip("/")
    if "?" in path or not path.endswith("/ws"):
        raise ValueError(f"expected the stream base ending in /ws, got {ws_url!r}")
    streams = [f"{s.lower()}@bookTicker" for s in symbols]
    if form is StreamForm.COMBINED:
        path = path[:-3] + "/stream?streams=" + "/".join(streams)
    else:
        path = f"{path}/{streams[0]}"
    return Target(base.scheme, base.host, base.port, path)


@dataclass(frozen=True)
class FeedSettings:
    stale_ns: int = 5 * NS
    backoff_initial_ns: int = NS // 2
    backoff_max_ns: int = 30 * NS
    # Binance cuts a connection at 24 h; roll it ourselves well before, at a time we choose.
    max_lifetime_ns: int = 23 * 3600 * NS + 30 * 60 * NS
    connect_timeout_ns: int = 10 * NS
    websocket: WebSocketSettings = field(default_factory=WebSocketSettings)


class BinanceFeed:
    """Streams bookTicker for `symbols` into `pipeline`; `after_data` runs after each read."""

    def __init__(self, reactor: Reactor, pipeline: Pipeline, symbols: tuple[str, ...],
                 target: Target, form: StreamForm, ca_file: str | None,
                 settings: FeedSettings, after_data: Callable[[], None],
                 rng: random.Random | None = None) -> None:
        self.reactor = reactor
        self.pipeline = pipeline
        self.symbols = symbols
        self.target = target
        self.form = form
        self.settings = settings
        self.after_data = after_data
        self.decoder = BookTickerDecoder(list(symbols), pipeline.ring)
        self._tls = client_tls_context(ca_file or None) if target.tls else None
        self._backoff = Backoff(settings.backoff_initial_ns, settings.backoff_max_ns, rng)
        self._addresses: list[Address] = []
        self._connection: WebSocketClient | None = None
        self._stale_timer: TimerHandle | None = None
        self._reconnect_timer: TimerHandle | None = None
        self._log_limiter = LogLimiter(LOG_INTERVAL_NS)
        self._bad_seen: dict[str, int] = {}
        self._dropped_seen = 0
        self._rebased_seen = 0
        self._non_market: dict[str, int] = {}    # non_market_kind -> messages so far
        self.state = FeedState.IDLE
        # health, read by the metrics collector
        self.connected = False
        self.reconnects = 0
        self.last_event_ns = 0
        self.bytes_received = 0
        self.stale_disconnects = 0
        self.disconnects: dict[str, int] = {}    # CloseCause value -> connections ended so far
        self._pushed_seen = 0

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
        self._connection = WebSocketClient(self.reactor, self.target, self, self.decoder,
                                           self.settings.websocket)
        log.info("connecting url=%s address=%s", self.target.url, address)
        connect(self.reactor, address, self._connection, tls=self._tls,
                timeout_ns=self.settings.connect_timeout_ns)

    def _schedule_reconnect(self, cause: CloseCause, detail: str) -> None:
        """After a failure or a close: count it, log it once, wait (exponential, capped, with
        jitter), reconnect."""
        self.disconnects[cause.value] = self.disconnects.get(cause.value, 0) + 1
        self.connected = False
        self._connection = None
        if self.state is FeedState.STOPPED:
            return
        delay = self._backoff.next_delay()
        self.state = FeedState.WAITING
        log.warning("stream disconnected reason=%s detail=%s url=%s reconnect_in_s=%.2f attempt=%d",
                    cause.value, detail, self.target.url, delay / NS, self._backoff.attempts)
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
                log.warning("stream stale: no tick for %.1f s, reconnecting", (now - self.last_event_ns) / NS)
                conn.abort(CloseCause.LOCAL, "stale feed")
            elif now - conn.opened_ns > self.settings.max_lifetime_ns:
                log.info("planned reconnect: connection is %.1f h old", (now - conn.opened_ns) / 3600 / NS)
                self._backoff.reset()
                conn.close(1000, "planned reconnect")
        self._stale_timer = self.reactor.call_later(self.settings.stale_ns // 2, self._check_stale)

    # -- the WebSocket's owner (WebSocketOwner) -------------------------------------------
    def ws_open(self, conn: WebSocketClient) -> None:
        self.state = FeedState.STREAMING
        self.connected = True
        self._backoff.reset()
        self.decoder.reset()        # ids of an earlier connection say nothing about this one
        self.last_event_ns = self.reactor.now()
        log.info("stream open url=%s symbols=%d", self.target.url, len(self.symbols))
        if self.form is StreamForm.RAW and len(self.symbols) > 1:
            # one SUBSCRIBE for the rest: a single message, well inside 5 messages/s
            params = [f"{s.lower()}@bookTicker" for s in self.symbols[1:]]
            conn.send_text(ujson.dumps({"method": "SUBSCRIBE", "params": params, "id": 1}))

    def ws_read(self, conn: WebSocketClient, nbytes: int) -> None:
        self.bytes_received += nbytes
        pushed = self.pipeline.ring.pushed
        if pushed != self._pushed_seen:    # only ticks make a feed alive: no ping, no reply
            self._pushed_seen = pushed
            self.last_event_ns = self.reactor.now()
        self.pipeline.drain()
        self._log_decoder_drops()
        self.after_data()

    def ws_message(self, conn: WebSocketClient, payload: bytes) -> None:
        """A whole message that is valid JSON but not a bookTicker."""
        try:
            msg = ujson.loads(payload)
        except ValueError:
            return
        kind = non_market_kind(msg)
        self._non_market[kind] = self._non_market.get(kind, 0) + 1
        if kind == "server_shutdown":
            log.warning("serverShutdown from the venue: reconnecting now")
            self._backoff.reset()
            conn.abort(CloseCause.LOCAL, "serverShutdown")
            return
        new = self._log_limiter.add(kind, 1, self.reactor.now())
        if new:
            text = payload[:200].decode("utf-8", "replace")
            log.log(_NON_MARKET_LEVEL.get(kind, logging.WARNING),
                    "stream message without market data kind=%s new=%d total=%d last=%s",
                    kind, new, self._non_market[kind], text)

    def ws_closed(self, conn: WebSocketClient, cause: CloseCause, detail: str) -> None:
        if conn is self._connection:
            self._schedule_reconnect(cause, detail)

    def _log_decoder_drops(self) -> None:
        decoder = self.decoder
        if decoder.dropped == self._dropped_seen and decoder.rebased == self._rebased_seen:
            return                                          # the usual case, after every read
        self._dropped_seen = decoder.dropped
        now = self.reactor.now()
        if decoder.rebased != self._rebased_seen:
            new = self._log_limiter.add("rebased", decoder.rebased - self._rebased_seen, now)
            self._rebased_seen = decoder.rebased
            if new:
                log.warning("update ids jumped back: after %d stale ticks in a row a symbol "
                            "took a new baseline new=%d total=%d url=%s",
                            decoder.stale_run_limit, new, decoder.rebased, self.target.url)
        for result, count in decoder.counters().items():
            if result in _NOT_BAD or count == self._bad_seen.get(result, 0):
                continue
            new = self._log_limiter.add(result, count - self._bad_seen.get(result, 0), now)
            self._bad_seen[result] = count
            if new:
                log.warning("bad market data dropped reason=%s new=%d total=%d url=%s",
                            result.lower(), new, count, self.target.url)

    @property
    def messages(self) -> int:
        """Messages decoded: ticks, bad ones and control replies."""
        return sum(self.decoder.counters().values())

    @property
    def rebased(self) -> int:
        """Ticks taken as a new baseline after a run of stale ones (see BookTickerDecoder)."""
        return self.decoder.rebased

    def non_market_counts(self) -> dict[str, int]:
        """{kind: valid JSON messages of that kind that were no market data}, see
        `non_market_kind`."""
        return dict(self._non_market)

    def bad_message_counts(self) -> dict[str, int]:
        return {r.lower(): n for r, n in self.decoder.counters().items() if r not in _NOT_BAD}

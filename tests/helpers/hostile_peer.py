"""A loopback WebSocket server that misbehaves on purpose, for the client's robustness tests.

`HostilePeer(behaviour)` listens on 127.0.0.1 (plain TCP), and runs `behaviour` on every
connection it accepts, each in its own thread, so it serves an in-process reactor and an
engine subprocess alike. `connections` counts the accepted connections: a client that
reconnects makes it grow. Every behaviour ends when the client goes away, when the peer is
closed, or after a bounded amount of time and bytes; nothing here sends anywhere but loopback.
"""
from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable

from dmabot.core.pipeline import Pipeline
from dmabot.core.risk import RiskCheck
from dmabot.core.router import Router
from dmabot.io.reactor import Reactor
from dmabot.io.websocket import WebSocketSettings
from dmabot.strategies.builtin import MeanReversion
from dmabot.venues.binance.market_feed import BinanceFeed, FeedSettings, StreamForm, stream_target
from tests.helpers.paths import TEST_DATA

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
# What an endless behaviour sends at most, and for how long, before it gives up on its own.
MAX_SEND_BYTES = 64 << 20
MAX_SECONDS = 30.0


def accept_key(request: bytes) -> bytes:
    for line in request.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return base64.b64encode(hashlib.sha1(value.strip() + GUID).digest())
    raise AssertionError(f"no Sec-WebSocket-Key in {request!r}")


def upgrade_reply(request: bytes, extra: bytes = b"", accept: bytes | None = None,
                  upgrade: bool = True) -> bytes:
    key = accept if accept is not None else accept_key(request)
    return (b"HTTP/1.1 101 Switching Protocols\r\n"
            + (b"Upgrade: websocket\r\n" if upgrade else b"")
            + b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + key + b"\r\n" + extra + b"\r\n")


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    """A server frame (unmasked)."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n <= 125:
        return bytes((first, n)) + payload
    if n <= 0xFFFF:
        return bytes((first, 126)) + struct.pack("!H", n) + payload
    return bytes((first, 127)) + struct.pack("!Q", n) + payload


def book_ticker(update_id: int, symbol: str = "BTCUSDT") -> bytes:
    """A combined-stream bookTicker message, as JSON text."""
    return json.dumps({"stream": f"{symbol.lower()}@bookTicker", "data": {
        "u": update_id, "s": symbol, "b": "100.00", "B": "1.5", "a": "100.01", "A": "2.5"}},
        separators=(",", ":")).encode()


def execution_report() -> bytes:
    """A WebSocket API executionReport event, as JSON text."""
    return json.dumps(json.loads((TEST_DATA / "binance" / "user_data" /
                                  "execution_report_filled.json").read_text())).encode()


class Peer:
    """One accepted connection, as a behaviour sees it."""

    def __init__(self, sock: socket.socket, stopping: threading.Event, number: int) -> None:
        self.sock = sock
        self.stopping = stopping
        self.number = number            # 1 for the first connection the peer accepted
        self.deadline = time.monotonic() + MAX_SECONDS
        sock.settimeout(1.0)

    @property
    def done(self) -> bool:
        return self.stopping.is_set() or time.monotonic() > self.deadline

    def read_request(self) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            if self.done:
                raise ConnectionError("the peer is stopping")
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                raise ConnectionError("the client left during its request")
            data += chunk
        return data

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def hold(self) -> None:
        """Keep the connection open, answering nothing, until the client leaves."""
        while not self.done:
            try:
                if not self.sock.recv(65536):
                    return
            except TimeoutError:
                continue

    def handshake(self) -> None:
        self.send(upgrade_reply(self.read_request()))


Behaviour = Callable[[Peer], None]


def bad_accept(peer: Peer) -> None:
    peer.read_request()
    peer.send(upgrade_reply(b"", accept=base64.b64encode(b"x" * 20)))
    peer.hold()


def no_upgrade(peer: Peer) -> None:
    peer.send(upgrade_reply(peer.read_request(), upgrade=False))
    peer.hold()


def unrequested_extension(peer: Peer) -> None:
    peer.send(upgrade_reply(peer.read_request(), b"Sec-WebSocket-Extensions: permessage-deflate\r\n"))
    peer.hold()


def not_http(peer: Peer) -> None:
    peer.read_request()
    peer.send(b"\x16\x03\x01\x00\xa5garbage, no HTTP at all\r\n\r\n")
    peer.hold()


def huge_headers(peer: Peer) -> None:
    peer.read_request()
    peer.send(b"HTTP/1.1 101 Switching Protocols\r\n")
    pad = b"X-Pad: " + b"a" * 1000 + b"\r\n"
    for _ in range(200):                    # 200 KB of headers, the end never comes
        if peer.done:
            return
        peer.send(pad)
    peer.hold()


def never_answer(peer: Peer) -> None:
    peer.read_request()
    peer.hold()


def drip(peer: Peer) -> None:
    reply = upgrade_reply(peer.read_request())
    for byte in reply:
        if peer.done:
            return
        peer.send(bytes((byte,)))
        time.sleep(1.0)


def huge_frame(peer: Peer) -> None:
    peer.handshake()
    peer.send(b"\x81\x7f" + struct.pack("!Q", 2**63 - 1) + b"{" * 4096)
    peer.hold()


def endless_fragments(peer: Peer) -> None:
    peer.handshake()
    chunk = frame(0x0, b"a" * 65536, fin=False)
    peer.send(frame(0x1, b"[", fin=False))
    sent = 0
    while sent < MAX_SEND_BYTES and not peer.done:
        peer.send(chunk)
        sent += len(chunk)


def close_at_once(peer: Peer) -> None:
    pass


def silent(peer: Peer) -> None:
    peer.handshake()
    peer.hold()


def fragmented_execution_report(peer: Peer) -> None:
    """The executionReport in 3 frames (text, continuation, final continuation), then quiet."""
    peer.handshake()
    payload = execution_report()
    third = len(payload) // 3
    peer.send(frame(0x1, payload[:third], fin=False) + frame(0x0, payload[third:2 * third], fin=False)
              + frame(0x0, payload[2 * third:]))
    peer.hold()


def ticks(peer: Peer, first_id: int, count: int, interval_s: float = 0.002) -> None:
    """`count` bookTickers with update ids first_id, first_id + 1, ..., then quiet."""
    for update_id in range(first_id, first_id + count):
        if peer.done:
            return
        peer.send(frame(0x1, book_ticker(update_id)))
        time.sleep(interval_s)
    peer.hold()


def absurd_update_id_then_ticks(peer: Peer) -> None:
    """First connection: a valid tick with u = 2**63 - 1, then 50 ordinary ticks, then it
    ends. Later ones: 50 ordinary ticks each, then quiet."""
    peer.handshake()
    if peer.number == 1:
        peer.send(frame(0x1, book_ticker(2**63 - 1)))
        for update_id in range(1000, 1050):
            peer.send(frame(0x1, book_ticker(update_id)))
        return
    ticks(peer, 1000 + 100 * peer.number, 50)


def id_reset(peer: Peer) -> None:
    """The venue resets its ids: connection n sends 50 ticks from 10**9 // n down, so every
    connection starts below where the one before it ended; the first then ends."""
    peer.handshake()
    first = 10**9 // peer.number
    if peer.number == 1:
        for update_id in range(first, first + 50):
            peer.send(frame(0x1, book_ticker(update_id)))
        return
    ticks(peer, first, 50)


def result_replies_only(peer: Peer) -> None:
    """`{"result":null,"id":1}` at 20 Hz and nothing else."""
    peer.handshake()
    while not peer.done:
        peer.send(frame(0x1, b'{"result":null,"id":1}'))
        time.sleep(0.05)


def error_replies(peer: Peer) -> None:
    """2,000 `{"code":...}` error replies, a few ticks, then quiet."""
    peer.handshake()
    reply = frame(0x1, b'{"code":2,"msg":"Invalid request: unknown variant"}')
    for _ in range(20):
        peer.send(reply * 100)
    ticks(peer, 1, 5)


BEHAVIOURS: dict[str, Behaviour] = {
    "bad_accept": bad_accept,
    "no_upgrade": no_upgrade,
    "unrequested_extension": unrequested_extension,
    "not_http": not_http,
    "huge_headers": huge_headers,
    "never_answer": never_answer,
    "drip": drip,
    "huge_frame": huge_frame,
    "endless_fragments": endless_fragments,
    "close_at_once": close_at_once,
    "silent": silent,
    "fragmented_execution_report": fragmented_execution_report,
    "absurd_update_id_then_ticks": absurd_update_id_then_ticks,
    "id_reset": id_reset,
    "result_replies_only": result_replies_only,
    "error_replies": error_replies,
}


def rotating(names: list[str]) -> Behaviour:
    """Connection n gets behaviour names[(n - 1) % len(names)]."""
    def behave(peer: Peer) -> None:
        BEHAVIOURS[names[(peer.number - 1) % len(names)]](peer)
    return behave


class HostilePeer:
    """Listens on 127.0.0.1:`port` (0: any free one) and runs `behaviour` per connection,
    over TLS with `tls` (a server context)."""

    def __init__(self, behaviour: str | Behaviour, port: int = 0,
                 tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = BEHAVIOURS[behaviour] if isinstance(behaviour, str) else behaviour
        self.tls = tls
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self.connections = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    @property
    def url(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            thread = threading.Thread(target=self._serve, args=(sock, self.connections), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        try:
            if self.tls is not None:
                sock.settimeout(5.0)
                sock = self.tls.wrap_socket(sock, server_side=True)
            with sock:
                self.behaviour(Peer(sock, self._stopping, number))
        except OSError:          # the client left (ssl.SSLError is one too): what these tests want
            sock.close()

    def close(self) -> None:
        self._stopping.set()
        self._accepter.join(5)
        self._listener.close()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> HostilePeer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def feed_against(reactor: Reactor, peer: HostilePeer, websocket: WebSocketSettings,
                 stale_ns: int = 10_000_000_000) -> BinanceFeed:
    """A started BTCUSDT market feed (combined stream) on `reactor`, connecting to `peer`, with
    fast reconnects (20-50 ms) and the client limits `websocket`."""
    symbols = ("BTCUSDT",)
    pipeline = Pipeline(list(symbols), [[MeanReversion(1, 0, 1.0, 5.0, 0.0, window=10)]],
                        RiskCheck(0.0, 1e6, 1e9, 1e6), Router(1, [10.0], [5.0]), ["v"], record=False)
    settings = FeedSettings(stale_ns=stale_ns, backoff_initial_ns=20_000_000, backoff_max_ns=50_000_000,
                            websocket=websocket)
    feed = BinanceFeed(reactor, pipeline, symbols,
                       stream_target(f"{peer.url}/ws", symbols, StreamForm.COMBINED), StreamForm.COMBINED,
                       None, settings, lambda: None)
    feed.start()
    return feed

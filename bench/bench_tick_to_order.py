"""Tick to order bytes in one process, without syscalls: one TLS record carrying a bookTicker
goes in, the TLS record carrying the signed order request comes out.

The fast path is the engine itself (`Engine` from a Config, FEED_MODE and VENUE_MODE
binance_sandbox) set up against the simulator on the same reactor over loopback TLS: stream
subscribed, clock synced, exchangeInfo loaded, user data subscribed. Then, per round, a record
the simulator's stream connection encrypted is handed to the engine's feed transport as if its
socket had just read it, and the order connection's socket is a stand-in that keeps what it is
given. What runs in between is the real path: TLS decrypt, frame walk, decode, ring, pipeline
(mean reversion fires on every tick), risk, router, gateway (rounding, filters, client id,
registry, prepared template, HMAC), the WebSocket frame (ws_api) or HTTP request (rest), TLS
encrypt. The reactor's clock is read once per round, as its loop does once per iteration.

The baseline does the same work the obvious way in the same run: wsproto, ujson, a plain Python
mean reversion, Decimal rounding, hmac.new, and h11 (rest) or wsproto + ujson (ws_api) to send,
through the same OpenSSL.

    pytest bench/bench_tick_to_order.py --benchmark-only
"""
from __future__ import annotations

import hashlib
import hmac
import ssl
import time
import urllib.parse
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path

import h11
import pytest
import ujson
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage
from wsproto.frame_protocol import FrameProtocol

from bench.plain_pipeline import MeanReversion as PlainMeanReversion
from dmabot.app.config import parse_config
from dmabot.app.engine import Engine
from dmabot.io.reactor import Reactor
from dmabot.io.transport import client_tls_context, server_tls_context
from dmabot.venues.binance.sim import SimConfig, Simulator
from dmabot.venues.binance.sim._protocol import ConnectionMode

ROUNDS = 4000
WARMUP = 400
KEY, SECRET = "bench-key", "bench-secret-never-logged"
SYMBOL = "BTCUSDT"
# Mean reversion over 2 ticks alternating between these books fires on every tick.
BOOKS = (("91250.00", "91250.01"), ("91300.00", "91300.01"))


def ticks(first_update_id: int, n: int) -> list[bytes]:
    return [(f'{{"u":{first_update_id + i},"s":"{SYMBOL}","b":"{BOOKS[i % 2][0]}","B":"1.50000000",'
             f'"a":"{BOOKS[i % 2][1]}","A":"2.00000000"}}').encode() for i in range(n)]


def server_frame(payload: bytes) -> bytes:
    """An unmasked final text frame, as a server sends it."""
    n = len(payload)
    head = bytes([0x81, n]) if n <= 125 else bytes([0x81, 126, n >> 8, n & 0xFF])
    return head + payload


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    import trustme

    folder = Path(tmp_path_factory.mktemp("tls"))
    authority = trustme.CA()
    authority.cert_pem.write_to_path(str(folder / "ca.pem"))
    cert = authority.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    for blob in cert.cert_chain_pems:
        blob.write_to_path(str(folder / "cert.pem"), append=True)
    return str(folder / "ca.pem"), str(folder / "cert.pem"), str(folder / "key.pem")


class KeptSends:
    """Stands in for the order connection's socket once set up: keeps what it is sent."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, data) -> int:
        self.sent.append(bytes(data))
        return len(data)


class EngineTickToOrder:
    """The engine and the simulator on one reactor, connected, then driven record by record."""

    def __init__(self, tls: tuple[str, str, str], transport: str) -> None:
        ca, cert, key = tls
        self.transport = transport
        self.reactor = Reactor()
        self.sim = Simulator(self.reactor, SimConfig(tls_cert=cert, tls_key=key, symbols=(SYMBOL,), rate_hz=0.01,
                                                     api_key=KEY, api_secret=SECRET))
        self.sim.start()
        url = f"127.0.0.1:{self.sim.port}"
        cfg = parse_config(dict(
            FEED_MODE="binance_sandbox", VENUE_MODE="binance_sandbox", SYMBOLS=SYMBOL, BINANCE_CA_FILE=ca,
            BINANCE_WS_URL=f"wss://{url}/ws", BINANCE_REST_URL=f"https://{url}",
            BINANCE_WS_API_URL=f"wss://{url}/ws-api/v3", BINANCE_API_KEY=KEY, BINANCE_API_SECRET=SECRET,
            ORDER_TRANSPORT=transport, STRATEGIES="mr", STRATEGY_WORKERS="1", MR_WINDOW="2", MR_EDGE_BPS="1",
            MR_COOLDOWN_MS="0", ORDER_QTY="0.001", MAX_QPS="1000000", MAX_NOTIONAL="1000000", RECORD_FILE="",
            CANCEL_ON_EXIT="no"))
        self.engine = Engine(cfg, self.reactor)
        self.engine.start(serve_metrics=False)
        self.gateway = self.engine.gateways[0]
        self._run_until(lambda: self.gateway.ready and self.gateway.user_stream.subscribed
                        and self.engine.feed.connected and not self.gateway.busy)
        self.stream_server = next(h.transport for h in self.sim.connections if h._streams is not None)
        feed_conn = self.engine.feed._connection
        self.feed_transport = feed_conn.transport
        if transport == "ws_api":
            self.order_transport = self.gateway.user_stream._connection.client.transport
        else:
            self.order_transport = self.gateway._rest_protocol.transport
        mode = ConnectionMode.WS_API if transport == "ws_api" else ConnectionMode.HTTP
        self.order_server = next(h.transport for h in self.sim.connections if h.mode is mode)
        self.kept = KeptSends()
        self._real_socket = self.order_transport._sock
        self.order_transport._sock = self.kept
        self._ticks = iter(ticks(10**12, 10**6))
        self.ticks = 0

    def _run_until(self, done) -> None:
        deadline = time.monotonic() + 15
        while not done():
            assert time.monotonic() < deadline, "the engine did not get ready against the simulator"
            self.reactor.run_once()

    def next_record(self) -> tuple[tuple, dict]:
        """Setup of a round (not timed): the record the simulator's stream connection sends, and
        for rest a reply to the last order, so the next is not queued behind it."""
        if self.transport == "rest" and self.gateway.rest.in_flight is not None:
            self.gateway._rest_protocol.data_received(REJECTED_REPLY)
        self.stream_server._tls.write(server_frame(next(self._ticks)))
        return (self.stream_server._outgoing.read(),), {}

    def on_record(self, record: bytes) -> None:
        """One round, timed: as the reactor's loop does when the feed's socket is readable."""
        self.ticks += 1
        feed = self.feed_transport
        self.reactor.refresh_now()
        feed._incoming.write(record)
        feed._read_tls()

    def close(self) -> None:
        self.order_transport._sock = self._real_socket
        self.engine.shutdown()
        self.sim.close()
        self.reactor.close()


_REJECTED_BODY = b'{"code":-2010,"msg":"Account has insufficient balance for requested action."}'
REJECTED_REPLY = (b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
                  % (len(_REJECTED_BODY), _REJECTED_BODY))


class NaiveTickToOrder:
    """The same path the obvious way: wsproto, ujson, plain Python, Decimal, hmac, h11."""

    TICK, STEP = Decimal("0.01"), Decimal("0.00001")

    def __init__(self, tls: tuple[str, str, str], transport: str) -> None:
        ca, cert, key = tls
        self.transport = transport
        self.client_in, self.client_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.server_in, self.server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.client = client_tls_context(ca).wrap_bio(self.client_in, self.client_out, server_hostname="127.0.0.1")
        self.server = server_tls_context(cert, key).wrap_bio(self.server_in, self.server_out, server_side=True)
        self._handshake()
        self.ws = WSConnection(ConnectionType.CLIENT)
        server_ws = WSConnection(ConnectionType.SERVER)
        server_ws.receive_data(self.ws.send(Request(host="127.0.0.1", target="/ws")))
        next(server_ws.events())
        self.ws.receive_data(server_ws.send(AcceptConnection()))
        assert isinstance(next(self.ws.events()), AcceptConnection)
        self.strategy = PlainMeanReversion(2, 1.0, 0)
        self.secret = SECRET.encode()
        self.order_id = 0
        self.sent: list[bytes] = []
        self._ticks = iter(ticks(10**12, 10**6))
        self.ticks = 0

    def _handshake(self) -> None:
        for _ in range(10):
            for side in (self.client, self.server):
                try:
                    side.do_handshake()
                except ssl.SSLWantReadError:
                    pass
            self.server_in.write(self.client_out.read())
            self.client_in.write(self.server_out.read())
        self.client.do_handshake()

    def next_record(self) -> tuple[tuple, dict]:
        self.server.write(server_frame(next(self._ticks)))
        return (self.server_out.read(),), {}

    def on_record(self, record: bytes) -> None:
        self.ticks += 1
        self.client_in.write(record)
        self.ws.receive_data(self.client.read(16384))
        for event in self.ws.events():
            if isinstance(event, TextMessage):
                msg = ujson.loads(event.data)
                signal = self.strategy.on_tick(time.monotonic_ns(), msg["s"], float(msg["b"]), float(msg["a"]))
                if signal is not None:
                    self.client.write(self._order(*signal))
                    self.sent.append(self.client_out.read())

    def _order(self, side: int, px: float) -> bytes:
        self.order_id += 1
        price = Decimal(repr(px)).quantize(self.TICK, ROUND_FLOOR if side > 0 else ROUND_CEILING)
        qty = Decimal("0.001").quantize(self.STEP, ROUND_FLOOR)
        if price * qty < 5:
            raise ValueError("below minNotional")
        params = [("symbol", SYMBOL), ("side", "BUY" if side > 0 else "SELL"), ("type", "LIMIT"),
                  ("timeInForce", "IOC"), ("quantity", str(qty)), ("price", str(price)),
                  ("newClientOrderId", f"naive-{self.order_id}"), ("newOrderRespType", "FULL"),
                  ("recvWindow", 5000), ("timestamp", time.time_ns() // 1_000_000)]
        if self.transport == "ws_api":
            params.append(("apiKey", KEY))
            payload = "&".join(f"{k}={v}" for k, v in sorted(params))
            signed = dict(sorted(params), signature=hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest())
            text = ujson.dumps({"id": f"naive-{self.order_id}", "method": "order.place", "params": signed})
            return self.ws.send(TextMessage(data=text))
        query = urllib.parse.urlencode(params)
        body = f"{query}&signature={hmac.new(self.secret, query.encode(), hashlib.sha256).hexdigest()}".encode()
        client = h11.Connection(h11.CLIENT)
        return b"".join((
            client.send(h11.Request(method="POST", target="/api/v3/order", headers=[
                ("Host", "127.0.0.1"), ("User-Agent", "dmabot"), ("X-MBX-APIKEY", KEY),
                ("Content-Type", "application/x-www-form-urlencoded"), ("Content-Length", str(len(body)))])),
            client.send(h11.Data(data=body)), client.send(h11.EndOfMessage())))

    def close(self) -> None:
        pass


def order_requests(server: ssl.SSLObject, server_in: ssl.MemoryBIO, records: list[bytes], transport: str) -> list:
    """Decrypt what the client sent and parse it as the server would: the order requests."""
    for record in records:
        server_in.write(record)
    plaintext = b""
    try:
        while chunk := server.read(1 << 20):
            plaintext += chunk
    except ssl.SSLWantReadError:
        pass
    if transport == "ws_api":
        frames = FrameProtocol(client=False, extensions=[])
        frames.receive_bytes(plaintext)
        return [ujson.loads(f.payload) for f in frames.received_frames()]
    server_h11 = h11.Connection(h11.SERVER)
    server_h11.receive_data(plaintext)
    requests = []
    while (event := server_h11.next_event()) is not h11.NEED_DATA:
        if isinstance(event, h11.Request):
            requests.append(event)
        elif isinstance(event, h11.EndOfMessage):
            server_h11.send(h11.Response(status_code=400, headers=[("Content-Length", "0")]))
            server_h11.send(h11.EndOfMessage())
            server_h11.start_next_cycle()
    return requests


@pytest.mark.parametrize("transport", ["ws_api", "rest"])
@pytest.mark.parametrize("role", ["fast", "baseline"])
def test_tick_to_order_bytes(benchmark, record_per_message, tls, transport, role):
    benchmark.group = f"tick-to-order {transport}"
    path = EngineTickToOrder(tls, transport) if role == "fast" else NaiveTickToOrder(tls, transport)
    try:
        for _ in range(WARMUP):
            path.on_record(*path.next_record()[0])
        benchmark.pedantic(path.on_record, setup=path.next_record, rounds=ROUNDS, iterations=1)
        record_per_message(role, 1)
        if role == "fast":
            # every round sent one order, and the simulator's side reads each as a request
            # (the first two ticks fill the mean's window)
            assert path.gateway.local_rejections == {} and path.gateway.orders_sent == path.ticks - 2
            server = path.order_server
            requests = order_requests(server._tls, server._incoming, path.kept.sent, transport)
            assert len(requests) == path.ticks - 2
        else:
            assert len(path.sent) == path.ticks - 2
            requests = order_requests(path.server, path.server_in, path.sent, transport)
            assert len(requests) == path.ticks - 2
    finally:
        path.close()

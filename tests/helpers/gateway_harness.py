"""A BinanceGateway without sockets: its connector hands each connection a stand-in transport
that records what it writes; replies are fed in as HTTP bytes through the connection's protocol,
and a manual clock drives the timeouts. Shared by the gateway's REST and WebSocket API tests."""
from __future__ import annotations

import json
import socket
from urllib.parse import parse_qs

from dmabot.core.types import ExecStatus, Order, Side
from dmabot.io.reactor import ManualClock, Reactor
from dmabot.io.transport import Address, TransportProtocol
from dmabot.venues.binance.gateway import BinanceGateway
from dmabot.venues.binance.protocol.signing import Credentials
from dmabot.venues.binance.settings import GatewaySettings
from tests.helpers.paths import TEST_DATA

DATA = TEST_DATA / "binance" / "rest"
T0 = 1_000_000_000_000
SERVER_MS = 1_795_858_200_000
BTC = 0


def load(name):
    return json.loads((DATA / name).read_text())


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close(self) -> None:
        self.closed = True

    abort = close


class FakePipeline:
    def __init__(self) -> None:
        self.reports = []

    def on_exec(self, report) -> None:
        self.reports.append(report)

    def touch(self, sym: int) -> tuple[float, float]:
        return (91249.99, 91250.01) if sym == BTC else (3149.99, 3150.01)

    def statuses(self) -> list[str]:
        return [ExecStatus(r.status).name for r in self.reports]


def http(status: int, body, headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    data = json.dumps(body).encode()
    head = f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode() + b"\r\n" + data


def resolved(host: str, port: int) -> list[Address]:
    """What a resolver would say, without asking DNS (the connector never dials it)."""
    return [Address(host, port, socket.AF_INET, ("192.0.2.1", port))]


class Harness:
    def __init__(self, **settings_given) -> None:
        self.reactor = Reactor(ManualClock(T0))
        self.pipeline = FakePipeline()
        settings = GatewaySettings("https://api.test", None, Credentials("key", "secret"),
                                   request_timeout_ns=2_000_000_000, **settings_given)
        self.connections: list[tuple[TransportProtocol, FakeTransport]] = []
        self.fatal: list[str] = []     # what the gateway told the engine it cannot trade with
        self.gw = BinanceGateway(self.reactor, self.pipeline, 0, ("BTCUSDT", "ETHUSDT"), settings, SERVER_MS,
                                 on_fatal=self.fatal.append, connector=self.connect, resolver=resolved)
        self.gw.start()

    def connect(self, reactor, address, protocol, *, tls=None, timeout_ns=0) -> FakeTransport:
        """The connector: each (re)connect gets a stand-in transport, connected at once."""
        transport = FakeTransport()
        self.connections.append((protocol, transport))
        protocol.connection_made(transport)
        return transport

    @property
    def protocol(self) -> TransportProtocol:
        return self.connections[-1][0]

    @property
    def written(self) -> list[bytes]:
        return self.connections[-1][1].written

    def reply(self, status: int, body) -> None:
        self.protocol.data_received(http(status, body, (("X-MBX-USED-WEIGHT-1M", "7"),)))

    def sync(self) -> None:
        assert self.written[-1].startswith(b"GET /api/v3/time ")
        self.reply(200, {"serverTime": SERVER_MS})
        if self.gw.registry is None:
            assert self.written[-1].startswith(b"GET /api/v3/exchangeInfo?symbols=")
            self.reply(200, load("exchange_info_btcusdt_ethusdt.json"))
        assert self.gw.ready
        self.answer_reconciliation()

    def answer_reconciliation(self) -> None:
        """Ready (first time or after a reconnect) asks myTrades/openOrders per symbol (no trades)
        and the account's balances (the sample's)."""
        while self.gw.rest is not None and self.gw.rest.in_flight is not None:
            if self.written[-1].startswith((b"GET /api/v3/myTrades?", b"GET /api/v3/openOrders?")):
                self.reply(200, [])
            elif self.written[-1].startswith(b"GET /api/v3/account?omitZeroBalances=true&"):
                self.reply(200, load("account.json"))
            else:
                break

    def submit(self, side: Side, px: float, qty: float, order_id: int = 1) -> Order:
        order = Order(order_id, order_id, self.reactor.now(), BTC, 0, 0, 0, side, px, qty)
        self.gw.submit(order)
        return order


def form(request: bytes) -> dict[str, str]:
    body = request.split(b"\r\n\r\n", 1)[1].decode()
    return {k: v[0] for k, v in parse_qs(body).items()}


def full_reply(client_id: str, qty: str, price: str) -> dict:
    body = load("order_market_full_filled.json")
    body.update(clientOrderId=client_id, origQty=qty, executedQty=qty, type="LIMIT", timeInForce="IOC",
                price=price, orderId=7)
    body["fills"] = [{"price": price, "qty": qty, "commission": "0.00000100", "commissionAsset": "BTC",
                      "tradeId": 99}]
    return body

"""The order-entry pieces wired together the way the gateway will: client id, template, REST
connection, h11 server on the other end, reply parsing, registry, engine reports. Bytes only."""
from __future__ import annotations

import json
import urllib.parse
from decimal import Decimal

import h11

from dmabot.core.types import ExecStatus, Order, Side
from dmabot.venues.binance.protocol import (
    ClientOrderIdFactory,
    Credentials,
    FailureReason,
    OrderRegistry,
    OrderTemplate,
    OrderType,
    RestConnection,
    RestRequests,
    ServerClock,
    TimeInForce,
    WireSide,
    format_decimal,
    parse_exchange_info,
    parse_order,
    parse_order_response,
)
from dmabot.venues.binance.protocol.orders import LocalStatus
from tests.helpers.paths import TEST_DATA

DATA = TEST_DATA / "binance"
MS = 1_000_000
T0 = 5_000 * MS
HOST = "api.binance.com"
CREDS = Credentials("k" * 64, "s" * 64)


class Exchange:
    """An h11 server that records the requests it reads and answers with canned bodies."""

    def __init__(self):
        self.conn = h11.Connection(h11.SERVER)
        self.requests: list[tuple[bytes, bytes, dict[str, str]]] = []

    def read(self, data: bytes) -> None:
        self.conn.receive_data(data)
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Request):
                method, target, body = event.method, event.target, b""
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                query = target.partition(b"?")[2] or body
                self.requests.append((method, target.partition(b"?")[0], dict(urllib.parse.parse_qsl(query.decode()))))

    def reply(self, status: int, body: bytes) -> bytes:
        wire = self.conn.send(h11.Response(status_code=status, headers=[("Content-Length", str(len(body)))]))
        wire += self.conn.send(h11.Data(data=body)) + self.conn.send(h11.EndOfMessage())
        self.conn.start_next_cycle()
        return wire


def setup():
    info = parse_exchange_info(json.loads((DATA / "rest" / "exchange_info_btcusdt_ethusdt.json").read_text()))
    rules = info.rules("BTCUSDT")
    clock = ServerClock()
    clock.on_time_response(T0 - 10 * MS, T0 - 8 * MS, 1795858200000)
    return rules, clock, OrderRegistry([rules]), RestConnection(timeout_ns=2_000 * MS), Exchange()


def send_order(rules, clock, registry, conn):
    """What the gateway does with one engine Order: round, id, register, build, submit."""
    order = Order(1, 1, T0, 0, 0, 0, 0, Side.BUY, 91250.004, 0.0020004)
    px, qty = rules.round_price(WireSide.BUY, order.px), rules.round_qty(order.qty)
    cid = ClientOrderIdFactory(1795858000000).make(order)
    registry.register(order, cid, qty, T0)
    wire = OrderTemplate(HOST, "BTCUSDT", CREDS).build(
        WireSide.BUY, OrderType.LIMIT, TimeInForce.GTC, format_decimal(qty), format_decimal(px), cid,
        clock.timestamp_ms(T0))
    conn.submit(cid, wire, T0)
    return cid


def with_cid(name: str, cid: str) -> bytes:
    body = json.loads((DATA / "rest" / name).read_text())
    body["clientOrderId"] = cid
    return json.dumps(body).encode()


def test_order_sent_and_acknowledged():
    rules, clock, registry, conn, exchange = setup()
    cid = send_order(rules, clock, registry, conn)
    exchange.read(conn.data_to_send())
    (method, path, params), = exchange.requests
    assert (method, path) == (b"POST", b"/api/v3/order")
    assert (params["price"], params["quantity"], params["newClientOrderId"]) == ("91250", "0.002", cid)
    assert params["timestamp"] == "1795858200009"
    (response,) = conn.receive_data(exchange.reply(200, with_cid("order_limit_result_new.json", cid)), T0 + 3 * MS)
    reports = registry.on_order_response(parse_order_response(response.json()), response.received_ns)
    assert [r.status for r in reports] == [ExecStatus.ACK] and reports[0].ts == T0 + 3 * MS


def test_timeout_resolved_by_query_without_resending():
    rules, clock, registry, conn, exchange = setup()
    cid = send_order(rules, clock, registry, conn)
    exchange.read(conn.data_to_send())
    (failed,) = conn.expire(T0 + 2_000 * MS)
    assert failed.tag == cid and failed.reason is FailureReason.TIMED_OUT and failed.reason.outcome_unknown
    registry.on_outcome_unknown(cid, T0 + 2_000 * MS)
    assert [t.client_order_id for t in registry.unknown()] == [cid]

    # a new connection; the gateway asks about the order instead of sending it again
    conn, exchange = RestConnection(), Exchange()
    conn.submit(("query", cid), RestRequests(HOST, CREDS).query_order("BTCUSDT", cid, clock.timestamp_ms(T0)), T0)
    exchange.read(conn.data_to_send())
    body = json.loads((DATA / "rest" / "query_order.json").read_text()) | {"clientOrderId": cid}
    (response,) = conn.receive_data(exchange.reply(200, json.dumps(body).encode()), T0 + 2_010 * MS)
    reports = registry.on_order_state(parse_order(response.json()), response.received_ns)
    assert [r.status for r in reports] == [ExecStatus.ACK]
    assert registry.get(cid).status is LocalStatus.PARTIALLY_FILLED and registry.unknown() == []
    assert [(m, p) for m, p, _ in exchange.requests] == [(b"GET", b"/api/v3/order")]
    assert registry.get(cid).qty == Decimal("0.002")

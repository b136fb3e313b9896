"""The simulator's sans-IO parts with plain bytes and values: no sockets, no clock."""

from __future__ import annotations

import json
from decimal import Decimal

import h11
import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Pong, Request, TextMessage
from wsproto.frame_protocol import FrameProtocol

from dmabot.venues.binance.sim._app import OrderEntry, SimApp
from dmabot.venues.binance.sim._faults import Fault, FaultAction, FaultError, parse_fault
from dmabot.venues.binance.sim._limits import RequestWeight
from dmabot.venues.binance.sim._market import BookTickerWalk
from dmabot.venues.binance.sim._protocol import ConnectionMode, SimProtocol
from dmabot.venues.binance.sim._rest import RestApi
from dmabot.venues.binance.sim._streams import StreamSession
from dmabot.venues.binance.sim._symbols import KNOWN_SYMBOLS, format_units, symbol_spec, to_units
from dmabot.venues.binance.sim._ws_api import PUBLIC_METHODS, WsApiClientSession

NOW_MS = 1795858200000
SERVED = frozenset({"btcusdt@bookTicker", "ethusdt@bookTicker"})


class RecordingFaults:
    def __init__(self) -> None:
        self.applied: list[Fault] = []

    def apply_fault(self, fault: Fault) -> int:
        self.applied.append(fault)
        return 3


def new_protocol() -> SimProtocol:
    return SimProtocol(SimApp(KNOWN_SYMBOLS, RecordingFaults()))


def http_get(target: str) -> bytes:
    client = h11.Connection(h11.CLIENT)
    return client.send(h11.Request(method="GET", target=target, headers=[("Host", "sim")])) + client.send(
        h11.EndOfMessage()
    )


def rest_call(protocol: SimProtocol, target: str) -> tuple[int, bytes]:
    """One GET through `protocol`, parsed by an h11 client as it would be off the wire."""
    client = h11.Connection(h11.CLIENT)
    request = client.send(h11.Request(method="GET", target=target, headers=[("Host", "sim")]))
    client.receive_data(protocol.receive_data(request + client.send(h11.EndOfMessage()), NOW_MS))
    status, body = 0, b""
    while not isinstance(event := client.next_event(), h11.EndOfMessage):
        if isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.Data):
            body += event.data
    return status, body


# -- SimProtocol: HTTP and the upgrade ------------------------------------------------------


def test_rest_request_gets_its_response() -> None:
    protocol = new_protocol()
    status, body = rest_call(protocol, "/api/v3/time")
    assert (status, json.loads(body)) == (200, {"serverTime": NOW_MS})
    assert protocol.mode is ConnectionMode.HTTP and not protocol.closing and protocol.target == "/api/v3/time"


def test_pipelined_requests_are_all_answered() -> None:
    protocol = new_protocol()
    out = protocol.receive_data(http_get("/api/v3/ping") + http_get("/api/v3/time"), NOW_MS)
    assert out.count(b"HTTP/1.1 200") == 2 and protocol.requests == 2


def test_garbage_gets_400_and_close() -> None:
    protocol = new_protocol()
    out = protocol.receive_data(b"NOT HTTP AT ALL\r\n\r\n", NOW_MS)
    assert out.startswith(b"HTTP/1.1 400") and protocol.closing


def ws_client_upgrade(target: str) -> tuple[WSConnection, bytes]:
    client = WSConnection(ConnectionType.CLIENT)
    return client, client.send(Request(host="sim", target=target))


def client_events(client: WSConnection, data: bytes) -> list:
    client.receive_data(data)
    return list(client.events())


def test_upgrade_with_a_frame_right_behind_the_request() -> None:
    protocol = new_protocol()
    client, request = ws_client_upgrade("/ws")
    # a client may not send frames before the 101; one that does tests the hand-over from h11
    subscribe = FrameProtocol(client=True, extensions=[]).send_data(
        '{"method":"SUBSCRIBE","params":["ethusdt@bookTicker"],"id":1}', True
    )
    out = protocol.receive_data(request + bytes(subscribe), NOW_MS)
    events = client_events(client, out)
    assert isinstance(events[0], AcceptConnection)
    assert [e.data for e in events[1:]] == ['{"result":null,"id":1}']
    assert protocol.mode is ConnectionMode.STREAM and list(protocol.session.subscriptions) == ["ethusdt@bookTicker"]


def test_upgrade_to_unknown_stream_is_refused_with_400() -> None:
    protocol = new_protocol()
    _, request = ws_client_upgrade("/stream?streams=btcusdt@depth")
    out = protocol.receive_data(request, NOW_MS)
    assert out.startswith(b"HTTP/1.1 400") and protocol.closing and protocol.mode is ConnectionMode.HTTP


def test_upgrade_without_key_is_refused() -> None:
    protocol = new_protocol()
    request = b"GET /ws HTTP/1.1\r\nHost: sim\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    out = protocol.receive_data(request, NOW_MS)
    assert out.startswith(b"HTTP/1.1 400") and protocol.closing


def open_websocket(target: str) -> tuple[SimProtocol, WSConnection]:
    protocol = new_protocol()
    client, request = ws_client_upgrade(target)
    assert isinstance(client_events(client, protocol.receive_data(request, NOW_MS))[0], AcceptConnection)
    return protocol, client


def test_ws_api_requests_are_answered_with_the_given_time() -> None:
    protocol, client = open_websocket("/ws-api/v3")
    out = protocol.receive_data(client.send(TextMessage('{"id":1,"method":"time"}')), NOW_MS)
    [reply] = client_events(client, out)
    assert json.loads(reply.data)["result"] == {"serverTime": NOW_MS}


def test_client_ping_is_answered_and_close_is_echoed() -> None:
    protocol, client = open_websocket("/ws")
    [pong] = client_events(client, protocol.receive_data(client.send(Ping(b"p")), NOW_MS))
    assert isinstance(pong, Pong) and pong.payload == b"p"
    [close] = client_events(client, protocol.receive_data(client.send(CloseConnection(1000)), NOW_MS))
    assert isinstance(close, CloseConnection) and close.code == 1000 and protocol.closing


def test_bad_frame_from_the_client_closes_with_protocol_error() -> None:
    protocol, client = open_websocket("/ws")
    out = protocol.receive_data(b"\x8b\x80\x00\x00\x00\x00", NOW_MS)  # masked frame, reserved opcode 0xB
    [close] = client_events(client, out)
    assert isinstance(close, CloseConnection) and close.code == 1002 and protocol.closing


def test_only_the_echo_of_the_latest_ping_proves_liveness() -> None:
    protocol, client = open_websocket("/ws")
    [ping] = client_events(client, protocol.ping(b"1", now_ns=10))
    assert isinstance(ping, Ping) and protocol.unanswered_ping_since == 10
    protocol.ping(b"2", now_ns=20)
    assert protocol.unanswered_ping_since == 10  # the oldest unanswered one counts
    protocol.receive_data(client.send(Pong(b"")), NOW_MS)  # unsolicited
    protocol.receive_data(client.send(Pong(b"1")), NOW_MS)  # stale
    assert protocol.unanswered_ping_since == 10
    protocol.receive_data(client.send(Pong(b"2")), NOW_MS)
    assert protocol.unanswered_ping_since is None


def test_sending_on_a_plain_http_connection_is_a_no_op() -> None:
    protocol = new_protocol()
    assert protocol.send_text("x") == b"" and protocol.close(1000) == b"" and protocol.ping(b"", 0) == b""


# -- stream sessions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_text", "reply"),
    [
        ('{"method":"SUBSCRIBE","params":["ethusdt@bookTicker"],"id":1}', {"result": None, "id": 1}),
        ('{"method":"LIST_SUBSCRIPTIONS","id":"a-1"}', {"result": ["btcusdt@bookTicker"], "id": "a-1"}),
        ('{"method":"UNSUBSCRIBE","params":["btcusdt@bookTicker"],"id":null}', {"result": None, "id": None}),
        ('{"method":"GET_PROPERTY","params":["combined"],"id":2}', {"result": False, "id": 2}),
        ('{"method":"SET_PROPERTY","params":["combined",true],"id":5}', {"result": None, "id": 5}),
        (
            '{"method":"SET_PROPERTY","params":["combined","yes"],"id":5}',
            {"code": 1, "msg": "Invalid value type: expected Boolean", "id": 5},
        ),
        ('{"method":"GET_PROPERTY","params":["colour"],"id":6}', {"code": 0, "msg": "Unknown property", "id": 6}),
        (
            '{"method":"SUBSCRIBE","params":["btcusdt@depth"],"id":7}',
            {"code": 2, "msg": "Invalid request: unknown stream 'btcusdt@depth'", "id": 7},
        ),
    ],
)
def test_control_messages(request_text: str, reply: dict) -> None:
    session = StreamSession(SERVED, ["btcusdt@bookTicker"], combined=False)
    assert json.loads(session.handle_text(request_text, NOW_MS)) == reply


@pytest.mark.parametrize(
    ("request_text", "code", "msg_start"),
    [
        ("{nope", 3, "Invalid JSON: "),
        ('{"method":"SUBSCRIBEE","id":1}', 2, "Invalid request: unknown variant `SUBSCRIBEE`, expected one of"),
        ('{"params":[],"id":1}', 2, "Invalid request: missing field `method`"),
        ('{"method":"LIST_SUBSCRIPTIONS","id":true}', 2, "Invalid request: 'id' must be"),
        ('{"method":"LIST_SUBSCRIPTIONS","id":"has space"}', 2, "Invalid request: 'id' must be"),
        ("[1]", 2, "Invalid request: expected a JSON object"),
    ],
)
def test_unreadable_control_messages(request_text: str, code: int, msg_start: str) -> None:
    reply = json.loads(StreamSession(SERVED, [], combined=False).handle_text(request_text, NOW_MS))
    assert reply["code"] == code and reply["msg"].startswith(msg_start)
    assert reply.get("id", "absent") in (None, "absent")


def test_frames_follow_subscription_and_combined_property() -> None:
    session = StreamSession(SERVED, ["btcusdt@bookTicker"], combined=True)
    assert session.frame("btcusdt@bookTicker", '{"u":1}') == '{"stream":"btcusdt@bookTicker","data":{"u":1}}'
    assert session.frame("ethusdt@bookTicker", '{"u":1}') is None
    session.handle_text('{"method":"SET_PROPERTY","params":["combined",false],"id":1}', NOW_MS)
    assert session.frame("btcusdt@bookTicker", '{"u":1}') == '{"u":1}'


# -- WebSocket API --------------------------------------------------------------------------


def test_ws_api_reply_shapes() -> None:
    session = WsApiClientSession(PUBLIC_METHODS, RequestWeight())
    assert session.handle_text('{"id":"a","method":"ping"}', NOW_MS) == (
        '{"id":"a","status":200,"result":{},"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT",'
        '"interval":"MINUTE","intervalNum":1,"limit":6000,"count":1}]}'
    )
    bad = json.loads(session.handle_text("{", NOW_MS))
    assert bad["id"] is None and bad["status"] == 400 and bad["error"]["code"] == -1102
    no_method = json.loads(session.handle_text('{"id":9}', NOW_MS))
    assert no_method["id"] == 9 and no_method["error"]["msg"].startswith("Mandatory parameter 'method'")
    bad_params = json.loads(session.handle_text('{"id":9,"method":"ping","params":[1]}', NOW_MS))
    assert bad_params["error"]["msg"].startswith("Mandatory parameter 'params'")


def test_request_weight_resets_each_minute() -> None:
    weight = RequestWeight()
    assert weight.add(20, 60_000) == 20 and weight.add(1, 119_999) == 21 and weight.add(1, 120_000) == 1


# -- REST -------------------------------------------------------------------------------------


def test_rest_errors_and_weights() -> None:
    faults = RecordingFaults()
    rest = RestApi(KNOWN_SYMBOLS, RequestWeight(), faults)
    assert rest.handle("POST", "/api/v3/time", b"", NOW_MS).status == 405
    assert rest.handle("GET", "/api/v3/orderbook", b"", NOW_MS).status == 404
    both = rest.handle("GET", "/api/v3/exchangeInfo?symbol=BTCUSDT&symbols=[]", b"", NOW_MS)
    assert (both.status, json.loads(both.body)["code"]) == (400, -1128)
    malformed = rest.handle("GET", "/api/v3/exchangeInfo?symbols=BTCUSDT", b"", NOW_MS)
    assert (malformed.status, json.loads(malformed.body)["code"]) == (400, -1102)
    everything = rest.handle("GET", "/api/v3/exchangeInfo", b"", NOW_MS)
    assert [s["symbol"] for s in json.loads(everything.body)["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    assert ("X-MBX-USED-WEIGHT-1M", "60") in everything.headers  # 20 per exchangeInfo call above
    applied = rest.handle("POST", "/sim/fault?action=close", b"code=4000", NOW_MS)
    assert json.loads(applied.body) == {"action": "close", "connections": 3}
    assert faults.applied == [Fault(FaultAction.CLOSE, code=4000)]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"action": "drop_clients"}, Fault(FaultAction.DROP_CLIENTS)),
        ({"action": "stall", "seconds": "2.5"}, Fault(FaultAction.STALL, seconds=2.5)),
        ({"action": "close", "code": "1001"}, Fault(FaultAction.CLOSE, code=1001)),
        ({"action": "ping"}, Fault(FaultAction.PING)),
        ({"action": "force_429"}, Fault(FaultAction.FORCE_429)),
        ({"action": "force_429", "count": "2", "seconds": "3"}, Fault(FaultAction.FORCE_429, count=2, retry_after_s=3)),
        ({"action": "force_429", "code": "-1003"}, Fault(FaultAction.FORCE_429)),
        ({"action": "force_429", "code": "-1015"}, Fault(FaultAction.FORCE_429, code=-1015)),
    ],
)
def test_parse_fault(params: dict, expected: Fault) -> None:
    assert parse_fault(params) == expected


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"action": "melt"},
        {"action": "stall"},
        {"action": "stall", "seconds": "nan"},
        {"action": "close", "code": "999"},
        {"action": "close", "code": "1000.5"},
        {"action": "force_429", "seconds": "-1"},
        {"action": "force_429", "code": "-1021"},
    ],
)
def test_parse_fault_rejects(params: dict) -> None:
    with pytest.raises(FaultError):
        parse_fault(params)


# -- order arrivals: where the tick-to-trade probe stops its clock ----------------------------


def watched_app() -> tuple[SimApp, list[OrderEntry]]:
    """An app without a venue (only the moment of arrival matters) and the arrivals it reports."""
    app = SimApp(KNOWN_SYMBOLS, RecordingFaults())
    arrivals: list[OrderEntry] = []
    app.on_order_arrival = arrivals.append
    return app, arrivals


def test_a_rest_order_arrives_when_its_whole_request_has_been_read() -> None:
    app, arrivals = watched_app()
    protocol = SimProtocol(app)
    client = h11.Connection(h11.CLIENT)
    body = b"symbol=BTCUSDT&side=BUY"
    request = h11.Request(
        method="POST", target="/api/v3/order?timestamp=1", headers=[("Host", "sim"), ("Content-Length", str(len(body)))]
    )
    wire = client.send(request) + client.send(h11.Data(data=body))
    protocol.receive_data(wire[:-1], NOW_MS)
    assert arrivals == []
    protocol.receive_data(wire[-1:], NOW_MS)
    assert arrivals == [OrderEntry.REST]


@pytest.mark.parametrize(
    ("method", "target"), [("GET", "/api/v3/order"), ("POST", "/api/v3/order/test"), ("DELETE", "/api/v3/order")]
)
def test_other_rest_requests_are_no_orders(method: str, target: str) -> None:
    app, arrivals = watched_app()
    client = h11.Connection(h11.CLIENT)
    request = client.send(h11.Request(method=method, target=target, headers=[("Host", "sim"), ("Content-Length", "0")]))
    SimProtocol(app).receive_data(request + client.send(h11.EndOfMessage()), NOW_MS)
    assert arrivals == []


def test_a_ws_api_order_arrives_when_its_json_names_order_place() -> None:
    app, arrivals = watched_app()
    session = app.open_session("/ws-api/v3")
    assert isinstance(session, WsApiClientSession)
    session.handle_text('{"id":1,"method":"ping"}', NOW_MS)
    session.handle_text('{"id":2,"method":"order.place"', NOW_MS)  # not JSON: no order
    assert arrivals == []
    reply = json.loads(session.handle_text('{"id":3,"method":"order.place","params":{}}', NOW_MS))
    assert reply["status"] == 400  # no venue here: refused, after the arrival was reported
    assert arrivals == [OrderEntry.WS_API]


def test_a_ws_api_session_without_a_watcher_serves_orders_as_before() -> None:
    session = WsApiClientSession(PUBLIC_METHODS, RequestWeight())
    assert json.loads(session.handle_text('{"id":1,"method":"order.place","params":{}}', NOW_MS))["status"] == 400


# -- market and symbols -----------------------------------------------------------------------


def test_walk_is_seeded_on_grid_and_increasing() -> None:
    spec = KNOWN_SYMBOLS["BTCUSDT"]
    walk_a, walk_b, walk_c = BookTickerWalk(spec, 1), BookTickerWalk(spec, 1), BookTickerWalk(spec, 2)
    series_a = [walk_a.advance() for _ in range(2000)]
    assert series_a == [walk_b.advance() for _ in range(2000)]
    assert series_a != [walk_c.advance() for _ in range(2000)]
    last_u = 0
    for payload in series_a:
        data = json.loads(payload)
        assert data["u"] > last_u and data["s"] == "BTCUSDT"
        last_u = data["u"]
        assert Decimal(data["b"]) % Decimal("0.01") == 0 and Decimal(data["B"]) % Decimal("0.00001") == 0
        assert Decimal(data["b"]) < Decimal(data["a"])


def test_units_and_generic_symbols() -> None:
    assert to_units("0.01") == 1_000_000 and format_units(to_units("91250.5")) == "91250.50000000"
    with pytest.raises(ValueError):
        to_units("0.000000001")
    spec = symbol_spec("SOLUSDT")
    assert (spec.base_asset, spec.quote_asset, format_units(spec.tick_units)) == ("SOL", "USDT", "0.01000000")
    for bad in ("btcusdt", "FOOBAR", "USDT"):
        with pytest.raises(ValueError):
            symbol_spec(bad)

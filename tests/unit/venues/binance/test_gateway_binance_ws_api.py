"""BinanceGateway with ORDER_TRANSPORT=ws_api, without sockets: orders leave as order.place
frames on the WebSocket API connection (a stand-in transport, read back here with wsproto's
server side), replies and their faults are fed in as frames; REST (stand-in transport) still
syncs and looks up unknowns."""
from __future__ import annotations

import json

import pytest
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, Request, TextMessage

from dmabot.core.types import Side
from dmabot.io.transport import TransportProtocol
from dmabot.io.websocket import WebSocketClient
from dmabot.venues.binance.session import SessionState
from dmabot.venues.binance.settings import OrderTransport
from tests.helpers.gateway_harness import (
    SERVER_MS,
    T0,
    FakeTransport,
    Harness,
    form,
    full_reply,
    load,
)

WS_API_URL = "wss://127.0.0.1:9443/ws-api/v3"   # a numeric host: resolved without DNS


class WsHarness(Harness):
    """Harness whose WebSocket API connections are stand-ins too, each with a wsproto server."""

    def __init__(self, subscribe_error: dict | None = None) -> None:
        self.ws: list[tuple[TransportProtocol, FakeTransport, WSConnection]] = []
        self.subscribe_error = subscribe_error    # the venue's answer to the subscription, if not a success
        super().__init__(ws_api_url=WS_API_URL, order_transport=OrderTransport.WS_API)

    def connect(self, reactor, address, protocol, *, tls=None, timeout_ns=0) -> FakeTransport:
        """The one connector of the gateway: REST as the base harness does it, the WebSocket API
        connection with a wsproto server behind its stand-in transport."""
        if not isinstance(protocol, WebSocketClient):
            return super().connect(reactor, address, protocol, tls=tls, timeout_ns=timeout_ns)
        transport, server = FakeTransport(), WSConnection(ConnectionType.SERVER)
        self.ws.append((protocol, transport, server))
        protocol.connection_made(transport)
        server.receive_data(transport.written.pop())
        assert isinstance(next(server.events()), Request)
        protocol.data_received(server.send(AcceptConnection()))
        self.answer_subscribe()
        return transport

    def ws_requests(self) -> list[dict]:
        """Requests the client wrote since the last call, as JSON."""
        _, transport, server = self.ws[-1]
        for data in transport.written:
            server.receive_data(data)
        transport.written.clear()
        return [json.loads(e.data) for e in server.events() if isinstance(e, TextMessage)]

    def ws_reply(self, reply: dict) -> None:
        conn, _, server = self.ws[-1]
        conn.data_received(server.send(TextMessage(json.dumps(reply))))

    def answer_subscribe(self) -> None:
        (subscribe,) = self.ws_requests()
        assert subscribe["method"] == "userDataStream.subscribe.signature"
        if self.subscribe_error is not None:
            self.ws_reply({"id": subscribe["id"], "status": 400, "error": self.subscribe_error})
            return
        self.ws_reply({"id": subscribe["id"], "status": 200, "result": {"subscriptionId": 0}})

    def place(self, side: Side = Side.BUY, px: float = 91250.017, qty: float = 0.0012345, order_id: int = 1) -> dict:
        """Submit an order and return the order.place request it wrote."""
        self.submit(side, px, qty, order_id=order_id)
        (request,) = self.ws_requests()
        assert request["method"] == "order.place"
        return request


@pytest.fixture
def h() -> WsHarness:
    h = WsHarness()
    h.sync()     # REST ready: the WebSocket API connection opens and subscribes
    assert h.gw.user_stream.subscribed
    return h


def rate_limits(weight: int, orders: int) -> list[dict]:
    return [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000,
             "count": weight},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100, "count": orders}]


def test_order_goes_as_order_place_and_its_reply_fills_it(h):
    rest_writes = len(h.written)
    request = h.place()
    params = request["params"]
    assert request["id"] == params["newClientOrderId"]          # the reply names its order
    assert (params["side"], params["type"], params["timeInForce"]) == ("BUY", "LIMIT", "IOC")
    assert (params["quantity"], params["price"], params["newOrderRespType"]) == ("0.00123", "91250.01", "FULL")
    assert len(h.written) == rest_writes                          # nothing went over REST
    assert h.gw.busy
    h.ws_reply({"id": request["id"], "status": 200, "rateLimits": rate_limits(12, 3),
                "result": full_reply(request["id"], "0.00123000", "91250.01")})
    assert h.pipeline.statuses() == ["ACK", "FILLED"]
    assert (h.gw.rate_limits.used_weight_1m, h.gw.rate_limits.order_count_10s) == (12, 3)
    assert not h.gw.busy and h.gw.orders_sent == 1


def test_lost_connection_makes_orders_in_flight_unknown_and_rest_looks_them_up(h):
    request = h.place()
    conn, _, _ = h.ws[-1]
    conn.connection_lost(None)
    assert h.gw.registry.get(request["id"]).status.name == "UNKNOWN"
    assert h.written[-1].startswith(b"GET /api/v3/order?symbol=BTCUSDT&origClientOrderId=" + request["id"].encode())
    h.submit(Side.BUY, 91250.0, 0.002, order_id=2)                # while down: refused, not queued
    assert h.gw.local_rejections == {"disconnected": 1}
    h.reply(400, {"code": -2013, "msg": "Order does not exist."})
    assert h.pipeline.statuses() == ["REJECTED", "REJECTED"]      # the lookup said: never placed
    assert h.ws_requests() == []                                  # and it was not resent


def test_unanswered_order_times_out_into_a_lookup(h):
    request = h.place()
    h.reactor.advance_to(T0 + 3_000_000_000)                       # past the 2 s request timeout
    assert h.gw.registry.get(request["id"]).status.name == "UNKNOWN"
    assert b"origClientOrderId=" + request["id"].encode() in h.written[-1]
    assert h.ws_requests() == []                                  # never resent


def test_minus_1021_resyncs_over_rest_and_resends_the_same_order_once(h):
    first = h.place()
    h.ws_reply({"id": first["id"], "status": 400,
                "error": {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}})
    assert h.written[-1].startswith(b"GET /api/v3/time ") and h.pipeline.reports == []
    h.reactor.advance_to(T0 + 5_000_000)
    h.reply(200, {"serverTime": SERVER_MS + 1000})
    (again,) = h.ws_requests()
    assert again["id"] == first["id"] and again["params"]["timestamp"] != first["params"]["timestamp"]


def test_a_subscription_refused_for_its_signature_is_fatal_once_and_not_retried(caplog):
    h = WsHarness(subscribe_error={"code": -1022, "msg": "Signature for this request is not valid."})
    h.reply(200, {"serverTime": SERVER_MS})
    h.reply(200, load("exchange_info_btcusdt_ethusdt.json"))     # ready: the stream opens and subscribes
    assert len(h.ws) == 1 and h.gw.state is SessionState.FAILED
    assert h.fatal == ["binance refused the user data subscription with -1022: the signature is not valid for "
                       "this API key: check BINANCE_API_KEY and BINANCE_API_SECRET (or BINANCE_PRIVATE_KEY_FILE)"]
    h.reactor.advance_to(h.reactor.now() + 120_000_000_000)       # past every backoff: no new connection
    assert len(h.ws) == 1 and len(h.fatal) == 1
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []     # the engine says it, once


def test_an_order_place_refused_for_its_key_is_fatal(h):
    request = h.place()
    h.ws_reply({"id": request["id"], "status": 401, "error": {
        "code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}})
    assert h.pipeline.statuses()[-1] == "REJECTED" and h.gw.state is SessionState.FAILED
    assert len(h.fatal) == 1 and h.fatal[0].startswith("binance refused order.place with -2015: the API key is refused")


def test_an_order_count_429_on_the_ws_api_holds_orders_while_rest_queries_go_on(h):
    request = h.place()
    server_now = h.gw.clock.timestamp_ms(h.reactor.now())
    h.ws_reply({"id": request["id"], "status": 429, "error": {
        "code": -1015, "msg": "Too many new orders; current limit is 100 orders per 10 SECOND.",
        "data": {"serverTime": server_now, "retryAfter": server_now + 10_000}}})
    h.submit(Side.BUY, 91250.0, 0.002, order_id=2)
    assert h.gw.local_rejections == {"rate_limited": 1} and h.ws_requests() == []
    assert h.gw.cancel_open_orders() == 2
    assert h.written[-1].startswith(b"DELETE /api/v3/openOrders?symbol=BTCUSDT&")


def test_418_on_the_ws_api_halts_order_entry_and_says_so_at_once(h, caplog):
    request = h.place()
    server_now = h.gw.clock.timestamp_ms(h.reactor.now())
    h.ws_reply({"id": request["id"], "status": 418, "error": {
        "code": -1003, "msg": "Way too much request weight used; IP banned until 1795858800000.",
        "data": {"serverTime": server_now, "retryAfter": server_now + 120_000}}})
    assert [r.levelname for r in caplog.records if "binance banned this IP" in r.getMessage()] == ["ERROR"]
    h.submit(Side.BUY, 91250.0, 0.002, order_id=2)
    assert h.gw.local_rejections == {"rate_limited": 1} and h.ws_requests() == []


def test_429_blocks_order_entry_until_retry_after(h):
    request = h.place()
    server_now = h.gw.clock.timestamp_ms(h.reactor.now())
    h.ws_reply({"id": request["id"], "status": 429, "rateLimits": rate_limits(6100, 1),
                "error": {"code": -1003, "msg": "Too much request weight used; current limit is 6000 request "
                          "weight per 1 MINUTE.", "data": {"serverTime": server_now, "retryAfter": server_now + 3000}}})
    assert h.pipeline.statuses() == ["REJECTED"]
    h.submit(Side.BUY, 91250.0, 0.002, order_id=2)
    assert h.gw.local_rejections == {"rate_limited": 1} and h.ws_requests() == []
    h.reactor.advance_to(h.reactor.now() + 3_100_000_000)
    h.gw.rate_limits.used_weight["1m"] = 10                       # a fresh minute
    h.answer_reconciliation()
    h.place(order_id=3)                                           # past retryAfter: sent again


def test_a_rest_order_reply_and_a_ws_order_reply_are_the_same_facts():
    """REST and WS API transport turn the same venue reply into the same ExecReports."""
    rest, ws = Harness(), WsHarness()
    for h in (rest, ws):
        h.sync()
    rest.submit(Side.SELL, 91250.011, 0.002)
    client_id = form(rest.written[-1])["newClientOrderId"]
    rest.reply(200, full_reply(client_id, "0.00200000", "91250.02"))
    request = ws.place(Side.SELL, 91250.011, 0.002)
    ws.ws_reply({"id": request["id"], "status": 200, "result": full_reply(request["id"], "0.00200000", "91250.02")})
    assert facts(rest) == facts(ws) and len(facts(ws)) == 2


def facts(h: Harness) -> list[tuple]:
    return [(r.status, r.fill_px, r.fill_qty, r.trade_id) for r in h.pipeline.reports]

"""REST request bytes: the order template parses as a valid request on h11's server side, its
body is what signed_query gives for the same parameters, and the signature verifies."""
from __future__ import annotations

import hashlib
import hmac
import urllib.parse

import h11
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmabot.venues.binance.protocol import Credentials, OrderType, RespType, TimeInForce, WireSide, signed_query
from dmabot.venues.binance.protocol.rest_request import OrderTemplate, RequestError, RestRequests
from dmabot.venues.binance.protocol.signing import PreparedHmac

API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
HOST = "api.binance.com"
TS = 1795858200000
CID = "mx07lrk0-01-1-2s-2t"


@pytest.fixture
def creds() -> Credentials:
    return Credentials(API_KEY, SECRET)


def serve(wire: bytes) -> tuple[h11.Request, bytes]:
    """What a server sees: the parsed request and its whole body."""
    server = h11.Connection(h11.SERVER)
    server.receive_data(wire)
    request = server.next_event()
    assert isinstance(request, h11.Request)
    body = b""
    while True:
        event = server.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        else:
            assert isinstance(event, h11.EndOfMessage)
            break
    assert server.next_event() is h11.NEED_DATA   # nothing left over: framing was exact
    return request, body


def verify(body: bytes) -> list[tuple[str, str]]:
    payload, _, signature = body.rpartition(b"&signature=")
    assert hmac.compare_digest(signature.decode(), hmac.new(SECRET.encode(), payload, hashlib.sha256).hexdigest())
    return urllib.parse.parse_qsl(payload.decode(), strict_parsing=True)


CASES = [
    (WireSide.BUY, OrderType.LIMIT, TimeInForce.GTC, "0.002", "91250"),
    (WireSide.SELL, OrderType.LIMIT, TimeInForce.IOC, "0.05", "3150.01"),
    (WireSide.BUY, OrderType.LIMIT_MAKER, None, "0.00001", "91249.99"),
    (WireSide.SELL, OrderType.MARKET, None, "0.01", None),
]


@pytest.mark.parametrize(("side", "order_type", "tif", "qty", "px"), CASES)
def test_template_is_a_valid_signed_request(creds, side, order_type, tif, qty, px):
    wire = OrderTemplate(HOST, "BTCUSDT", creds).build(side, order_type, tif, qty, px, CID, TS)
    request, body = serve(wire)
    assert (request.method, request.target, request.http_version) == (b"POST", b"/api/v3/order", b"1.1")
    headers = dict(request.headers)
    assert headers[b"host"] == HOST.encode()
    assert headers[b"x-mbx-apikey"] == API_KEY.encode()
    assert headers[b"content-type"] == b"application/x-www-form-urlencoded"
    assert int(headers[b"content-length"]) == len(body)
    params = dict(verify(body))
    assert params["symbol"] == "BTCUSDT" and params["side"] == side and params["type"] == order_type
    assert params.get("timeInForce") == tif
    assert params.get("price") == px and params["quantity"] == qty
    assert params["newClientOrderId"] == CID and params["newOrderRespType"] == "RESULT"
    assert params["recvWindow"] == "5000" and params["timestamp"] == str(TS)


@pytest.mark.parametrize(("side", "order_type", "tif", "qty", "px"), CASES)
def test_template_body_equals_signed_query(creds, side, order_type, tif, qty, px):
    params = [("symbol", "BTCUSDT"), ("side", side.value), ("type", order_type.value)]
    if tif is not None:
        params.append(("timeInForce", tif.value))
    params.append(("quantity", qty))
    if px is not None:
        params.append(("price", px))
    params += [("newClientOrderId", CID), ("newOrderRespType", "ACK")]
    template = OrderTemplate(HOST, "BTCUSDT", creds, RespType.ACK, recv_window_ms=3000)
    body = template.body(side, order_type, tif, qty, px, CID, TS)
    assert body.decode() == signed_query(params, creds, TS, 3000)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.binary(max_size=300), st.binary(min_size=1, max_size=200))
def test_prepared_hmac_is_hmac(message, key):
    assert PreparedHmac(key).hexdigest(message) == hmac.new(key, message, hashlib.sha256).hexdigest()


@pytest.mark.parametrize(("order_type", "tif", "px"), [
    (OrderType.LIMIT, None, "1"),              # LIMIT needs a time in force
    (OrderType.LIMIT_MAKER, TimeInForce.GTC, "1"),   # -1106 on the exchange
    (OrderType.MARKET, TimeInForce.IOC, None),
    (OrderType.MARKET, None, "1"),             # MARKET takes no price
    (OrderType.LIMIT, TimeInForce.GTC, None),
    (OrderType.LIMIT, TimeInForce.GTC, "1e-5"),  # exponent: not grid text
    (OrderType.LIMIT, TimeInForce.GTC, "1.0.0"),
    (OrderType.STOP_LOSS, None, "1"),
])
def test_malformed_orders_are_refused(creds, order_type, tif, px):
    with pytest.raises(RequestError):
        OrderTemplate(HOST, "BTCUSDT", creds).build(WireSide.BUY, order_type, tif, "1", px, CID, TS)


@pytest.mark.parametrize("cid", ["", "a" * 37, "has space", "semi;colon", "ü"])
def test_bad_client_ids_are_refused(creds, cid):
    with pytest.raises(RequestError):
        OrderTemplate(HOST, "BTCUSDT", creds).build(WireSide.BUY, OrderType.MARKET, None, "1", None, cid, TS)


def test_bad_quantity_and_symbol_are_refused(creds):
    with pytest.raises(RequestError):
        OrderTemplate(HOST, "BTCUSDT", creds).build(WireSide.BUY, OrderType.MARKET, None, "-1", None, CID, TS)
    with pytest.raises(RequestError):
        OrderTemplate(HOST, "BTC USDT", creds)


# --- the other requests (h11 client side) ---------------------------------------------------

def signed_target(target: bytes) -> list[tuple[str, str]]:
    _, _, query = target.partition(b"?")
    return verify(query)


def test_rest_requests(creds):
    r = RestRequests(HOST, creds)
    cases = [
        (r.open_orders("BTCUSDT", TS), b"GET", b"/api/v3/openOrders", [("symbol", "BTCUSDT")]),
        (r.query_order("BTCUSDT", CID, TS), b"GET", b"/api/v3/order",
         [("symbol", "BTCUSDT"), ("origClientOrderId", CID)]),
        (r.cancel_order("ETHUSDT", TS, order_id=31877001990), b"DELETE", b"/api/v3/order",
         [("symbol", "ETHUSDT"), ("orderId", "31877001990")]),
        (r.cancel_order("ETHUSDT", TS, client_order_id=CID, cancel_client_order_id="c1"), b"DELETE",
         b"/api/v3/order", [("symbol", "ETHUSDT"), ("origClientOrderId", CID), ("newClientOrderId", "c1")]),
        (r.cancel_all("BTCUSDT", TS), b"DELETE", b"/api/v3/openOrders", [("symbol", "BTCUSDT")]),
        (r.account(TS), b"GET", b"/api/v3/account", [("omitZeroBalances", "true")]),
        (r.my_trades("BTCUSDT", TS, from_id=5290011351), b"GET", b"/api/v3/myTrades",
         [("symbol", "BTCUSDT"), ("fromId", "5290011351"), ("limit", "1000")]),
    ]
    for wire, method, path, params in cases:
        request, body = serve(wire)
        assert request.method == method and request.target.partition(b"?")[0] == path and body == b""
        assert dict(request.headers)[b"x-mbx-apikey"] == API_KEY.encode()
        assert signed_target(request.target) == [*params, ("recvWindow", "5000"), ("timestamp", str(TS))]


def test_server_time_is_public(creds):
    request, _ = serve(RestRequests(HOST, creds).server_time())
    assert request.target == b"/api/v3/time" and b"x-mbx-apikey" not in dict(request.headers)


def test_cancel_needs_an_id(creds):
    with pytest.raises(RequestError):
        RestRequests(HOST, creds).cancel_order("BTCUSDT", TS)


def test_ed25519_template_equals_signed_query():
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    creds = Credentials.ed25519(API_KEY, pem)
    params = [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
              ("quantity", "0.002"), ("price", "91250"), ("newClientOrderId", CID), ("newOrderRespType", "RESULT")]
    body = OrderTemplate(HOST, "BTCUSDT", creds).body(
        WireSide.BUY, OrderType.LIMIT, TimeInForce.GTC, "0.002", "91250", CID, TS)
    # Ed25519 signatures are deterministic, so the two must match byte for byte.
    assert body.decode() == signed_query(params, creds, TS, 5000)


def test_exchange_info_requests(creds):
    request, _ = serve(RestRequests(HOST, creds).exchange_info(["BTCUSDT", "ETHUSDT"]))
    assert request.target == b"/api/v3/exchangeInfo?symbols=%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D"
    assert b"x-mbx-apikey" not in dict(request.headers)
    request, _ = serve(RestRequests(HOST, creds).exchange_info())
    assert request.target == b"/api/v3/exchangeInfo"


@pytest.mark.parametrize("recv_window", [0, 60_001, True])
def test_recv_window_is_checked_once(creds, recv_window):
    with pytest.raises(RequestError):
        OrderTemplate(HOST, "BTCUSDT", creds, recv_window_ms=recv_window)

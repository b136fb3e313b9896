
"""The WebSocket API session, sans-IO: requests, replies matched by id, user data events,
the subscription's life across terminations and reconnects. Samples from tests/data/binance/."""
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.frame_protocol import FrameProtocol, Opcode

from dmabot.venues.binance.fast.order_writer import OrderPlaceWriter
from dmabot.venues.binance.protocol import Credentials
from dmabot.venues.binance.protocol.user_events import EventStreamTerminated, ExecutionReport, ServerShutdown
from dmabot.venues.binance.protocol.wire import OrderType, RespType, TimeInForce, WireSide
from dmabot.venues.binance.protocol.ws_api import (
    ORDER_PLACE_METHOD,
    SUBSCRIBE_METHOD,
    Reply,
    Subscription,
    Unmatched,
    WsApiSession,
)
from tests.helpers.paths import TEST_DATA
from tests.references.order_place import OrderPlaceTemplate

SAMPLES = TEST_DATA / "binance"
# Binance's published example key (not a real account's)
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


def sample(*parts: str) -> str:
    return (SAMPLES.joinpath(*parts)).read_text()


@pytest.fixture
def session() -> WsApiSession:
    return WsApiSession(Credentials(API_KEY, SECRET), id_prefix="uds-")


def test_subscribe_request_is_the_documented_one(session):
    assert session.needs_subscribe
    text = session.subscribe_user_data(1795858200000)
    assert json.loads(text) == json.loads(sample("ws_api", "user_data_subscribe_signature_request.json"))
    assert session.subscription is Subscription.PENDING and not session.needs_subscribe
    assert session.pending_requests == {"uds-1": SUBSCRIBE_METHOD}


def test_subscribe_reply_activates_then_events_flow(session):
    session.subscribe_user_data(1795858200000)
    reply = session.receive_text(sample("ws_api", "user_data_subscribe_response.json"))
    assert isinstance(reply, Reply) and reply.method == SUBSCRIBE_METHOD and reply.response.ok
    assert (session.subscription, session.subscription_id) == (Subscription.ACTIVE, 0)
    assert session.pending_requests == {}
    for name in ("execution_report_new.json", "execution_report_partially_filled.json",
                 "execution_report_filled.json"):
        event = session.receive_text(sample("user_data", name))
        assert isinstance(event, ExecutionReport) and event.subscription_id == 0


def test_terminated_stream_asks_for_a_new_subscription(session):
    session.subscribe_user_data(1)
    session.receive_text(sample("ws_api", "user_data_subscribe_response.json"))
    event = session.receive_text(sample("user_data", "event_stream_terminated.json"))
    assert isinstance(event, EventStreamTerminated)
    assert session.needs_subscribe and session.subscription_id is None


def test_failed_subscribe_can_be_retried(session):
    session.subscribe_user_data(1)
    error = json.loads(sample("ws_api", "error_invalid_signature.json"))
    error["id"] = "uds-1"
    reply = session.receive_text(json.dumps(error))
    assert isinstance(reply, Reply) and not reply.response.ok
    assert reply.response.error.code == -1022
    assert session.needs_subscribe


def test_connection_lost_makes_pending_requests_unknown_and_drops_the_subscription(session):
    session.subscribe_user_data(1)
    session.receive_text(sample("ws_api", "user_data_subscribe_response.json"))
    session.request("order.place", {"symbol": "BTCUSDT"}, signed_at_ms=2)
    session.request("time")
    assert sorted(session.connection_lost().values()) == ["order.place", "time"]
    assert session.needs_subscribe and session.pending_requests == {}


def test_unsigned_and_signed_requests(session):
    request_id, text = session.request("time")
    assert json.loads(text) == {"id": request_id, "method": "time"}
    _, text = session.request("order.status", {"symbol": "BTCUSDT", "orderId": 7}, signed_at_ms=1645423376532)
    params = json.loads(text)["params"]
    assert list(params) == ["apiKey", "orderId", "symbol", "timestamp", "signature"]
    assert params["orderId"] == 7 and SECRET not in text


def test_server_shutdown_unknown_replies_and_garbage(session):
    assert isinstance(session.receive_text(sample("ws_api", "server_shutdown.json")), ServerShutdown)
    stray = session.receive_text('{"id":"nope","status":200,"result":{}}')
    assert isinstance(stray, Unmatched) and "unknown request id" in stray.why
    assert isinstance(session.receive_text("{not json"), Unmatched)
    assert isinstance(session.receive_text('{"id":1}'), Unmatched)


# --- order.place from the prepared template -------------------------------------------------

ORDER_CASES = [
    (WireSide.BUY, OrderType.LIMIT, TimeInForce.IOC, "0.00123", "91250.01"),
    (WireSide.SELL, OrderType.LIMIT, TimeInForce.GTC, "0.01", "52000"),
    (WireSide.SELL, OrderType.LIMIT_MAKER, None, "1.5", "3150.2"),
    (WireSide.BUY, OrderType.MARKET, None, "0.0001", None),
]


@pytest.mark.parametrize("credentials", ["hmac", "ed25519"])
@pytest.mark.parametrize("side,order_type,tif,qty,px", ORDER_CASES)
def test_order_place_template_signs_what_the_session_signs(credentials, side, order_type, tif, qty, px):
    creds = Credentials(API_KEY, SECRET) if credentials == "hmac" else ed25519_credentials()
    template = OrderPlaceTemplate("BTCUSDT", creds, RespType.FULL, recv_window_ms=100)
    built = json.loads(template.build(side, order_type, tif, qty, px, "x1-0-2-3", 1645423376532))
    params = {"symbol": "BTCUSDT", "side": side.value, "type": order_type.value, "quantity": qty,
              "newClientOrderId": "x1-0-2-3", "newOrderRespType": "FULL"}
    if tif is not None:
        params["timeInForce"] = tif.value
    if px is not None:
        params["price"] = px
    expected = json.loads(WsApiSession(creds, recv_window_ms=100).request(
        ORDER_PLACE_METHOD, params, signed_at_ms=1645423376532)[1])
    assert built["id"] == "x1-0-2-3" and built["method"] == ORDER_PLACE_METHOD
    names = list(built["params"])
    assert names == sorted(names[:-1]) + ["signature"]  # sorted, as Binance documents them
    assert built["params"] == expected["params"]


def test_order_place_writer_refuses_what_binance_would():
    writer = OrderPlaceWriter("BTCUSDT", Credentials(API_KEY, SECRET))
    with pytest.raises(ValueError, match="timeInForce"):
        writer.build(WireSide.BUY, OrderType.MARKET, TimeInForce.IOC, "1", None, "a", 1)
    with pytest.raises(ValueError, match="needs price"):
        writer.build(WireSide.BUY, OrderType.LIMIT, TimeInForce.IOC, "1", None, "a", 1)
    with pytest.raises(ValueError, match="takes no price"):
        writer.build(WireSide.BUY, OrderType.MARKET, None, "1", "5", "a", 1)
    with pytest.raises(ValueError, match="timestamp"):
        writer.build(WireSide.BUY, OrderType.MARKET, None, "1", None, "a", 0)
    with pytest.raises(ValueError, match="symbol"):
        OrderPlaceWriter("BTC/USDT", Credentials(API_KEY, SECRET))
    for qty, px in (("1e-5", "1"), ("1", '1","x":"'), ("", "1"), ("1.0.0", "1"), ("-1", "1")):
        with pytest.raises(ValueError, match="plain decimal"):
            writer.build(WireSide.BUY, OrderType.LIMIT, TimeInForce.GTC, qty, px, "a", 1)
    for cid in ("", "a" * 37, 'x"}', "has space", "ü"):
        with pytest.raises(ValueError, match="newClientOrderId"):
            writer.build(WireSide.BUY, OrderType.MARKET, None, "1", None, cid, 1)


COMBOS = [(WireSide(side), OrderType(t), None if tif is None else TimeInForce(tif))
          for side in ("BUY", "SELL")
          for t, tifs in (("LIMIT", ("GTC", "IOC", "FOK")), ("LIMIT_MAKER", (None,)), ("MARKET", (None,)))
          for tif in tifs]
NUMBER = st.from_regex(r"[0-9]{1,12}(\.[0-9]{1,8})?", fullmatch=True)
CLIENT_ID = st.from_regex(r"[A-Za-z0-9_-]{1,36}", fullmatch=True)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(combo=st.sampled_from(COMBOS), qty=NUMBER, px=NUMBER, client_id=CLIENT_ID,
       ts=st.integers(1, 2**62), resp=st.sampled_from(list(RespType)), recv=st.integers(1, 60000),
       ed25519=st.booleans())
def test_order_place_writer_writes_the_reference_bytes(combo, qty, px, client_id, ts, resp, recv, ed25519):
    creds = ED25519 if ed25519 else Credentials(API_KEY, SECRET)
    side, order_type, tif = combo
    price = None if order_type is OrderType.MARKET else px
    writer = OrderPlaceWriter("ETHUSDT", creds, resp.value, recv)
    reference = OrderPlaceTemplate("ETHUSDT", creds, resp, recv)
    built = writer.build(side, order_type, tif, qty, price, client_id, ts)
    assert built == reference.build(side, order_type, tif, qty, price, client_id, ts)
    frames = FrameProtocol(client=False, extensions=[])     # the server's side reads the frame
    frames.receive_bytes(writer.frame(side, order_type, tif, qty, price, client_id, ts))
    (frame,) = frames.received_frames()
    assert frame.opcode is Opcode.TEXT and frame.message_finished and frame.payload == built.decode()


def test_order_ids_registered_with_expect_reply_match_their_replies(session):
    session.expect_reply("x1-0-2-3", ORDER_PLACE_METHOD)
    reply = session.receive_text('{"id":"x1-0-2-3","status":400,"error":{"code":-2010,'
                                 '"msg":"Account has insufficient balance for requested action."}}')
    assert isinstance(reply, Reply) and reply.method == ORDER_PLACE_METHOD
    assert reply.response.error.code == -2010 and session.pending_requests == {}


def ed25519_credentials() -> Credentials:
    """A fresh Ed25519 key (its signatures are deterministic: RFC 8032)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return Credentials.ed25519(API_KEY, pem)


ED25519 = ed25519_credentials()

"""BinanceGateway without sockets (the harness is tests/helpers/gateway_harness.py): what goes
on the wire and what reaches the pipeline, for the paths the simulator test does not force:
-1021, timeouts resolved by query, connections lost with requests queued."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from dmabot.app.config import ConfigError, parse_config
from dmabot.core.types import Side
from dmabot.venues.binance.protocol.signing import Credentials
from dmabot.venues.binance.protocol.wire import OrderType, TimeInForce
from dmabot.venues.binance.protocol.ws_api import parse_ws_api_message
from dmabot.venues.binance.session import SessionState, UserEventReceived, UserSubscribed
from dmabot.venues.binance.settings import GatewaySettings, rest_target
from tests.helpers.gateway_harness import DATA, SERVER_MS, T0, Harness, form, full_reply, http, load


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_orders_before_ready_are_rejected_locally_and_not_sent(h):
    sent = len(h.written)
    h.submit(Side.BUY, 91250.0, 0.002)
    assert h.pipeline.statuses() == ["REJECTED"] and len(h.written) == sent
    assert h.gw.local_rejections == {"not_ready": 1}


def test_order_is_rounded_sent_as_ioc_and_its_fill_reported(h):
    h.sync()
    h.submit(Side.BUY, 91250.017, 0.0012345)
    sent = form(h.written[-1])
    assert h.written[-1].startswith(b"POST /api/v3/order HTTP/1.1\r\nHost: api.test\r\n")
    assert (sent["side"], sent["type"], sent["timeInForce"]) == ("BUY", "LIMIT", "IOC")
    assert (sent["quantity"], sent["price"], sent["newOrderRespType"]) == ("0.00123", "91250.01", "FULL")
    client_id = sent["newClientOrderId"]
    assert h.gw.registry.get(client_id).status.name == "PENDING_NEW"  # registered before the reply
    h.reply(200, full_reply(client_id, "0.00123000", "91250.01"))
    assert h.pipeline.statuses() == ["ACK", "FILLED"]
    fill = h.pipeline.reports[-1]
    assert fill.fill_px == 91250.01 and fill.fill_qty == pytest.approx(0.00122900)  # BTC commission taken off
    assert h.gw.rate_limits.used_weight_1m == 7


def test_sell_price_rounds_up_and_filter_failures_stay_local(h):
    h.sync()
    h.submit(Side.SELL, 91250.011, 0.002)
    assert form(h.written[-1])["price"] == "91250.02"
    sent = len(h.written)
    h.submit(Side.BUY, 91250.0, 0.000001, order_id=2)  # below minQty: rounds to 0
    assert len(h.written) == sent and h.gw.local_rejections == {"LOT_SIZE": 1}
    assert h.pipeline.statuses()[-1] == "REJECTED"


def test_minus_1021_resyncs_the_clock_and_resends_once(h):
    h.sync()
    h.submit(Side.BUY, 91250.0, 0.002)
    first = form(h.written[-1])
    h.reply(400, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."})
    assert h.written[-1].startswith(b"GET /api/v3/time ") and h.pipeline.reports == []
    h.reactor.advance_to(T0 + 5_000_000)
    h.reply(200, {"serverTime": SERVER_MS + 1000})
    again = form(h.written[-1])
    assert again["newClientOrderId"] == first["newClientOrderId"] and again["timestamp"] != first["timestamp"]
    h.reply(400, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."})
    assert h.pipeline.statuses() == ["REJECTED"]  # the second -1021 is not retried


def test_venue_rejection_is_reported(h):
    h.sync()
    h.submit(Side.BUY, 91250.0, 0.002)
    h.reply(400, {"code": -2010, "msg": "Account has insufficient balance for requested action."})
    assert h.pipeline.statuses() == ["REJECTED"] and h.gw.venue_rejections == 1


def test_timeout_makes_the_order_unknown_and_a_query_resolves_it(h):
    h.sync()
    h.submit(Side.BUY, 91250.0, 0.002)
    client_id = form(h.written[-1])["newClientOrderId"]
    h.reactor.advance_to(T0 + 3_000_000_000)  # past the 2 s request timeout
    assert h.gw.registry.get(client_id).status.name == "UNKNOWN"
    assert h.connections[-1][1].closed  # a late reply must not be paired with the next request
    h.protocol.connection_lost(None)
    assert h.gw.state is SessionState.WAITING
    h.reactor.advance_to(T0 + 4_000_000_000)  # backoff over: reconnected, clock first
    assert len(h.connections) == 2 and h.gw.reconnects == 1
    h.sync()
    query = h.written[-1]
    assert query.startswith(b"GET /api/v3/order?symbol=BTCUSDT&origClientOrderId=" + client_id.encode())
    assert not any(w.startswith(b"POST") for w in h.written)  # never resent
    state = load("query_order.json")
    state.update(clientOrderId=client_id, status="FILLED", executedQty="0.00200000", isWorking=False)
    h.reply(200, state)
    assert h.written[-1].startswith(b"GET /api/v3/myTrades?symbol=BTCUSDT&orderId=52874619233")
    h.reply(200, load("my_trades.json"))
    assert h.pipeline.statuses() == ["ACK", "PARTIALLY_FILLED", "FILLED"]
    assert sum(r.fill_qty for r in h.pipeline.reports) == pytest.approx(0.002 - 0.000002)


def test_query_not_found_means_never_placed(h):
    h.sync()
    h.submit(Side.BUY, 91250.0, 0.002)
    h.reply(503, {"code": -1007, "msg": "Timeout waiting for response from backend server."})
    assert h.pipeline.reports == []
    h.reactor.advance_to(T0 + 600_000_000)  # housekeeping asks
    assert b"origClientOrderId=" in h.written[-1]
    h.reply(400, {"code": -2013, "msg": "Order does not exist."})
    assert h.pipeline.statuses() == ["REJECTED"]


def test_1021_on_a_query_resyncs_the_clock_and_asks_again(h):
    h.sync()
    h.submit(Side.BUY, 91250.0, 0.002)
    h.reply(503, {"code": -1007, "msg": "Timeout waiting for response from backend server."})
    h.reactor.advance_to(T0 + 600_000_000)  # housekeeping asks
    assert b"origClientOrderId=" in h.written[-1]
    h.reply(400, {"code": -1021, "msg": "Timestamp for this request was 1000ms ahead of the server's time."})
    assert h.written[-1].startswith(b"GET /api/v3/time ")
    h.reply(200, {"serverTime": SERVER_MS})
    h.reactor.advance_to(T0 + 1_200_000_000)  # the next housekeeping asks again
    assert b"origClientOrderId=" in h.written[-1]
    assert sum(w.startswith(b"POST /api/v3/order ") for w in h.written) == 1   # never resent


def test_past_half_a_rate_limit_orders_are_paced(h):
    h.sync()
    limits = h.gw.rate_limits
    assert limits.weight_limit_1m == 6000     # from the sample exchangeInfo
    limits.used_weight["1m"] = 3500           # as the last reply's header said: past half
    h.submit(Side.BUY, 91250.0, 0.002)
    assert h.written[-1].startswith(b"POST /api/v3/order ")       # the first goes
    h.reply(200, full_reply(form(h.written[-1])["newClientOrderId"], "0.00200000", "91250.00000000"))
    limits.used_weight["1m"] = 3500
    sent = len(h.written)
    h.submit(Side.BUY, 91250.0, 0.002, order_id=2)                  # a second within the second: refused
    assert len(h.written) == sent and h.gw.local_rejections == {"slowing_down": 1}
    h.reactor.advance_to(h.reactor.now() + 1_000_000_000)
    limits.used_weight["1m"] = 3500
    h.submit(Side.BUY, 91250.0, 0.002, order_id=3)                  # a second later: sent
    assert h.written[-1].startswith(b"POST /api/v3/order ")


def test_lost_connection_rejects_while_down(h):
    h.sync()
    h.submit(Side.BUY, 91250.0, 0.002)
    client_id = form(h.written[-1])["newClientOrderId"]
    h.protocol.connection_lost(None)
    assert h.gw.registry.get(client_id).status.name == "UNKNOWN"
    h.submit(Side.BUY, 91250.0, 0.002, order_id=2)
    assert h.gw.local_rejections == {"disconnected": 1}


def test_unknown_symbol_is_found_and_named(h):
    fatal = []
    h.gw.on_fatal = fatal.append
    h.reply(200, {"serverTime": SERVER_MS})
    h.reply(400, {"code": -1121, "msg": "Invalid symbol."})
    # asked one by one (one request in flight at a time) to find which: BTCUSDT is listed, ETHUSDT not
    assert h.written[-1].split(b" ")[1] == b"/api/v3/exchangeInfo?symbols=%5B%22BTCUSDT%22%5D"
    h.reply(200, load("exchange_info_btcusdt_ethusdt.json"))
    assert h.written[-1].split(b" ")[1] == b"/api/v3/exchangeInfo?symbols=%5B%22ETHUSDT%22%5D"
    assert h.gw.state is SessionState.SYNCING
    h.reply(400, {"code": -1121, "msg": "Invalid symbol."})
    assert h.gw.state is SessionState.FAILED
    assert fatal and "SYMBOLS: ETHUSDT not listed" in fatal[0]


def test_rest_target():
    assert rest_target("https://testnet.binance.vision").host_header == "testnet.binance.vision"
    assert rest_target("https://127.0.0.1:9443") == rest_target("https://127.0.0.1:9443/")
    assert rest_target("https://127.0.0.1:9443").host_header == "127.0.0.1:9443"
    with pytest.raises(ValueError):
        rest_target("wss://x/ws")


BASE = {"SYMBOLS": "BTCUSDT", "BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s"}


def test_config_sandbox_venue_defaults_its_rest_url():
    cfg = parse_config(dict(BASE, VENUE_MODE="binance_sandbox"))
    assert cfg.binance.rest_url == "https://testnet.binance.vision"


def test_config_sandbox_venue_needs_keys():
    with pytest.raises(ConfigError, match="BINANCE_API_KEY is required"):
        parse_config({"SYMBOLS": "BTCUSDT", "VENUE_MODE": "binance_sandbox"})


@pytest.mark.parametrize("missing", ["MAX_NOTIONAL", "PX_MIN", "PX_MAX", "MAX_QPS"])
def test_config_mainnet_needs_confirmation_and_explicit_risk(missing):
    risk = {"MAX_NOTIONAL": "100", "PX_MIN": "1", "PX_MAX": "200000", "MAX_QPS": "1"}
    with pytest.raises(ConfigError, match="CONFIRM_MAINNET=yes"):
        parse_config(dict(BASE, VENUE_MODE="binance_mainnet", **risk))
    del risk[missing]
    with pytest.raises(ConfigError, match=f"^{missing} must be given explicitly"):
        parse_config(dict(BASE, VENUE_MODE="binance_mainnet", CONFIRM_MAINNET="yes", **risk))
    risk[missing] = "5"
    cfg = parse_config(dict(BASE, VENUE_MODE="binance_mainnet", CONFIRM_MAINNET="yes", **risk))
    assert cfg.binance.rest_url == "https://api.binance.com"


def test_replay_of_a_binance_venue_recording_asks_for_the_mock_venues(tmp_path):
    from dmabot.app.replay import ReplayError, replay_config

    path = tmp_path / "rec.jsonl"
    path.write_text(json.dumps({"Header": {"config": {"SYMBOLS": "BTCUSDT", "VENUE_MODE": "binance_sandbox"}}}) + "\n")
    with pytest.raises(ReplayError, match="--set VENUE_MODE=mock"):
        replay_config(path, None, {})
    assert replay_config(path, None, {"VENUE_MODE": "mock"}).venue_mode.value == "mock"


def test_busy_while_a_request_is_unanswered(h):
    h.sync()
    assert not h.gw.busy
    h.submit(Side.BUY, 91250.0, 0.002)
    assert h.gw.busy
    h.reply(400, {"code": -2010, "msg": "Account has insufficient balance for requested action."})
    assert not h.gw.busy


def test_exchange_info_without_a_symbol_fails_naming_it(h):
    fatal = []
    h.gw.on_fatal = fatal.append
    info = load("exchange_info_btcusdt_ethusdt.json")
    info["symbols"] = [s for s in info["symbols"] if s["symbol"] == "BTCUSDT"]
    h.reply(200, {"serverTime": SERVER_MS})
    h.reply(200, info)
    assert h.gw.state is SessionState.FAILED and "SYMBOLS: ETHUSDT not listed" in fatal[0]


def user_event(name: str):
    return parse_ws_api_message(json.loads((DATA.parent / "user_data" / name).read_text()))


def test_balances_come_from_the_account_then_from_user_events(h):
    h.sync()
    balances = {b.asset: (b.free, b.locked) for b in h.gw.balances.balances()}
    assert balances["USDT"] == (Decimal("8913.39745"), Decimal("109.5")) and len(balances) == 3
    h.gw.feed(UserEventReceived(user_event("outbound_account_position.json"), h.reactor.now()))
    h.gw.feed(UserEventReceived(user_event("balance_update.json"), h.reactor.now()))
    assert {b.asset: b.free for b in h.gw.balances.balances()}["USDT"] == Decimal("8783.39745")
    # after a reconnect the reconciliation asks for a snapshot again
    h.protocol.connection_lost(None)
    h.reactor.advance_to(T0 + 1_000_000_000)
    h.reply(200, {"serverTime": SERVER_MS})
    asked = []
    while h.gw.rest.in_flight is not None:
        asked.append(h.written[-1].split(b"?")[0])
        newer = dict(load("account.json"), updateTime=1795858400000,
                     balances=[{"asset": "USDT", "free": "9000.00000000", "locked": "0.00000000"}])
        h.reply(200, newer if asked[-1] == b"GET /api/v3/account" else [])
    assert asked.count(b"GET /api/v3/account") == 1
    assert {b.asset: (b.free, b.locked) for b in h.gw.balances.balances()} == {
        "BTC": (0, 0), "ETH": (0, 0), "USDT": (Decimal(9000), 0)}


def resubscribe(h: Harness) -> None:
    """The user data stream subscribed, then again after an outage."""
    h.gw.feed(UserSubscribed(h.reactor.now()))
    h.gw.feed(UserSubscribed(h.reactor.now()))


def test_429_stops_every_request_until_retry_after_and_says_so_once(h, caplog):
    caplog.set_level("INFO")
    h.sync()
    h.submit(Side.BUY, 91250.0, 0.002)
    h.protocol.data_received(http(429, {"code": -1003, "msg": "Too much request weight used"}, (("Retry-After", "3"),)))
    assert h.pipeline.statuses() == ["REJECTED"] and h.gw.venue_rejections == 1
    sent = len(h.written)
    h.submit(Side.BUY, 91250.0, 0.002, order_id=2)
    resubscribe(h)                                            # a resubscription asks to reconcile
    h.reactor.advance_to(h.reactor.now() + 2_900_000_000)     # housekeeping, queries, resyncs: all wait
    assert len(h.written) == sent and h.gw.local_rejections == {"rate_limited": 1}
    assert h.gw.cancel_open_orders() == 0 and len(h.written) == sent     # not even the cancels at exit
    assert caplog.text.count("rate limit hit (HTTP 429): no requests for 3 s (Retry-After)") == 1
    h.reactor.advance_to(h.reactor.now() + 200_000_000)       # the wait is over: the reconciliation runs
    assert "rate-limit wait over: order entry resumes" in caplog.text
    assert h.written[-1].startswith(b"GET /api/v3/myTrades?symbol=BTCUSDT&")
    h.answer_reconciliation()
    h.submit(Side.BUY, 91250.0, 0.002, order_id=3)
    assert h.written[-1].startswith(b"POST /api/v3/order ")


def test_418_is_one_error_line_and_a_halt_until_the_ban_lifts(h, caplog):
    h.sync()
    h.submit(Side.BUY, 91250.0, 0.002)
    h.protocol.data_received(http(418, {"code": -1003, "msg": "Way too much request weight used; IP banned"},
                                  (("Retry-After", "120"),)))
    sent = len(h.written)
    for i in range(2, 6):                                      # orders keep coming, for two minutes
        h.reactor.advance_to(h.reactor.now() + 25_000_000_000)
        h.submit(Side.BUY, 91250.0, 0.002, order_id=i)
    assert h.gw.local_rejections == {"rate_limited": 4} and h.gw.ready
    assert len(h.written) == sent                              # nor a clock resync, though one fell due
    assert h.gw.cancel_open_orders() == 0                      # not even the cancels at exit
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == [
        "binance banned this IP (HTTP 418): no requests, no orders for 120 s",
        "cannot cancel open orders at exit: binance asked for no requests for 20 s more (HTTP 429/418): "
        "check the account"]
    h.reactor.advance_to(h.reactor.now() + 20_000_000_000)
    h.sync()                                                   # the clock resync that fell due meanwhile
    h.submit(Side.BUY, 91250.0, 0.002, order_id=6)
    assert h.written[-1].startswith(b"POST /api/v3/order ")


def test_a_reconciliation_refused_with_429_runs_again_after_the_wait(h):
    h.sync()
    resubscribe(h)
    assert h.written[-1].startswith(b"GET /api/v3/myTrades?symbol=BTCUSDT&")
    h.protocol.data_received(http(429, {"code": -1003, "msg": "Too much request weight used"}, (("Retry-After", "1"),)))
    assert h.gw.rest.in_flight is None          # the rest of it was not written into the wait
    h.reactor.advance_to(h.reactor.now() + 1_100_000_000)
    assert h.written[-1].startswith(b"GET /api/v3/myTrades?symbol=BTCUSDT&")
    h.answer_reconciliation()
    assert [w.split(b"?")[0] for w in h.written[-5:]] == [
        b"GET /api/v3/myTrades", b"GET /api/v3/openOrders", b"GET /api/v3/myTrades", b"GET /api/v3/openOrders",
        b"GET /api/v3/account"]


def test_429_for_the_order_count_holds_new_orders_while_queries_and_cancels_go_on(h, caplog):
    caplog.set_level("INFO")
    h.sync()
    h.submit(Side.BUY, 91250.0, 0.002)
    h.protocol.data_received(http(429, {"code": -1015, "msg": "Too many new orders; current limit is 200000 "
                                        "orders per 1 DAY."}, (("Retry-After", "7200"),)))
    assert h.pipeline.statuses() == ["REJECTED"]
    sent = len(h.written)
    h.submit(Side.BUY, 91250.0, 0.002, order_id=2)
    assert len(h.written) == sent and h.gw.local_rejections == {"rate_limited": 1}
    resubscribe(h)                                  # the reconciliation is queries: it goes out
    assert h.written[-1].startswith(b"GET /api/v3/myTrades?symbol=BTCUSDT&")
    h.answer_reconciliation()
    assert h.gw.cancel_open_orders() == 2           # and so do the cancels at exit
    assert h.written[-1].startswith(b"DELETE /api/v3/openOrders?symbol=BTCUSDT&")
    assert caplog.text.count("order rate limit hit (HTTP 429 -1015): no new orders for 7200 s") == 1
    h.reply(400, {"code": -2011, "msg": "Unknown order sent."})
    assert h.written[-1].startswith(b"DELETE /api/v3/openOrders?symbol=ETHUSDT&")
    h.reply(400, {"code": -2011, "msg": "Unknown order sent."})
    h.reactor.advance_to(h.reactor.now() + 7200_000_000_000)
    assert "rate-limit wait over: order entry resumes" in caplog.text


@pytest.mark.parametrize("code, problem", [
    (-2015, "the API key is refused"), (-2014, "the API key is not in a valid format"),
    (-1022, "the signature is not valid for this API key")])
def test_refused_credentials_on_a_signed_request_are_fatal_once(h, caplog, code, problem):
    h.reply(200, {"serverTime": SERVER_MS})
    h.reply(200, load("exchange_info_btcusdt_ethusdt.json"))
    assert h.written[-1].startswith(b"GET /api/v3/myTrades?")        # the first signed request
    sent = len(h.written)
    h.reply(401 if code != -1022 else 400, {"code": code, "msg": "Invalid API-key, IP, or permissions for action."})
    assert h.gw.state is SessionState.FAILED and len(h.fatal) == 1
    assert problem in h.fatal[0] and "BINANCE_API_KEY" in h.fatal[0] and "secret" not in h.fatal[0].lower().replace(
        "binance_api_secret", "")
    h.reactor.advance_to(h.reactor.now() + 120_000_000_000)          # no retry, no reconnect
    assert len(h.connections) == 1 and len(h.written) == sent and len(h.fatal) == 1
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []     # the engine says it, once


def test_an_order_refused_for_its_key_is_rejected_and_fatal(h):
    h.sync()
    h.submit(Side.BUY, 91250.0, 0.002)
    h.reply(401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
    assert h.pipeline.statuses() == ["REJECTED"] and h.gw.state is SessionState.FAILED
    assert h.fatal == ["binance refused a signed request (order) with -2015: the API key is refused (unknown, not "
                       "allowed from this IP, or without the permission this request needs): check BINANCE_API_KEY "
                       "and BINANCE_API_SECRET (or BINANCE_PRIVATE_KEY_FILE)"]


def test_reply_bodies_are_logged_as_text_not_bytes_reprs(h, caplog):
    h.protocol.data_received(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 22\r\n\r\n<html>it's down</html>")
    assert "GET /api/v3/time failed status=502 body=<html>it's down</html>" in caplog.text
    assert "b'" not in caplog.text and 'b"' not in caplog.text


def test_absurd_values_are_rejected_locally_without_raising(h):
    h.sync()
    sent = len(h.written)
    h.submit(Side.BUY, float("nan"), 0.002)
    h.submit(Side.BUY, 91250.0, 1e300, order_id=2)
    h.submit(Side.SELL, -5.0, 0.002, order_id=3)
    assert len(h.written) == sent and h.pipeline.statuses() == ["REJECTED"] * 3
    assert h.gw.local_rejections == {"invalid": 2, "LOT_SIZE": 1}


@pytest.mark.parametrize(("order_type", "tif"), [(OrderType.MARKET, None), (OrderType.LIMIT, TimeInForce.GTC)])
def test_the_configured_order_type_is_what_is_sent(order_type, tif):
    h = Harness(order_type=order_type, time_in_force=tif)
    h.sync()
    h.submit(Side.BUY, 91250.017, 0.0012345)
    sent = form(h.written[-1])
    assert (sent["type"], sent.get("timeInForce"), sent["quantity"]) == (order_type.value, tif and tif.value, "0.00123")
    assert ("price" in sent) is (order_type is OrderType.LIMIT)


def test_a_market_order_below_min_notional_at_the_mid_stays_local():
    h = Harness(order_type=OrderType.MARKET, time_in_force=None)
    h.sync()
    sent = len(h.written)
    h.submit(Side.BUY, 91250.0, 0.00005)           # 4.56 USDT at the mid: below NOTIONAL minNotional 5
    assert len(h.written) == sent and h.gw.local_rejections == {"NOTIONAL": 1}


def test_orders_are_limit_with_a_time_in_force_or_market():
    for order_type, tif in ((OrderType.LIMIT, None), (OrderType.MARKET, TimeInForce.IOC),
                            (OrderType.LIMIT_MAKER, None)):
        with pytest.raises(ValueError, match="LIMIT with a time in force or MARKET"):
            GatewaySettings("https://api.test", None, Credentials("key", "secret"), order_type=order_type,
                            time_in_force=tif)

"""REST replies, error bodies, WebSocket API responses and user-data events, parsed from the
samples into typed records with exact Decimals."""
from __future__ import annotations

import copy
import dataclasses
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmabot.venues.binance.protocol import (
    AccountPosition,
    ApiError,
    BalanceUpdate,
    ErrorCode,
    EventStreamTerminated,
    ExecType,
    ExecutionReport,
    OrderStatus,
    OrderType,
    ParseError,
    RateLimitType,
    RespType,
    ServerShutdown,
    TimeInForce,
    UnknownEvent,
    WireSide,
    WsApiResponse,
    is_error_body,
    parse_account,
    parse_api_error,
    parse_cancel_open_orders,
    parse_cancel_response,
    parse_my_trades,
    parse_open_orders,
    parse_order,
    parse_order_response,
    parse_user_event,
    parse_ws_api_message,
)
from tests.helpers.paths import TEST_DATA

DATA = TEST_DATA / "binance"
PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)
D = Decimal


def load(*parts: str):
    return json.loads(DATA.joinpath(*parts).read_text())


def user(name: str):
    return parse_ws_api_message(load("user_data", name))


# --- REST order replies --------------------------------------------------------------------

def test_order_ack():
    r = parse_order_response(load("rest", "order_limit_ack.json"))
    assert r.resp_type is RespType.ACK
    assert (r.symbol, r.order_id, r.order_list_id, r.client_order_id, r.transact_time) == (
        "BTCUSDT", 52874619233, None, "eng-20261128-000001", 1795858201000)
    assert r.status is None and r.fills == () and r.avg_price is None


def test_order_result_and_full_resting():
    result = parse_order_response(load("rest", "order_limit_result_new.json"))
    full = parse_order_response(load("rest", "order_limit_full_new_resting.json"))
    assert (result.resp_type, full.resp_type) == (RespType.RESULT, RespType.FULL)
    for r in (result, full):
        assert (r.status, r.side, r.order_type, r.time_in_force) == (
            OrderStatus.NEW, WireSide.BUY, OrderType.LIMIT, TimeInForce.GTC)
        assert (r.price, r.orig_qty, r.executed_qty, r.cum_quote_qty) == (D("91250"), D("0.002"), 0, 0)
        assert r.working_time == 1795858201000 and r.stp_mode == "EXPIRE_MAKER" and r.fills == ()
        assert r.avg_price is None


def test_order_market_full_fills_are_exact():
    r = parse_order_response(load("rest", "order_market_full_filled.json"))
    assert r.status is OrderStatus.FILLED and r.status.is_final and r.order_type is OrderType.MARKET
    assert [(f.price, f.qty, f.commission, f.commission_asset, f.trade_id) for f in r.fills] == [
        (D("91250.00"), D("0.004"), D("0.000004"), "BTC", 5290011201),
        (D("91250.01"), D("0.0035"), D("0.0000035"), "BTC", 5290011202),
        (D("91250.27"), D("0.0025"), D("0.0000025"), "BTC", 5290011203),
    ]
    # exact sums: what a float accumulation would not give
    assert sum(f.qty for f in r.fills) == r.executed_qty == D("0.01")
    assert sum(f.price * f.qty for f in r.fills) == r.cum_quote_qty == D("912.50071")
    assert sum(f.commission for f in r.fills) == D("0.00001")
    assert r.avg_price == D("91250.071")
    assert r.fills[1].price_f == 91250.01 and r.fills[1].qty_f == 0.0035 and r.fills[1].commission_f == 3.5e-6
    assert parse_order_response(load("rest", "order_market_result_filled.json")).resp_type is RespType.RESULT


def test_order_ioc_expired():
    r = parse_order_response(load("rest", "order_ioc_result_expired.json"))
    assert (r.status, r.time_in_force, r.expiry_reason) == (
        OrderStatus.EXPIRED, TimeInForce.IOC, "UNFILLED_IOC_QUANTITY_EXPIRED")
    assert r.executed_qty == D("0.2") and r.avg_price == D(3150)


def test_order_test_endpoint_body_is_not_an_order():
    body = load("rest", "order_test_ok.json")
    assert body == {} and not is_error_body(body)
    with pytest.raises(ParseError, match="missing field 'symbol'"):
        parse_order_response(body)


# --- cancels, queries, trades, account -----------------------------------------------------

def test_cancel_order():
    c = parse_cancel_response(load("rest", "cancel_order.json"))
    assert (c.orig_client_order_id, c.client_order_id) == ("eng-20261128-000002", "eng-cxl-000002")
    assert (c.order_id, c.status, c.side, c.executed_qty, c.transact_time) == (
        31877001990, OrderStatus.CANCELED, WireSide.SELL, 0, 1795858209000)


def test_cancel_open_orders_including_an_order_list():
    body = load("rest", "cancel_open_orders.json")
    assert [c.orig_client_order_id for c in parse_cancel_open_orders(body)] == [
        "eng-20261128-000005", "eng-20261128-000007"]
    # An order list appears as one object with its orders under orderReports: flattened.
    with_list = [body[0], {"orderListId": 1929, "contingencyType": "OCO", "orderReports": [body[1]]}]
    assert parse_cancel_open_orders(with_list) == parse_cancel_open_orders(body)


def test_open_orders_and_query_order():
    [o] = parse_open_orders(load("rest", "open_orders.json"))
    q = parse_order(load("rest", "query_order.json"))
    assert o == q
    assert (o.status, o.executed_qty, o.cum_quote_qty, o.is_working, o.update_time) == (
        OrderStatus.PARTIALLY_FILLED, D("0.0008"), D(73), True, 1795858202500)
    assert o.avg_price == D(91250) and o.stop_price == 0 and o.iceberg_qty == 0


def test_my_trades():
    trades = parse_my_trades(load("rest", "my_trades.json"))
    assert [(t.trade_id, t.qty, t.commission, t.side, t.is_maker) for t in trades] == [
        (5290010877, D("0.0008"), D("0.0000008"), WireSide.BUY, True),
        (5290011350, D("0.0012"), D("0.0000012"), WireSide.BUY, True),
    ]
    assert sum(t.quote_qty for t in trades) == D("182.5") and trades[0].order_list_id is None
    assert trades[1].price_f == 91250.0 and trades[1].commission_f == 1.2e-6


def test_account():
    a = parse_account(load("rest", "account.json"))
    assert a.can_trade and a.account_type == "SPOT" and a.uid == 354937868 and a.permissions == ("SPOT",)
    assert (a.commission_rates.maker, a.commission_rates.taker, a.commission_rates.buyer) == (
        D("0.001"), D("0.001"), 0)
    usdt = a.balance("USDT")
    assert (usdt.free, usdt.locked, usdt.total) == (D("8913.39745"), D("109.5"), D("9022.89745"))
    assert a.balance("DOGE") is None


# --- errors ----------------------------------------------------------------------------------

ERROR_FILES = sorted(p.name for p in (DATA / "errors").glob("*.json"))


@pytest.mark.parametrize("name", ERROR_FILES)
def test_every_error_sample_parses(name):
    body = load("errors", name)
    assert is_error_body(body)
    error = parse_api_error(body, http_status=400)
    assert (error.code, error.msg, error.http_status) == (body["code"], body["msg"], 400)
    assert error.known == body["code"]                          # every sampled code is in ErrorCode
    assert name.startswith(f"rest_{error.code}_")


def test_error_properties():
    lot = parse_api_error(load("errors", "rest_-1013_filter_lot_size.json"))
    assert lot.known is ErrorCode.INVALID_MESSAGE and lot.filter_name == "LOT_SIZE"
    assert parse_api_error(load("errors", "rest_-1013_filter_percent_price_by_side.json")).filter_name == (
        "PERCENT_PRICE_BY_SIDE")
    timeout = parse_api_error(load("errors", "rest_-1007_timeout_status_unknown.json"))
    assert timeout.outcome_unknown and timeout.filter_name is None
    assert not parse_api_error(load("errors", "rest_-2010_insufficient_balance.json"), 400).outcome_unknown
    assert ApiError(-1, "whatever", http_status=503).outcome_unknown       # 5xx: the order may exist
    assert ApiError(-9999, "new code").known is None
    with pytest.raises(ParseError):
        parse_api_error({"code": "-1013", "msg": "x"})


# --- WebSocket API -----------------------------------------------------------------------------

def test_ws_api_subscribe_response():
    r = parse_ws_api_message(load("ws_api", "user_data_subscribe_response.json"))
    assert isinstance(r, WsApiResponse) and r.ok
    assert (r.id, r.status, r.result) == ("uds-1", 200, {"subscriptionId": 0})
    [limit] = r.rate_limits
    assert (limit.kind, limit.window_ms, limit.limit, limit.count) == (RateLimitType.REQUEST_WEIGHT, 60_000, 6000, 4)


def test_ws_api_other_responses():
    subs = parse_ws_api_message(load("ws_api", "session_subscriptions_response.json"))
    assert subs.result == [{"subscriptionId": 0}] and subs.rate_limits == ()
    assert parse_ws_api_message(load("ws_api", "user_data_unsubscribe_response.json")).result == {}


def test_ws_api_errors():
    bad_sig = parse_ws_api_message(load("ws_api", "error_invalid_signature.json"))
    assert not bad_sig.ok and bad_sig.result is None
    assert bad_sig.error == ApiError(-1022, "Signature for this request is not valid.", 400, None)
    banned = parse_ws_api_message(load("ws_api", "error_ip_banned_418.json"))
    assert (banned.status, banned.error.code, banned.error.retry_after_ms) == (418, -1003, 1795858800000)


def test_ws_api_server_shutdown():
    assert parse_ws_api_message(load("ws_api", "server_shutdown.json")) == ServerShutdown(1795861800000)


def test_ws_api_malformed():
    with pytest.raises(ParseError, match="neither 'result' nor 'error'"):
        parse_ws_api_message({"id": 1, "status": 200})
    with pytest.raises(ParseError, match="expected a JSON object"):
        parse_ws_api_message([1, 2])
    with pytest.raises(ParseError):
        parse_ws_api_message({"id": 1.5, "status": 200, "result": {}})


# --- user data events --------------------------------------------------------------------------

def test_execution_report_new():
    r = user("execution_report_new.json")
    assert isinstance(r, ExecutionReport) and r.subscription_id == 0
    assert (r.symbol, r.client_order_id, r.orig_client_order_id, r.order_client_id) == (
        "BTCUSDT", "eng-20261128-000001", None, "eng-20261128-000001")
    assert (r.side, r.order_type, r.time_in_force, r.qty, r.price) == (
        WireSide.BUY, OrderType.LIMIT, TimeInForce.GTC, D("0.002"), D(91250))
    assert (r.exec_type, r.status, r.reject_reason, r.order_id) == (ExecType.NEW, OrderStatus.NEW, None, 52874619233)
    assert (r.trade_id, r.commission, r.commission_asset, r.order_list_id) == (None, 0, None, None)
    assert (r.event_time, r.transaction_time, r.is_working, r.is_maker, r.is_fill) == (
        1795858201001, 1795858201000, True, False, False)
    assert r.working_time == 1795858201000 and r.avg_price is None


def test_execution_report_fills_are_exact_and_consistent():
    part, filled = user("execution_report_partially_filled.json"), user("execution_report_filled.json")
    assert (part.exec_type, part.status, filled.exec_type, filled.status) == (
        ExecType.TRADE, OrderStatus.PARTIALLY_FILLED, ExecType.TRADE, OrderStatus.FILLED)
    assert part.is_fill and filled.is_fill and filled.status.is_final and not part.status.is_final
    assert (part.last_qty, part.cum_qty, filled.last_qty, filled.cum_qty) == (
        D("0.0008"), D("0.0008"), D("0.0012"), D("0.002"))
    assert part.last_qty + filled.last_qty == filled.cum_qty                   # z is the sum of l
    assert (filled.trade_id, filled.last_price, filled.commission, filled.commission_asset, filled.is_maker) == (
        5290011350, D(91250), D("0.0000012"), "BTC", True)
    assert filled.last_quote_qty == filled.last_price * filled.last_qty == D("109.5")
    assert filled.avg_price == D(91250)
    # float views for the hot path
    assert (filled.last_qty_f, filled.last_price_f, filled.cum_qty_f, filled.commission_f) == (
        0.0012, 91250.0, 0.002, 1.2e-6)


def test_execution_report_canceled_keys_on_orig_client_id():
    r = user("execution_report_canceled.json")
    assert (r.exec_type, r.status) == (ExecType.CANCELED, OrderStatus.CANCELED)
    assert r.client_order_id == "eng-cxl-000002"                 # the cancel request's id
    assert r.orig_client_order_id == r.order_client_id == "eng-20261128-000002"


def test_execution_report_expired_and_rejected():
    expired = user("execution_report_expired_ioc.json")
    assert (expired.exec_type, expired.status, expired.expiry_reason) == (
        ExecType.EXPIRED, OrderStatus.EXPIRED, "UNFILLED_IOC_QUANTITY_EXPIRED")
    assert expired.cum_qty == D("0.2") and expired.working_time is None and expired.avg_price == D(3150)
    rejected = user("execution_report_rejected.json")
    assert (rejected.exec_type, rejected.reject_reason, rejected.order_id, rejected.order_time) == (
        ExecType.REJECTED, "INSUFFICIENT_BALANCES", None, None)


def test_account_position_balance_update_and_termination():
    pos = user("outbound_account_position.json")
    assert isinstance(pos, AccountPosition) and pos.update_time == 1795858261000
    assert [(b.asset, b.free, b.locked) for b in pos.balances] == [
        ("BTC", D("0.011988"), 0), ("USDT", D("8283.39745"), 0)]
    bal = user("balance_update.json")
    assert bal == BalanceUpdate(0, 1795858320001, "USDT", D(500), 1795858320000)
    assert user("event_stream_terminated.json") == EventStreamTerminated(0, 1795858500000)


def test_real_mainnet_captures_unwrapped():
    new = parse_user_event(load("real_capture", "mainnet_2025-10-20_execution_report_new_bnbusdt.json"))
    fill = parse_user_event(load("real_capture", "mainnet_2025-10-20_execution_report_filled_bnbusdt.json"))
    pos = parse_user_event(load("real_capture", "mainnet_2025-10-20_outbound_account_position.json"))
    assert new.subscription_id is None and new.exec_type is ExecType.NEW and new.order_id == fill.order_id
    assert (fill.status, fill.is_maker, fill.commission, fill.commission_asset) == (
        OrderStatus.FILLED, True, D("0.00000525"), "BNB")
    assert fill.cum_quote_qty == fill.last_price * fill.last_qty == D("7.87654")
    assert pos.balances[1].locked == D("7.87654")


def test_unknown_events_are_kept_not_fatal():
    msg = {"subscriptionId": 3, "event": {"e": "listStatus", "E": 1, "s": "BTCUSDT", "g": 2}}
    event = parse_ws_api_message(msg)
    assert isinstance(event, UnknownEvent)
    assert (event.subscription_id, event.event_type, event.payload["g"]) == (3, "listStatus", 2)
    legacy = parse_user_event(load("user_data", "legacy_listen_key_expired.json"))
    assert isinstance(legacy, UnknownEvent) and legacy.event_type == "listenKeyExpired"


FILLED = load("user_data", "execution_report_filled.json")


def execution_report_dict(**changes):
    msg = copy.deepcopy(FILLED)
    msg["event"].update(changes)
    return msg


@pytest.mark.parametrize("changes, match", [
    ({"x": "NEW_THING"}, r"executionReport: field 'x': unknown ExecType, got 'NEW_THING'"),
    ({"X": None}, r"field 'X': unknown OrderStatus"),
    ({"S": "buy"}, r"field 'S': unknown WireSide"),
    ({"l": 0.0012}, r"field 'l': expected a decimal string"),            # float: precision already lost
    ({"z": "1.2.3"}, r"field 'z': expected a decimal string"),
    ({"n": "NaN"}, r"field 'n': expected a finite decimal"),
    ({"i": "52874619233"}, r"field 'i': expected an integer"),
    ({"m": 1}, r"field 'm': expected true/false"),
])
def test_malformed_execution_report_names_the_field(changes, match):
    with pytest.raises(ParseError, match=match):
        parse_ws_api_message(execution_report_dict(**changes))


def test_missing_field_is_named():
    msg = execution_report_dict()
    del msg["event"]["t"]
    with pytest.raises(ParseError, match="executionReport: missing field 't'"):
        parse_ws_api_message(msg)


def test_records_are_frozen_and_slotted():
    r = user("execution_report_filled.json")
    assert not hasattr(r, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.cum_qty = D(0)  # type: ignore[misc]


decimal_text = st.builds(lambda n, places: f"{D(n).scaleb(-places):.{places}f}",
                         st.integers(0, 10**17), st.integers(0, 8))


@PROPERTY
@given(decimal_text, decimal_text, decimal_text, decimal_text, st.integers(0, 2**62))
def test_decimal_strings_stay_exact(qty, price, commission, cum, trade_id):
    msg = execution_report_dict(l=qty, L=price, n=commission, z=cum, t=trade_id)
    r = parse_ws_api_message(msg)
    assert (r.last_qty, r.last_price, r.commission, r.cum_qty) == (D(qty), D(price), D(commission), D(cum))
    assert format(r.last_qty, "f") == qty                           # the exchange's digits, trailing zeros too
    assert (r.last_qty_f, r.last_price_f, r.commission_f) == (float(qty), float(price), float(commission))
    assert r.trade_id == (None if trade_id == -1 else trade_id)

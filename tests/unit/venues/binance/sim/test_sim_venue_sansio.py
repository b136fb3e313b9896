"""The simulator's venue without sockets: `Venue` with plain dicts, `RestApi` with plain bytes.

Books are set by hand on the walks, so every fill price and quantity is known exactly.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmabot.venues.binance.protocol.signing import Credentials, signed_query, ws_api_params
from dmabot.venues.binance.sim._account import parse_balances
from dmabot.venues.binance.sim._auth import Authenticator
from dmabot.venues.binance.sim._errors import VenueError
from dmabot.venues.binance.sim._limits import Limits, RequestWeight
from dmabot.venues.binance.sim._market import BookTickerWalk
from dmabot.venues.binance.sim._rest import RestApi
from dmabot.venues.binance.sim._symbols import SCALE, symbol_spec
from dmabot.venues.binance.sim._venue import Venue
from dmabot.venues.binance.sim._ws_api import PUBLIC_METHODS, WsApiClientSession
from dmabot.venues.binance.sim._ws_trading import trading_methods
from tests.helpers.paths import TEST_DATA

SAMPLES = TEST_DATA / "binance"
NOW = 1795858200000
# Binance's published example key pair (docs/binance.md, Signing), never a real one
DOC_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
CREDS = Credentials(DOC_KEY, DOC_SECRET)


def sample(path: str) -> Any:
    return json.loads((SAMPLES / path).read_text())


def units(text: str) -> int:
    return int(Decimal(text) * SCALE)


def set_book(walk: BookTickerWalk, bid: str, ask: str, bid_qty: str, ask_qty: str) -> None:
    spec = walk.spec
    walk.update_id += 1
    walk.bid_ticks = units(bid) // spec.tick_units
    walk.spread_ticks = units(ask) // spec.tick_units - walk.bid_ticks
    walk.bid_qty_steps = units(bid_qty) // spec.step_units
    walk.ask_qty_steps = units(ask_qty) // spec.step_units


class World:
    def __init__(self, balances: str = "USDT=100000,BTC=1,ETH=10") -> None:
        self.btc = BookTickerWalk(symbol_spec("BTCUSDT"), 1)
        self.eth = BookTickerWalk(symbol_spec("ETHUSDT"), 1)
        set_book(self.btc, "91250.00", "91250.01", "0.5", "0.004")
        set_book(self.eth, "3150.00", "3150.01", "2", "3")
        self.venue = Venue({"BTCUSDT": self.btc, "ETHUSDT": self.eth}, parse_balances(balances))
        self.events: list[dict[str, Any]] = []
        self.venue.listeners.append(self.events.append)

    def order(self, **params: str) -> dict[str, Any]:
        return self.venue.new_order(params, NOW)

    def balance(self, asset: str) -> tuple[str, str]:
        for row in self.venue.account({}, NOW)["balances"]:
            if row["asset"] == asset:
                return row["free"], row["locked"]
        raise KeyError(asset)


def error_of(call: Any, *args: Any) -> dict[str, Any]:
    with pytest.raises(VenueError) as info:
        call(*args)
    return info.value.body()


def test_market_buy_takes_touch_then_synthetic_depth_with_commission_in_base() -> None:
    w = World()
    reply = w.order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01", newClientOrderId="m-1")
    assert list(reply) == list(sample("rest/order_market_full_filled.json"))
    assert [(f["price"], f["qty"], f["commission"], f["commissionAsset"]) for f in reply["fills"]] == [
        ("91250.01000000", "0.00400000", "0.00000400", "BTC"),
        ("91250.02000000", "0.00400000", "0.00000400", "BTC"),
        ("91250.03000000", "0.00200000", "0.00000200", "BTC"),
    ]
    assert reply["status"] == "FILLED" and reply["executedQty"] == "0.01000000"
    assert reply["cummulativeQuoteQty"] == "912.50018000"
    assert w.balance("BTC") == ("1.00999000", "0.00000000")
    assert w.balance("USDT") == ("99087.49982000", "0.00000000")
    # the taken liquidity stays taken until the book updates
    again = w.order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")
    assert again["fills"][0]["price"] == "91250.03000000"
    assert [f["tradeId"] for f in reply["fills"] + again["fills"]] == [1, 2, 3, 4]
    assert again["orderId"] == reply["orderId"] + 1


def test_market_sell_charges_commission_in_quote() -> None:
    w = World()
    reply = w.order(symbol="ETHUSDT", side="SELL", type="MARKET", quantity="1", newOrderRespType="FULL")
    [fill] = reply["fills"]
    assert (fill["price"], fill["commission"], fill["commissionAsset"]) == ("3150.00000000", "3.15000000", "USDT")
    assert w.balance("ETH") == ("9.00000000", "0.00000000")
    assert w.balance("USDT") == ("103146.85000000", "0.00000000")


def test_limit_gtc_rests_locks_then_fills_as_maker_when_the_book_crosses() -> None:
    w = World()
    reply = w.order(
        symbol="BTCUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.002",
        price="91249.00",
        newClientOrderId="eng-1",
        newOrderRespType="RESULT",
    )
    assert list(reply) == list(sample("rest/order_limit_result_new.json"))
    assert reply["status"] == "NEW"
    assert w.balance("USDT") == ("99817.50200000", "182.49800000")
    w.events.clear()
    set_book(w.btc, "91248.00", "91249.00", "1", "0.0012")  # the ask comes down to our bid
    w.venue.on_book("BTCUSDT", NOW + 1000)
    trade, position = w.events
    assert list(trade) == list(sample("user_data/execution_report_filled.json")["event"])
    assert (trade["x"], trade["X"], trade["l"], trade["L"], trade["m"]) == (
        "TRADE",
        "PARTIALLY_FILLED",
        "0.00120000",
        "91249.00000000",
        True,
    )
    assert position["e"] == "outboundAccountPosition"
    set_book(w.btc, "91247.00", "91248.00", "1", "1")
    w.venue.on_book("BTCUSDT", NOW + 2000)
    query = w.venue.query_order({"symbol": "BTCUSDT", "origClientOrderId": "eng-1"}, NOW)
    assert list(query) == list(sample("rest/query_order.json"))
    assert (query["status"], query["executedQty"], query["cummulativeQuoteQty"]) == (
        "FILLED",
        "0.00200000",
        "182.49800000",
    )
    assert w.balance("USDT") == ("99817.50200000", "0.00000000")
    assert w.balance("BTC") == ("1.00199800", "0.00000000")
    trades = w.venue.my_trades({"symbol": "BTCUSDT", "fromId": "2"}, NOW)
    assert [t["id"] for t in trades] == [2] and trades[0]["isMaker"] is True
    assert list(trades[0]) == list(sample("rest/my_trades.json")[0])


def test_ioc_expires_the_rest_and_fok_is_all_or_nothing() -> None:
    w = World()
    ioc = w.order(
        symbol="ETHUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="IOC",
        quantity="5",
        price="3150.01",
        newOrderRespType="RESULT",
    )
    assert list(ioc) == list(sample("rest/order_ioc_result_expired.json"))
    assert (ioc["status"], ioc["executedQty"], ioc["expiryReason"]) == (
        "EXPIRED",
        "3.00000000",
        "UNFILLED_IOC_QUANTITY_EXPIRED",
    )
    assert list(w.events[-2]) == list(sample("user_data/execution_report_expired_ioc.json")["event"])
    set_book(w.eth, "3150.00", "3150.01", "2", "3")
    fok = w.order(symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="FOK", quantity="4", price="3150.01")
    assert (fok["status"], fok["executedQty"], fok["fills"]) == ("EXPIRED", "0.00000000", [])
    assert w.balance("ETH")[1] == "0.00000000" and w.balance("USDT")[1] == "0.00000000"


def test_order_rejections_carry_the_samples_codes_and_messages() -> None:
    w = World(balances="USDT=100,BTC=0")
    base = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC"}
    cases = {
        "rest_-1102_mandatory_param.json": {**base, "timeInForce": "", "quantity": "0.001", "price": "50000"},
        "rest_-1013_filter_lot_size.json": {**base, "quantity": "0.000015", "price": "50000"},
        "rest_-1013_filter_price_filter.json": {**base, "quantity": "0.001", "price": "50000.005"},
        "rest_-1013_filter_notional.json": {**base, "quantity": "0.00001", "price": "50000"},
        "rest_-1013_filter_percent_price_by_side.json": {**base, "quantity": "0.001", "price": "10000"},
        "rest_-1111_bad_precision.json": {**base, "quantity": "0.000000001", "price": "50000"},
        "rest_-1121_bad_symbol.json": {**base, "symbol": "DOGEUSDT", "quantity": "1", "price": "1"},
        "rest_-2010_insufficient_balance.json": {**base, "quantity": "0.01", "price": "50000"},
        "rest_-2010_limit_maker_would_take.json": {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT_MAKER",
            "quantity": "0.0001",
            "price": "91250.01",
        },
        "rest_-1100_illegal_chars.json": {**base, "quantity": "0.001", "price": "50000", "newClientOrderId": "x" * 37},
    }
    for name, params in cases.items():
        assert error_of(w.venue.new_order, params, NOW) == sample(f"errors/{name}"), name
    assert w.events == []  # a rejected order leaves no trace on the user stream


def test_duplicate_client_order_id_only_while_open_and_unknown_orders() -> None:
    w = World()
    params = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01",
        "price": "92000",
        "newClientOrderId": "dup-1",
    }
    first = w.venue.new_order(params, NOW)
    assert error_of(w.venue.new_order, params, NOW) == sample("errors/rest_-2010_duplicate_client_order_id.json")
    cancel = w.venue.cancel_order(
        {"symbol": "BTCUSDT", "orderId": str(first["orderId"]), "newClientOrderId": "cxl-1"}, NOW
    )
    assert list(cancel) == list(sample("rest/cancel_order.json"))
    assert (cancel["origClientOrderId"], cancel["clientOrderId"], cancel["status"]) == ("dup-1", "cxl-1", "CANCELED")
    canceled = w.events[-2]
    assert list(canceled) == list(sample("user_data/execution_report_canceled.json")["event"])
    assert (canceled["c"], canceled["C"], canceled["x"]) == ("cxl-1", "dup-1", "CANCELED")
    second = w.venue.new_order(params, NOW)  # accepted again once the first is closed
    assert second["orderId"] == first["orderId"] + 1
    assert error_of(w.venue.cancel_order, {"symbol": "BTCUSDT", "orderId": str(first["orderId"])}, NOW) == sample(
        "errors/rest_-2011_unknown_order_on_cancel.json"
    )
    assert error_of(w.venue.query_order, {"symbol": "BTCUSDT", "orderId": "999"}, NOW) == sample(
        "errors/rest_-2013_order_does_not_exist.json"
    )
    assert w.venue.query_order({"symbol": "BTCUSDT", "origClientOrderId": "dup-1"}, NOW)["orderId"] == second["orderId"]
    [row] = w.venue.open_orders({"symbol": "BTCUSDT"}, NOW)
    assert list(row) == list(sample("rest/open_orders.json")[0])
    replies = w.venue.cancel_open_orders({"symbol": "BTCUSDT"}, NOW)
    assert list(replies[0]) == list(sample("rest/cancel_open_orders.json")[0])
    assert error_of(w.venue.cancel_open_orders, {"symbol": "BTCUSDT"}, NOW)["code"] == -2011
    assert w.balance("BTC") == ("1.00000000", "0.00000000")


def test_deposit_and_withdrawal_publish_balance_update_then_the_position() -> None:
    w = World()
    w.events.clear()
    assert w.venue.balance_update({"asset": "USDT", "delta": "500"}, NOW + 5) == {
        "asset": "USDT", "free": "100500.00000000", "locked": "0.00000000"}
    update, position = w.events
    assert list(update) == list(sample("user_data/balance_update.json")["event"])
    assert update == {"e": "balanceUpdate", "E": NOW + 5, "a": "USDT", "d": "500.00000000", "T": NOW + 5}
    assert (position["e"], position["u"]) == ("outboundAccountPosition", NOW + 5)
    assert position["B"] == [{"a": "USDT", "f": "100500.00000000", "l": "0.00000000"}]
    w.venue.balance_update({"asset": "BNB", "delta": "-0"}, NOW + 6)     # an asset new to the account
    w.venue.balance_update({"asset": "BTC", "delta": "-0.25"}, NOW + 7)
    assert w.events[-2]["d"] == "-0.25000000" and w.balance("BTC") == ("0.75000000", "0.00000000")
    assert w.balance("BNB") == ("0.00000000", "0.00000000")
    assert error_of(w.venue.balance_update, {"asset": "BTC", "delta": "-0.75000001"}, NOW)["code"] == -2010
    assert error_of(w.venue.balance_update, {"asset": "btc", "delta": "1"}, NOW)["code"] == -1102
    assert error_of(w.venue.balance_update, {"asset": "BTC", "delta": "0.000000001"}, NOW)["code"] == -1102


def test_every_balance_change_moves_the_account_update_time() -> None:
    # a lock too: the snapshot's updateTime and the events' u must order them against each other
    w = World()
    w.order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.001", price="90000")
    assert w.venue.account({}, NOW)["updateTime"] == NOW == w.events[-1]["u"]
    w.venue.cancel_open_orders({"symbol": "BTCUSDT"}, NOW + 3)
    assert w.venue.account({}, NOW)["updateTime"] == NOW + 3 == w.events[-1]["u"]


# -- REST with plain bytes -----------------------------------------------------------------


def rest_api(limits: Limits | None = None) -> tuple[RestApi, World]:
    w = World()
    weight = RequestWeight(limits or Limits())
    return RestApi(w.venue.specs, weight, None, w.venue, Authenticator(CREDS)), w


def test_docs_signature_vectors_pass_auth_query_only_and_split_with_body() -> None:
    rest, _ = rest_api()
    now = 1499827319559
    headers = {"x-mbx-apikey": DOC_KEY}
    query = (
        "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    )
    sig_a = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    reply = rest.handle("POST", f"/api/v3/order?{query}&signature={sig_a}", b"", now, headers)
    assert json.loads(reply.body) == sample("errors/rest_-1121_bad_symbol.json")  # past auth: LTCBTC is unknown
    sig_b = "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"
    body = f"quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature={sig_b}".encode()
    reply = rest.handle("POST", "/api/v3/order?symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC", body, now, headers)
    assert json.loads(reply.body)["code"] == -1121
    reply = rest.handle("POST", f"/api/v3/order?{query}&signature={sig_b}", b"", now, headers)
    assert (reply.status, json.loads(reply.body)) == (400, sample("errors/rest_-1022_invalid_signature.json"))


def test_auth_errors_and_timing_with_plain_bytes() -> None:
    rest, _ = rest_api()
    query = signed_query([("omitZeroBalances", "true")], CREDS, NOW, 5000)

    def get(q: str, headers: dict[str, str], now: int = NOW) -> tuple[int, dict[str, Any]]:
        reply = rest.handle("GET", f"/api/v3/account?{q}", b"", now, headers)
        return reply.status, json.loads(reply.body)

    ok = {"x-mbx-apikey": DOC_KEY}
    assert get(query, ok)[0] == 200
    assert get(query, {}) == (401, sample("errors/rest_-2014_bad_api_key_format.json"))
    assert get(query, {"x-mbx-apikey": "another-key"}) == (
        401,
        sample("errors/rest_-2015_rejected_key_ip_permission.json"),
    )
    assert get(query, ok, NOW - 1000) == (400, sample("errors/rest_-1021_ahead_of_server.json"))
    assert get(query, ok, NOW + 5001) == (400, sample("errors/rest_-1021_outside_recvwindow.json"))
    assert get(query, ok, NOW + 5000)[0] == 200
    assert get(query.replace("true", "false"), ok)[1]["code"] == -1022
    unsigned = get("timestamp=1", ok)[1]
    assert unsigned == {
        "code": -1102,
        "msg": "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
    }


def test_weight_headers_429_then_418_ban() -> None:
    rest, _ = rest_api(Limits(request_weight=45))
    headers = {"x-mbx-apikey": DOC_KEY}
    q = signed_query([], CREDS, NOW, None)
    first = rest.handle("GET", f"/api/v3/account?{q}", b"", NOW, headers)
    assert dict(first.headers)["X-MBX-USED-WEIGHT-1M"] == "20"
    assert dict(rest.handle("GET", f"/api/v3/account?{q}", b"", NOW, headers).headers)["X-MBX-USED-WEIGHT-1M"] == "40"
    limited = rest.handle("GET", f"/api/v3/account?{q}", b"", NOW, headers)
    expected = sample("errors/rest_-1003_http429_too_much_weight.json")
    assert limited.status == 429
    assert json.loads(limited.body) == {**expected, "msg": expected["msg"].replace("6000", "45")}
    assert dict(limited.headers)["Retry-After"] == str((60_000 - NOW % 60_000 + 999) // 1000)
    assert rest.handle("GET", "/api/v3/ping", b"", NOW).status == 200  # weight 1 still fits
    statuses = [rest.handle("GET", f"/api/v3/account?{q}", b"", NOW, headers).status for _ in range(4)]
    assert statuses == [429, 429, 429, 418]  # three in a row, then the ban
    banned = rest.handle("GET", "/api/v3/time", b"", NOW + 60_000)
    body = json.loads(banned.body)
    assert banned.status == 418 and body["code"] == -1003
    until = NOW + 120_000
    assert body["msg"] == sample("errors/rest_-1003_http418_ip_banned.json")["msg"].replace("1795858800000", str(until))
    assert dict(banned.headers)["Retry-After"] == "60"
    assert rest.handle("GET", "/api/v3/time", b"", until).status == 200


def test_order_count_headers_and_429_too_many_orders() -> None:
    rest, _ = rest_api(Limits(orders_10s=2))
    headers = {"x-mbx-apikey": DOC_KEY}

    def place(n: int) -> Any:
        params = [
            ("symbol", "ETHUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.01"),
            ("price", "3000"),
            ("newClientOrderId", f"o-{n}"),
        ]
        return rest.handle("POST", "/api/v3/order", signed_query(params, CREDS, NOW, None).encode(), NOW, headers)

    first = place(1)
    assert first.status == 200
    assert dict(first.headers)["X-MBX-ORDER-COUNT-10S"] == "1" and dict(first.headers)["X-MBX-ORDER-COUNT-1D"] == "1"
    assert dict(first.headers)["X-MBX-USED-WEIGHT-1M"] == "0"  # a successful order costs no weight
    assert place(2).status == 200
    third = place(3)
    assert third.status == 429
    assert json.loads(third.body) == {
        "code": -1015,
        "msg": "Too many new orders; current limit is 2 orders per 10 SECOND.",
    }
    assert dict(third.headers)["X-MBX-USED-WEIGHT-1M"] == "1"  # a failed one does


# -- WebSocket API user data, sans-IO ------------------------------------------------------


def test_ws_api_subscribe_signature_then_events_then_unsubscribe() -> None:
    w = World()
    weight = RequestWeight()
    session = WsApiClientSession({**PUBLIC_METHODS, **trading_methods(w.venue, Authenticator(CREDS), weight)}, weight)
    pushed: list[dict[str, Any]] = []
    session.push = lambda text: pushed.append(json.loads(text))
    request = sample("ws_api/user_data_subscribe_signature_request.json")
    reply = json.loads(session.handle_text(json.dumps(request), NOW))
    assert reply == sample("ws_api/user_data_subscribe_response.json") | {"rateLimits": reply["rateLimits"]}
    assert reply["result"] == {"subscriptionId": 0}
    again = json.loads(session.handle_text(json.dumps(request), NOW))["error"]["code"]
    assert again == -2035
    bad = dict(request, params={**request["params"], "timestamp": NOW + 1})
    assert {k: v for k, v in json.loads(session.handle_text(json.dumps(bad), NOW)).items() if k != "rateLimits"} == (
        sample("ws_api/error_invalid_signature.json")
    )
    place = {
        "id": 7,
        "method": "order.place",
        "params": ws_api_params(
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}, CREDS, NOW, 5000
        ),
    }
    placed = json.loads(session.handle_text(json.dumps(place), NOW))
    assert placed["status"] == 200 and placed["result"]["status"] == "FILLED"
    counts = {(x["rateLimitType"], x["intervalNum"], x["interval"]): x["count"] for x in placed["rateLimits"]}
    assert counts == {  # 2 weight per subscribe attempt; a successful order costs none but counts as one
        ("ORDERS", 10, "SECOND"): 1, ("ORDERS", 1, "DAY"): 1, ("REQUEST_WEIGHT", 1, "MINUTE"): 6}
    kinds = [(p["subscriptionId"], p["event"]["e"], p["event"].get("x")) for p in pushed]
    assert kinds == [
        (0, "executionReport", "NEW"),
        (0, "executionReport", "TRADE"),
        (0, "outboundAccountPosition", None),
    ]
    assert list(pushed[-1]) == list(sample("user_data/outbound_account_position.json"))
    assert list(pushed[-1]["event"]) == list(sample("user_data/outbound_account_position.json")["event"])
    pushed.clear()
    unsub = json.loads(session.handle_text(json.dumps(sample("ws_api/user_data_unsubscribe_request.json")), NOW))
    assert {k: v for k, v in unsub.items() if k != "rateLimits"} == sample("ws_api/user_data_unsubscribe_response.json")
    assert pushed == [{"subscriptionId": 0, "event": {"e": "eventStreamTerminated", "E": NOW}}]
    w.venue.new_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}, NOW)
    assert len(pushed) == 1 and len(w.venue.listeners) == 1


def test_market_by_quote_order_qty_spends_at_most_that_much() -> None:
    w = World()
    reply = w.order(symbol="BTCUSDT", side="BUY", type="MARKET", quoteOrderQty="500", newOrderRespType="FULL")
    # 0.004 at 91250.01 (365.00004), then 0.00147 at 91250.02 (134.1375294): 0.00001 more would pass 500
    assert [(f["price"], f["qty"]) for f in reply["fills"]] == [
        ("91250.01000000", "0.00400000"),
        ("91250.02000000", "0.00147000"),
    ]
    assert (reply["origQuoteOrderQty"], reply["origQty"], reply["status"]) == ("500.00000000", "0.00547000", "FILLED")
    assert Decimal(reply["cummulativeQuoteQty"]) <= 500
    assert w.events[0]["Q"] == "500.00000000"
    both = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "1", "quoteOrderQty": "1"}
    assert error_of(w.venue.new_order, both, NOW)["code"] == -1128


def test_ws_api_ban_carries_retry_after_data() -> None:
    weight = RequestWeight()
    weight.ban(NOW, 600_000)
    session = WsApiClientSession(PUBLIC_METHODS, weight)
    reply = json.loads(session.handle_text('{"id":"q-77","method":"time"}', NOW))
    expected = sample("ws_api/error_ip_banned_418.json")
    assert {k: v for k, v in reply.items() if k != "rateLimits"} == expected


# -- the HTTP connection with plain bytes: reply faults --------------------------------------


def test_lost_and_delayed_replies_at_the_protocol_level() -> None:
    from dmabot.venues.binance.sim._app import SimApp
    from dmabot.venues.binance.sim._faults import Fault, FaultAction
    from dmabot.venues.binance.sim._protocol import SimProtocol

    w = World()
    app = SimApp(w.venue.specs, None, venue=w.venue, auth=Authenticator(CREDS))
    order = [
        ("symbol", "ETHUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", "0.01"),
        ("price", "3000"),
    ]

    def post(client_id: str) -> bytes:
        body = signed_query([*order, ("newClientOrderId", client_id)], CREDS, NOW, None).encode()
        return (
            b"POST /api/v3/order HTTP/1.1\r\nHost: sim\r\nX-MBX-APIKEY: "
            + DOC_KEY.encode()
            + b"\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )

    app.rest.queue_reply_fault(Fault(FaultAction.DELAY_REPLY, seconds=2.0))
    app.rest.queue_reply_fault(Fault(FaultAction.LOSE_REPLY))
    protocol = SimProtocol(app)
    assert protocol.receive_data(post("slow-1"), NOW) == b""
    [(delay, reply)] = protocol.delayed
    assert delay == 2.0 and reply.startswith(b"HTTP/1.1 200 ") and b'"clientOrderId":"slow-1"' in reply
    assert protocol.receive_data(post("lost-1"), NOW) == b"" and protocol.closing
    # both were executed: the first one's reply is late, the second one's never comes
    assert [o["clientOrderId"] for o in w.venue.open_orders({"symbol": "ETHUSDT"}, NOW)] == ["slow-1", "lost-1"]


def test_order_test_validates_without_trading() -> None:
    rest, w = rest_api()
    headers = {"x-mbx-apikey": DOC_KEY}
    params = [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "0.001")]
    ok = rest.handle("POST", "/api/v3/order/test", signed_query(params, CREDS, NOW, None).encode(), NOW, headers)
    assert (ok.status, json.loads(ok.body)) == (200, sample("rest/order_test_ok.json"))
    assert w.events == [] and w.venue.trades["BTCUSDT"] == [] and w.balance("BTC") == ("1.00000000", "0.00000000")
    params[-1] = ("quantity", "0.000001")
    bad = rest.handle("POST", "/api/v3/order/test", signed_query(params, CREDS, NOW, None).encode(), NOW, headers)
    assert json.loads(bad.body) == sample("errors/rest_-1013_filter_lot_size.json")


def test_every_reply_and_event_parses_with_the_engines_own_parsers() -> None:
    from dmabot.venues.binance import protocol

    w = World()
    market = protocol.parse_order_response(w.order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.006"))
    assert market.status is protocol.OrderStatus.FILLED and market.executed_qty == Decimal("0.006")
    assert sum(f.qty for f in market.fills) == market.executed_qty
    assert market.avg_price == market.cum_quote_qty / market.executed_qty
    ack = protocol.parse_order_response(
        w.order(
            symbol="BTCUSDT", side="SELL", type="LIMIT_MAKER", quantity="0.001", price="92000", newClientOrderId="mk"
        )
    )
    assert ack.resp_type is protocol.RespType.ACK
    resting = w.order(
        symbol="ETHUSDT",
        side="BUY",
        type="LIMIT",
        timeInForce="GTC",
        quantity="0.1",
        price="3100",
        newOrderRespType="RESULT",
    )
    assert protocol.parse_order_response(resting).status is protocol.OrderStatus.NEW
    [state] = protocol.parse_open_orders(w.venue.open_orders({"symbol": "ETHUSDT"}, NOW))
    assert state.order_id == resting["orderId"]
    queried = protocol.parse_order(w.venue.query_order({"symbol": "BTCUSDT", "origClientOrderId": "mk"}, NOW))
    assert queried.order_id == ack.order_id
    cancel = protocol.parse_cancel_response(
        w.venue.cancel_order({"symbol": "ETHUSDT", "orderId": str(resting["orderId"])}, NOW)
    )
    assert cancel.status is protocol.OrderStatus.CANCELED
    [cancel_all] = protocol.parse_cancel_open_orders(w.venue.cancel_open_orders({"symbol": "BTCUSDT"}, NOW))
    assert cancel_all.orig_client_order_id == "mk"
    trades = protocol.parse_my_trades(w.venue.my_trades({"symbol": "BTCUSDT"}, NOW))
    assert [t.trade_id for t in trades] == [f.trade_id for f in market.fills]
    account = protocol.parse_account(w.venue.account({}, NOW))
    assert account.balance("BTC").free == Decimal("1.006") - sum(f.commission for f in market.fills)
    parsed = [protocol.parse_user_event({"subscriptionId": 0, "event": e}) for e in w.events]
    reports = [p for p in parsed if isinstance(p, protocol.ExecutionReport)]
    assert [r.exec_type for r in reports if (r.symbol, r.order_id) == ("BTCUSDT", market.order_id)] == [
        protocol.ExecType.NEW,
        protocol.ExecType.TRADE,
        protocol.ExecType.TRADE,
    ]
    fills = [r for r in reports if r.is_fill]
    assert [r.trade_id for r in fills] == [f.trade_id for f in market.fills]
    assert fills[-1].cum_qty == Decimal("0.006") and fills[-1].status is protocol.OrderStatus.FILLED
    canceled = [r for r in reports if r.exec_type is protocol.ExecType.CANCELED]
    assert {r.order_client_id for r in canceled} == {resting["clientOrderId"], "mk"}
    assert all(isinstance(p, protocol.ExecutionReport | protocol.AccountPosition) for p in parsed)
    error = protocol.parse_api_error(error_of(w.venue.cancel_open_orders, {"symbol": "BTCUSDT"}, NOW), 400)
    assert error.code == -2011


def test_orders_that_trade_give_their_order_count_back() -> None:
    w = World()
    weight = RequestWeight(Limits(orders_10s=2))
    w.venue.on_first_trade = lambda now_ms: weight.add_order(now_ms, -1)
    rest = RestApi(w.venue.specs, weight, None, w.venue, Authenticator(CREDS))
    headers = {"x-mbx-apikey": DOC_KEY}

    def place(*params: tuple[str, str]) -> Any:
        body = signed_query(list(params), CREDS, NOW, None).encode()
        return rest.handle("POST", "/api/v3/order", body, NOW, headers)

    market = [("symbol", "ETHUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "0.01")]
    counts = [dict(place(*market).headers)["X-MBX-ORDER-COUNT-10S"] for _ in range(5)]
    assert counts == ["0"] * 5  # filled at once: never unfilled
    resting = [
        ("symbol", "ETHUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", "0.01"),
        ("price", "3000"),
    ]
    assert [place(*resting).status for _ in range(3)] == [200, 200, 429]
    rejected = place(*resting[:-1], ("price", "3000.001"))
    assert rejected.status == 429  # the limit is checked first
    set_book(w.eth, "2999.00", "2999.01", "1", "1")
    w.venue.on_book("ETHUSDT", NOW)  # both resting orders trade: their counts come back
    assert place(*resting).status == 200


# -- property: the account always adds up ------------------------------------------------------

_ACTIONS = st.lists(
    st.one_of(
        st.tuples(
            st.just("order"),
            st.sampled_from(["BUY", "SELL"]),
            st.sampled_from(["MARKET", "LIMIT_GTC", "LIMIT_IOC", "LIMIT_FOK", "LIMIT_MAKER"]),
            st.integers(1, 400),  # quantity in units of 0.001 ETH
            st.integers(-6, 6),  # limit price offset from the mid, in ticks
        ),
        st.tuples(st.just("move"), st.integers(1, 5)),
        st.tuples(st.just("cancel_all")),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(_ACTIONS)
def test_balances_add_up_whatever_happens(actions: list[tuple[Any, ...]]) -> None:
    w = World(balances="USDT=20000,ETH=3")
    start = {"ETH": units("3"), "USDT": units("20000")}
    for action in actions:
        if action[0] == "order":
            _, side, kind, steps, offset = action
            walk = w.eth
            mid_ticks = walk.bid_ticks + walk.spread_ticks // 2
            params = {"symbol": "ETHUSDT", "side": side, "quantity": str(Decimal(steps * 10) / 10_000)}
            if kind == "MARKET":
                params["type"] = "MARKET"
            else:
                params["price"] = str(Decimal(mid_ticks + offset) / 100)
                params["type"] = "LIMIT_MAKER" if kind == "LIMIT_MAKER" else "LIMIT"
                if kind != "LIMIT_MAKER":
                    params["timeInForce"] = kind.split("_")[1]
            try:
                w.venue.new_order(params, NOW)
            except VenueError as exc:
                assert exc.code in (-2010, -1013), exc.msg
        elif action[0] == "move":
            for _ in range(action[1]):
                w.eth.advance()
                w.venue.on_book("ETHUSDT", NOW)
        else:
            try:
                w.venue.cancel_open_orders({"symbol": "ETHUSDT"}, NOW)
            except VenueError as exc:
                assert exc.code == -2011
        # every unit is accounted for: start + trades - commissions == free + locked
        expected = dict(start)
        for t in w.venue.trades["ETHUSDT"]:
            sign = 1 if t.is_buyer else -1
            expected["ETH"] += sign * t.qty
            expected["USDT"] -= sign * t.quote_qty
            expected[t.commission_asset] -= t.commission
        for asset in ("ETH", "USDT"):
            balance = w.venue.balances[asset]
            assert balance.free >= 0 and balance.locked >= 0
            assert balance.free + balance.locked == expected[asset], asset
        open_orders = w.venue.open_orders({"symbol": "ETHUSDT"}, NOW)
        locked_eth = sum(units(o["origQty"]) - units(o["executedQty"]) for o in open_orders if o["side"] == "SELL")
        assert w.venue.balances["ETH"].locked == locked_eth
        locked_usdt = sum(
            units(o["price"]) * (units(o["origQty"]) - units(o["executedQty"])) // SCALE
            for o in open_orders
            if o["side"] == "BUY"
        )
        assert w.venue.balances["USDT"].locked == locked_usdt
        assert all(o["status"] in ("NEW", "PARTIALLY_FILLED") for o in open_orders)
    ids = [t.id for t in w.venue.trades["ETHUSDT"]]
    assert ids == list(range(1, len(ids) + 1))


# -- an Ed25519 account ----------------------------------------------------------------------


def ed25519_pair() -> tuple[Credentials, bytes]:
    """A fresh key pair: the engine's signing credentials and the PEM public key Binance holds."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return Credentials.ed25519(DOC_KEY, private), public


def test_ed25519_account_verifies_rest_and_ws_api_signatures() -> None:
    creds, public = ed25519_pair()
    other, _ = ed25519_pair()
    w = World()
    auth = Authenticator.ed25519(DOC_KEY, public)
    rest = RestApi(w.venue.specs, RequestWeight(), None, w.venue, auth)
    headers = {"x-mbx-apikey": DOC_KEY}

    def account(signer: Credentials) -> tuple[int, Any]:
        query = signed_query([("omitZeroBalances", "true")], signer, NOW, 5000)   # base64, percent-encoded
        reply = rest.handle("GET", f"/api/v3/account?{query}", b"", NOW, headers)
        return reply.status, json.loads(reply.body)

    assert account(creds)[0] == 200
    assert account(other) == (400, sample("errors/rest_-1022_invalid_signature.json"))
    assert account(CREDS)[1]["code"] == -1022                 # an HMAC signature of the same key name
    body = signed_query([("symbol", "ETHUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "0.01")],
                        creds, NOW, 5000).encode()
    assert rest.handle("POST", "/api/v3/order", body, NOW, headers).status == 200
    session = WsApiClientSession({**PUBLIC_METHODS, **trading_methods(w.venue, auth, RequestWeight())}, RequestWeight())

    def subscribe(signer: Credentials) -> dict[str, Any]:
        params = ws_api_params({}, signer, NOW, 5000)                          # raw base64 in the JSON
        return json.loads(session.handle_text(json.dumps(
            {"id": 1, "method": "userDataStream.subscribe.signature", "params": params}), NOW))

    assert subscribe(other)["error"]["code"] == -1022
    assert subscribe(creds)["result"] == {"subscriptionId": 0}
    assert "PUBLIC" not in repr(auth) and DOC_KEY not in repr(auth)


def test_ed25519_public_key_must_be_one() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_public = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValueError, match="expected an Ed25519 public key, got"):
        Authenticator.ed25519(DOC_KEY, ec_public)
    with pytest.raises(ValueError, match="could not be loaded"):
        Authenticator.ed25519(DOC_KEY, b"not a key")


def test_the_account_key_is_a_secret_or_a_public_key_file_not_both(tmp_path: Path) -> None:
    from dmabot.venues.binance.sim import SimConfig
    from dmabot.venues.binance.sim._cli import main
    from dmabot.venues.binance.sim._simulator import authenticator

    _, public = ed25519_pair()
    (tmp_path / "pub.pem").write_bytes(public)
    assert "Ed25519Check" in repr(authenticator(SimConfig(api_key="k", api_public_key_file=str(tmp_path / "pub.pem"))))
    with pytest.raises(ValueError, match="not both"):
        authenticator(SimConfig(api_key="k", api_secret="s", api_public_key_file=str(tmp_path / "pub.pem")))
    with pytest.raises(ValueError, match="cannot read .*none.pem: No such file"):
        authenticator(SimConfig(api_key="k", api_public_key_file=str(tmp_path / "none.pem")))
    assert main(["--api-key", "k", "--api-secret", "s", "--api-public-key-file", str(tmp_path / "pub.pem")]) == 2


def test_ws_api_lose_reply_runs_the_order_and_answers_nothing() -> None:
    w = World()
    weight = RequestWeight()
    faults = [True]
    session = WsApiClientSession({**PUBLIC_METHODS, **trading_methods(w.venue, Authenticator(CREDS), weight)}, weight,
                           lose_reply=lambda: bool(faults) and faults.pop())
    place = {"id": 7, "method": "order.place", "params": ws_api_params(
        {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}, CREDS, NOW, 5000)}
    assert session.handle_text(json.dumps(place), NOW) is None                  # executed, no reply
    assert len(w.venue.my_trades({"symbol": "BTCUSDT"}, NOW)) == 1
    faults.append(True)
    ping = json.loads(session.handle_text('{"id":8,"method":"ping"}', NOW))     # not trading: answered
    assert ping["status"] == 200 and faults == [True]                           # and the fault kept
    assert session.handle_text(json.dumps(dict(place, id=9)), NOW) is None
    assert json.loads(session.handle_text(json.dumps(dict(place, id=10)), NOW))["status"] == 200  # used up
    assert len(w.venue.my_trades({"symbol": "BTCUSDT"}, NOW)) == 3


def test_my_trades_pages_ids_from_from_id_ascending_500_by_default_1000_at_most() -> None:
    w = World()
    for i in range(1003):                    # one trade each, the touch refreshed before it runs dry
        if i % 20 == 0:
            set_book(w.btc, "91250.00", "91250.01", "0.5", "0.004")
            w.venue.on_book("BTCUSDT", NOW)
        w.order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.0001", newOrderRespType="ACK")
    last = len(w.venue.trades["BTCUSDT"])

    def ids(**params: str) -> list[int]:
        return [t["id"] for t in w.venue.my_trades({"symbol": "BTCUSDT", **params}, NOW)]

    assert ids() == list(range(last - 499, last + 1))              # no fromId: the latest 500
    assert ids(fromId="1") == list(range(1, 501))
    assert ids(fromId="1", limit="1000") == list(range(1, 1001))
    assert ids(fromId="1001", limit="1000") == list(range(1001, last + 1))   # the short page: the end
    assert ids(fromId=str(last + 1), limit="1000") == []
    for limit in ("0", "1001"):
        assert error_of(w.venue.my_trades, {"symbol": "BTCUSDT", "limit": limit}, NOW)["code"] == -1100

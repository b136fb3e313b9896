"""The simulator as a venue over real loopback sockets: a client signing with
`dmabot.venues.binance.protocol.signing` trades over REST and follows its account over the WebSocket API.

Each test runs its own in-process `Simulator` on the test's reactor (plain TCP; TLS is
covered by tests/test_sim.py), so faults and rate limits never leak between tests.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from dmabot.io.reactor import Reactor
from dmabot.venues.binance.protocol.signing import Credentials, signed_query, ws_api_params
from dmabot.venues.binance.sim import Simulator
from dmabot.venues.binance.sim._limits import Limits
from tests.helpers.paths import TEST_DATA
from tests.helpers.sim_clients import HttpClient, WsClient, fetch, open_client, run_for, run_until
from tests.helpers.sim_venue import CREDS, KEY, SECRET, Trader, now_ms, start_sim

SAMPLES = TEST_DATA / "binance"


def sample(path: str) -> Any:
    return json.loads((SAMPLES / path).read_text())


@pytest.fixture
def sim(reactor: Reactor, caplog: pytest.LogCaptureFixture) -> Iterator[Simulator]:
    caplog.set_level(logging.DEBUG)
    s = start_sim(reactor)
    yield s
    s.close()
    assert SECRET not in caplog.text


def user_stream(reactor: Reactor, sim: Simulator) -> WsClient:
    client = open_client(reactor, sim.port, WsClient(f"127.0.0.1:{sim.port}", "/ws-api/v3"), None)
    run_until(reactor, lambda: client.accepted or client.lost)
    params = ws_api_params({}, CREDS, now_ms(), 5000)
    client.send_text(json.dumps({"id": "uds-1", "method": "userDataStream.subscribe.signature", "params": params}))
    run_until(reactor, lambda: len(client.messages) >= 1)
    reply = json.loads(client.messages.pop(0))
    assert reply["status"] == 200 and reply["result"] == {"subscriptionId": 0}, reply
    return client


def events(client: WsClient) -> list[dict[str, Any]]:
    return [json.loads(m)["event"] for m in client.messages if '"subscriptionId"' in m and '"event"' in m]


def freeze(sim: Simulator) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """Stop the book moving, with 0.01 BTC bid and 0.002 BTC offered at the touch;
    return (bid, bid qty, ask, ask qty) as they stay."""
    sim.stall(3600)
    walk = sim.venue.books["BTCUSDT"]
    walk.bid_qty_steps, walk.ask_qty_steps = 1000, 200
    book = json.loads(sim.venue.books["BTCUSDT"].payload())
    return Decimal(book["b"]), Decimal(book["B"]), Decimal(book["a"]), Decimal(book["A"])


# -- trading --------------------------------------------------------------------------------


def test_market_buy_fills_at_the_touch_with_commission_in_base(reactor: Reactor, sim: Simulator) -> None:
    trader = Trader(reactor, sim)
    _, _, ask, ask_qty = freeze(sim)
    qty = ask_qty - Decimal("0.001")
    before = trader.balances()
    status, headers, reply = trader.call(
        "POST",
        "/api/v3/order",
        [
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "MARKET"),
            ("quantity", str(qty)),
            ("newClientOrderId", "mkt-1"),
            ("newOrderRespType", "FULL"),
        ],
    )
    assert status == 200, reply
    assert list(reply) == list(sample("rest/order_market_full_filled.json"))
    [fill] = reply["fills"]
    assert Decimal(fill["price"]) == ask and Decimal(fill["qty"]) == qty
    assert fill["commissionAsset"] == "BTC" and Decimal(fill["commission"]) == qty / 1000
    assert {"x-mbx-used-weight-1m", "x-mbx-order-count-10s", "x-mbx-order-count-1d"} <= set(headers)
    after = trader.balances()
    assert after["BTC"][0] - before["BTC"][0] == qty - qty / 1000
    assert before["USDT"][0] - after["USDT"][0] == ask * qty
    [trade] = trader.ok("GET", "/api/v3/myTrades", [("symbol", "BTCUSDT")])
    assert (trade["orderId"], trade["isBuyer"], trade["isMaker"]) == (reply["orderId"], True, False)


def test_market_sell_beyond_the_touch_walks_down_the_book(reactor: Reactor, sim: Simulator) -> None:
    trader = Trader(reactor, sim)
    bid, bid_qty, _, _ = freeze(sim)
    qty = bid_qty + Decimal("0.00001")
    reply = trader.ok(
        "POST", "/api/v3/order", [("symbol", "BTCUSDT"), ("side", "SELL"), ("type", "MARKET"), ("quantity", str(qty))]
    )
    prices = [Decimal(f["price"]) for f in reply["fills"]]
    assert prices == [bid, bid - Decimal("0.01")]
    assert all(f["commissionAsset"] == "USDT" for f in reply["fills"])
    assert reply["status"] == "FILLED"


def test_resting_limit_order_fills_as_the_book_moves_with_user_data(reactor: Reactor, sim: Simulator) -> None:
    trader = Trader(reactor, sim)
    stream = user_stream(reactor, sim)
    book = json.loads(sim.venue.books["ETHUSDT"].payload())
    price = Decimal(book["b"]) - Decimal("0.02")
    reply = trader.ok(
        "POST",
        "/api/v3/order",
        [
            ("symbol", "ETHUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.01"),
            ("price", str(price)),
            ("newClientOrderId", "rest-1"),
            ("newOrderRespType", "RESULT"),
        ],
    )
    assert reply["status"] in ("NEW", "PARTIALLY_FILLED", "FILLED")
    run_until(reactor, lambda: any(e.get("X") == "FILLED" for e in events(stream)), timeout_s=20)
    reports = [e for e in events(stream) if e["e"] == "executionReport"]
    assert reports[0]["x"] == "NEW" and reports[0]["c"] == "rest-1"
    fills = [e for e in reports if e["x"] == "TRADE"]
    assert all(e["m"] is True and Decimal(e["L"]) == price for e in fills)
    assert sum(Decimal(e["l"]) for e in fills) == Decimal("0.01")
    assert [e["t"] for e in fills] == sorted(e["t"] for e in fills)
    assert any(e["e"] == "outboundAccountPosition" for e in events(stream))
    for e in reports:
        assert list(e) == list(
            sample(f"user_data/execution_report_{'new' if e['x'] == 'NEW' else 'filled'}.json")["event"]
        )
    query = trader.ok("GET", "/api/v3/order", [("symbol", "ETHUSDT"), ("origClientOrderId", "rest-1")])
    assert query["status"] == "FILLED" and trader.ok("GET", "/api/v3/openOrders", [("symbol", "ETHUSDT")]) == []
    eth_free, eth_locked = trader.balances()["ETH"]
    assert eth_free == Decimal("10.01") - Decimal("0.00001") and eth_locked == 0


def test_cancel_duplicate_and_unknown_orders(reactor: Reactor, sim: Simulator) -> None:
    trader = Trader(reactor, sim)
    order = [
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", "0.001"),
        ("price", "80000"),
        ("newClientOrderId", "idem-1"),
    ]
    first = trader.ok("POST", "/api/v3/order", order)
    assert trader.balances()["USDT"][1] == Decimal(80)
    status, _, body = trader.call("POST", "/api/v3/order", order)
    assert (status, body) == (400, sample("errors/rest_-2010_duplicate_client_order_id.json"))
    [row] = trader.ok("GET", "/api/v3/openOrders", [("symbol", "BTCUSDT")])
    assert row["orderId"] == first["orderId"]
    canceled = trader.ok("DELETE", "/api/v3/order", [("symbol", "BTCUSDT"), ("origClientOrderId", "idem-1")])
    assert canceled["status"] == "CANCELED" and canceled["origClientOrderId"] == "idem-1"
    assert trader.balances()["USDT"] == (Decimal(100000), Decimal(0))
    status, _, body = trader.call(
        "DELETE", "/api/v3/order", [("symbol", "BTCUSDT"), ("orderId", str(first["orderId"]))]
    )
    assert (status, body) == (400, sample("errors/rest_-2011_unknown_order_on_cancel.json"))
    status, _, body = trader.call("GET", "/api/v3/order", [("symbol", "BTCUSDT"), ("orderId", "424242")])
    assert (status, body) == (400, sample("errors/rest_-2013_order_does_not_exist.json"))
    second = trader.ok("POST", "/api/v3/order", order)  # the id is free again once the first is closed
    assert second["orderId"] > first["orderId"]
    [cancel_all] = trader.ok("DELETE", "/api/v3/openOrders", [("symbol", "BTCUSDT")])
    assert cancel_all["orderId"] == second["orderId"] and cancel_all["status"] == "CANCELED"


def test_errors_over_the_wire_match_the_samples(reactor: Reactor, sim: Simulator) -> None:
    trader = Trader(reactor, sim)
    limit = [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC")]
    cases = [
        ("rest_-2014_bad_api_key_format.json", 401, {"params": limit, "api_key": None}),
        ("rest_-2015_rejected_key_ip_permission.json", 401, {"params": limit, "api_key": "not-the-key"}),
        ("rest_-1021_ahead_of_server.json", 400, {"params": limit, "timestamp": now_ms() + 5000}),
        ("rest_-1021_outside_recvwindow.json", 400, {"params": limit, "timestamp": now_ms() - 6000}),
        ("rest_-1102_mandatory_param.json", 400, {"params": limit[:3] + [("quantity", "1"), ("price", "1")]}),
        ("rest_-1013_filter_lot_size.json", 400, {"params": limit + [("quantity", "0.000001"), ("price", "90000")]}),
        ("rest_-1111_bad_precision.json", 400, {"params": limit + [("quantity", "0.000000001"), ("price", "90000")]}),
        ("rest_-1121_bad_symbol.json", 400, {"params": [("symbol", "NOPEUSDT")] + limit[1:]}),
        ("rest_-2010_insufficient_balance.json", 400, {"params": limit + [("quantity", "2"), ("price", "90000")]}),
    ]
    for name, status, kwargs in cases:
        params = kwargs.pop("params")
        got = trader.call("POST", "/api/v3/order", params, **kwargs)
        assert (got[0], got[2]) == (status, sample(f"errors/{name}")), name
    wrong = Trader(reactor, sim, Credentials(KEY, "not-the-secret"))
    got = wrong.call("GET", "/api/v3/account")
    assert (got[0], got[2]) == (400, sample("errors/rest_-1022_invalid_signature.json"))
    assert "x-mbx-used-weight-1m" in got[1]
    # signed over query + body, split as the docs' vector B does
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = f"quantity=0.001&price=80000&recvWindow=5000&timestamp={now_ms()}"
    signature = CREDS.sign(query + body)
    trader.http.request(
        "POST", f"/api/v3/order?{query}", f"{body}&signature={signature}".encode(), (("X-MBX-APIKEY", KEY),)
    )
    run_until(reactor, lambda: trader.http.done)
    assert trader.http.response.status_code == 200 and json.loads(trader.http.body)["status"] == "NEW"


def test_order_place_and_cancel_over_the_ws_api(reactor: Reactor, sim: Simulator) -> None:
    stream = user_stream(reactor, sim)
    place = ws_api_params(
        {
            "symbol": "ETHUSDT",
            "side": "SELL",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.5",
            "price": "9000",
            "newClientOrderId": "ws-1",
        },
        CREDS,
        now_ms(),
        5000,
    )
    stream.send_text(json.dumps({"id": "p1", "method": "order.place", "params": place}))
    def replies() -> list:
        return [json.loads(m) for m in stream.messages if '"id"' in m]

    run_until(reactor, lambda: len(replies()) == 1)
    [placed] = replies()
    assert placed["status"] == 200 and placed["result"]["status"] == "NEW"
    cancel = ws_api_params({"symbol": "ETHUSDT", "origClientOrderId": "ws-1"}, CREDS, now_ms(), 5000)
    stream.send_text(json.dumps({"id": "c1", "method": "order.cancel", "params": cancel}))
    run_until(reactor, lambda: len(replies()) == 2)
    assert replies()[1]["result"]["status"] == "CANCELED"
    kinds = [(e["e"], e.get("x")) for e in events(stream)]
    assert kinds == [
        ("executionReport", "NEW"),
        ("outboundAccountPosition", None),
        ("executionReport", "CANCELED"),
        ("outboundAccountPosition", None),
    ]
    stream.send_text(json.dumps(sample("ws_api/user_data_unsubscribe_request.json")))
    run_until(reactor, lambda: len(replies()) == 3)
    assert replies()[2]["result"] == {}
    assert events(stream)[-1]["e"] == "eventStreamTerminated"


# -- rate limits ----------------------------------------------------------------------------


def test_weight_429_then_418_over_the_wire(reactor: Reactor) -> None:
    sim = start_sim(reactor, limits=Limits(request_weight=50, orders_10s=2))
    try:
        trader = Trader(reactor, sim)
        used = [trader.call("GET", "/api/v3/account")[1]["x-mbx-used-weight-1m"] for _ in range(2)]
        assert used == ["20", "40"]
        status, headers, body = trader.call("GET", "/api/v3/account")
        assert status == 429 and body["code"] == -1003 and int(headers["retry-after"]) >= 1
        for _ in range(3):
            status, headers, body = trader.call("GET", "/api/v3/account")
        assert status == 418 and "IP banned until" in body["msg"] and int(headers["retry-after"]) >= 119
    finally:
        sim.close()


def test_too_many_orders_429(reactor: Reactor) -> None:
    sim = start_sim(reactor, limits=Limits(orders_10s=2))
    try:
        trader = Trader(reactor, sim)
        order = [
            ("symbol", "ETHUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.01"),
            ("price", "1000"),
        ]
        counts = [trader.call("POST", "/api/v3/order", order)[1]["x-mbx-order-count-10s"] for _ in range(2)]
        status, headers, body = trader.call("POST", "/api/v3/order", order)
        if counts != ["1", "2"]:
            pytest.skip("a 10-second window boundary fell inside the test")
        assert status == 429 and body == {
            "code": -1015,
            "msg": "Too many new orders; current limit is 2 orders per 10 SECOND.",
        }
        assert "retry-after" in headers
    finally:
        sim.close()


# -- faults -----------------------------------------------------------------------------------


def fault(reactor: Reactor, sim: Simulator, query: str) -> dict[str, Any]:
    client = fetch(
        reactor,
        open_client(reactor, sim.port, HttpClient(f"127.0.0.1:{sim.port}"), None),
        "POST",
        f"/sim/fault?{query}",
    )
    assert client.response.status_code == 200, client.body
    return json.loads(client.body)


def test_lost_reply_leaves_an_order_of_unknown_status_that_a_query_finds(reactor: Reactor, sim: Simulator) -> None:
    stream = user_stream(reactor, sim)
    fault(reactor, sim, "action=lose_reply")
    trader = Trader(reactor, sim)
    order = [
        ("symbol", "ETHUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", "0.01"),
        ("price", "1000"),
        ("newClientOrderId", "lost-1"),
    ]
    trader.http.request(
        "POST", "/api/v3/order", signed_query(order, CREDS, now_ms(), 5000).encode(), (("X-MBX-APIKEY", KEY),)
    )
    run_until(reactor, lambda: trader.http.lost)
    assert trader.http.response is None
    found = Trader(reactor, sim).ok("GET", "/api/v3/order", [("symbol", "ETHUSDT"), ("origClientOrderId", "lost-1")])
    assert found["status"] == "NEW"
    # the user stream told the truth all along
    run_until(reactor, lambda: any(e.get("c") == "lost-1" for e in events(stream)))
    [new] = [e for e in events(stream) if e.get("c") == "lost-1"]
    assert (new["x"], new["i"]) == ("NEW", found["orderId"])


def test_delayed_reply_and_5xx_still_execute(reactor: Reactor, sim: Simulator) -> None:
    trader = Trader(reactor, sim)
    order = [
        ("symbol", "ETHUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", "0.01"),
        ("price", "1000"),
    ]
    fault(reactor, sim, "action=delay_reply&seconds=0.3")
    trader.http.request(
        "POST",
        "/api/v3/order",
        signed_query(order + [("newClientOrderId", "slow-1")], CREDS, now_ms(), 5000).encode(),
        (("X-MBX-APIKEY", KEY),),
    )
    sent = time.monotonic()
    run_for(reactor, 0.1)
    assert not trader.http.done
    assert sim.venue.query_order({"symbol": "ETHUSDT", "origClientOrderId": "slow-1"}, 0)["status"] == "NEW"
    run_until(reactor, lambda: trader.http.done)
    assert time.monotonic() - sent >= 0.29 and trader.http.response.status_code == 200
    fault(reactor, sim, "action=http_5xx&code=503")
    status, _, _ = trader.call("POST", "/api/v3/order", order + [("newClientOrderId", "5xx-1")])
    assert status == 503
    assert trader.ok("GET", "/api/v3/order", [("symbol", "ETHUSDT"), ("origClientOrderId", "5xx-1")])["status"] == "NEW"


def test_forced_1021_429_418_and_dropped_user_stream(reactor: Reactor, sim: Simulator) -> None:
    trader = Trader(reactor, sim)
    fault(reactor, sim, "action=force_1021")
    got = trader.call("GET", "/api/v3/account")
    assert (got[0], got[2]) == (400, sample("errors/rest_-1021_outside_recvwindow.json"))
    assert trader.call("GET", "/api/v3/account")[0] == 200
    fault(reactor, sim, "action=force_429&count=2")
    got = trader.call("GET", "/api/v3/account")
    assert got[0] == 429 and got[2] == sample("errors/rest_-1003_http429_too_much_weight.json")
    assert "retry-after" in got[1]
    stream = user_stream(reactor, sim)
    assert fault(reactor, sim, "action=drop_user_stream") == {"action": "drop_user_stream", "connections": 1}
    run_until(reactor, lambda: stream.lost)
    assert sim.venue.listeners == []
    fault(reactor, sim, "action=force_418&seconds=30")
    got = trader.call("GET", "/api/v3/time")
    assert got[0] == 418 and got[2]["code"] == -1003 and 29 <= int(got[1]["retry-after"]) <= 30


def test_forced_429_with_seconds_and_the_journal_of_what_the_venue_answered(reactor: Reactor, sim: Simulator) -> None:
    trader = Trader(reactor, sim)
    fault(reactor, sim, "action=force_429&seconds=3")
    got = trader.call("GET", "/api/v3/account")
    assert got[0] == 429 and got[1]["retry-after"] == "3"
    assert trader.call("GET", "/api/v3/account")[0] == 200       # one forced 429 only
    trader.http.request("GET", "/sim/requests")
    run_until(reactor, lambda: trader.http.done)
    journal = json.loads(trader.http.body)["requests"]
    assert [(r["method"], r["path"], r["status"]) for r in journal] == [
        ("GET", "/api/v3/account", 429), ("GET", "/api/v3/account", 200)]   # no /sim/ requests
    assert journal[0]["time"] <= journal[1]["time"] <= now_ms()


def test_forced_429_for_the_order_count_hits_new_orders_only(reactor: Reactor, sim: Simulator) -> None:
    trader = Trader(reactor, sim)
    fault(reactor, sim, "action=force_429&code=-1015&seconds=3")
    assert trader.call("GET", "/api/v3/account")[0] == 200           # not a new order: answered
    order = [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"), ("quantity", "0.001")]
    status, headers, body = trader.call("POST", "/api/v3/order", order)
    assert (status, body["code"], headers["retry-after"]) == (429, -1015, "3")
    assert trader.call("POST", "/api/v3/order", order)[0] == 200      # one forced 429 only


def test_balance_update_switch_reaches_the_user_stream(reactor: Reactor, sim: Simulator) -> None:
    stream = user_stream(reactor, sim)
    trader = Trader(reactor, sim)
    trader.http.request("POST", "/sim/balance_update?asset=ETH&delta=-2.5")
    run_until(reactor, lambda: trader.http.done)
    assert trader.http.response.status_code == 200
    run_until(reactor, lambda: len(events(stream)) >= 2)
    assert [(e["e"], e.get("d")) for e in events(stream)] == [("balanceUpdate", "-2.50000000"),
                                                              ("outboundAccountPosition", None)]
    assert trader.balances()["ETH"] == (Decimal("7.5"), 0)


def test_cli_options_set_balances_and_commission(tmp_path: Path, reactor: Reactor) -> None:
    import re
    import signal
    import subprocess
    import sys

    log = tmp_path / "sim.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dmabot",
                "sim",
                "--port",
                "0",
                "--api-key",
                KEY,
                "--api-secret",
                SECRET,
                "--balances",
                "USDT=5000,BNB=2.5",
                "--commission",
                "0.00075",
                "--weight-limit",
                "100",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 10
        while not (found := re.search(r"sim listening on ws://127\.0\.0\.1:(\d+)", log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)

        class Port:
            port = int(found.group(1))

        account = Trader(reactor, Port()).ok("GET", "/api/v3/account", [("omitZeroBalances", "true")])
        assert [(b["asset"], b["free"]) for b in account["balances"]] == [
            ("BNB", "2.50000000"),
            ("USDT", "5000.00000000"),
        ]
        assert account["commissionRates"]["taker"] == "0.00075000"
        info = fetch(
            reactor,
            open_client(reactor, Port.port, HttpClient(f"127.0.0.1:{Port.port}"), None),
            "GET",
            "/api/v3/exchangeInfo",
        )
        assert json.loads(info.body)["rateLimits"][0]["limit"] == 100
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert SECRET not in log.read_text()

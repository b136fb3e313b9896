"""Reconciler on its own: the requests of a reconciliation and what the replies do."""
from __future__ import annotations

import json
from decimal import Decimal

from dmabot.core.types import Order
from dmabot.venues.binance.protocol.balances import BalanceBook
from dmabot.venues.binance.protocol.filters import parse_exchange_info
from dmabot.venues.binance.protocol.orders import OrderRegistry
from dmabot.venues.binance.protocol.replies import parse_order
from dmabot.venues.binance.protocol.rest_protocol import Response
from dmabot.venues.binance.protocol.rest_request import RestRequests
from dmabot.venues.binance.protocol.signing import Credentials
from dmabot.venues.binance.reconcile import PAGE, Reconciler
from dmabot.venues.binance.request_kinds import RequestKind, Tag
from tests.helpers.paths import TEST_DATA

MS = 1_795_858_200_000


def reconciler() -> Reconciler:
    return Reconciler(("BTCUSDT", "ETHUSDT"), RestRequests("api.test", Credentials("key", "secret"), 5000),
                      BalanceBook())


def registry() -> OrderRegistry:
    info = parse_exchange_info(json.loads((TEST_DATA / "binance" / "rest" / "exchange_info_btcusdt_ethusdt.json")
                                          .read_text()))
    return OrderRegistry([info.symbols["BTCUSDT"], info.symbols["ETHUSDT"]])


def reply(tag: Tag | None, status: int, body) -> Response:
    return Response(tag, status, (), json.dumps(body).encode(), 0, 0)


def paths(requests) -> list[tuple[RequestKind, bytes]]:
    """(kind, target) of each request, without the parameters every signed request has."""
    return [(tag.kind, wire.split(b" ")[1].split(b"&recvWindow=")[0].replace(b"&limit=1000", b""))
            for tag, wire in requests]


def test_at_start_the_latest_trade_per_symbol_and_the_balances():
    assert paths(reconciler().start_requests(MS)) == [
        (RequestKind.GAP_TRADES, b"/api/v3/myTrades?symbol=BTCUSDT&limit=1"),
        (RequestKind.GAP_TRADES, b"/api/v3/myTrades?symbol=ETHUSDT&limit=1"),
        (RequestKind.ACCOUNT, b"/api/v3/account?omitZeroBalances=true")]


def trade(trade_id: int, order_id: int, qty: str = "0.00001000") -> dict:
    return {"symbol": "BTCUSDT", "id": trade_id, "orderId": order_id, "orderListId": -1, "price": "91250.00",
            "qty": qty, "quoteQty": "0", "commission": "0", "commissionAsset": "USDT", "time": MS,
            "isBuyer": True, "isMaker": True, "isBestMatch": True}


def test_after_an_outage_trades_from_what_the_last_reading_saw_and_open_orders():
    r, reg = reconciler(), registry()
    trades = json.loads((TEST_DATA / "binance" / "rest" / "my_trades.json").read_text())
    tag = Tag(RequestKind.GAP_TRADES, "BTCUSDT")
    assert r.on_response(tag, reply(tag, 200, trades), reg, 0, MS) == ([], [], [])
    assert r.complete_through["BTCUSDT"] == max(t["id"] for t in trades)    # the start: where to begin
    tag = Tag(RequestKind.GAP_TRADES, "ETHUSDT")
    r.on_response(tag, reply(tag, 200, []), reg, 0, MS)                     # never traded
    r.due = True
    assert paths(r.requests_after_outage(MS)) == [
        (RequestKind.GAP_TRADES,
         f"/api/v3/myTrades?symbol=BTCUSDT&fromId={r.complete_through['BTCUSDT'] + 1}".encode()),
        (RequestKind.GAP_ORDERS, b"/api/v3/openOrders?symbol=BTCUSDT"),
        (RequestKind.GAP_TRADES, b"/api/v3/myTrades?symbol=ETHUSDT&fromId=1"),
        (RequestKind.GAP_ORDERS, b"/api/v3/openOrders?symbol=ETHUSDT"),
        (RequestKind.ACCOUNT, b"/api/v3/account?omitZeroBalances=true")]
    assert not r.due


def placed(reg: OrderRegistry, client_id: str, venue_order_id: int, qty: str) -> None:
    """An order the venue acknowledged, resting (NEW)."""
    state = json.loads((TEST_DATA / "binance" / "rest" / "query_order.json").read_text())
    state.update(clientOrderId=client_id, orderId=venue_order_id, origQty=qty, executedQty="0", status="NEW")
    reg.register(Order(venue_order_id, venue_order_id, 0, 0, 0, 0, 0, 1, 91250.0, float(qty)), client_id,
                 Decimal(qty), 0)
    reg.on_order_state(parse_order(state), 0)


def test_a_full_page_asks_for_the_next_and_a_short_page_ends_it():
    r, reg = reconciler(), registry()
    r.complete_through["BTCUSDT"] = 99
    placed(reg, "a", 11, "0.01003000")
    tag = Tag(RequestKind.GAP_TRADES, "BTCUSDT")
    first = r.on_response(tag, reply(tag, 200, [trade(100 + i, 11) for i in range(PAGE)]), reg, 0, MS)
    assert len([x for x in first.reports if x.trade_id]) == PAGE and r.complete_through["BTCUSDT"] == 1099
    assert paths(first.requests) == [(RequestKind.GAP_TRADES, b"/api/v3/myTrades?symbol=BTCUSDT&fromId=1100")]
    assert b"&limit=1000&" in first.requests[0][1]
    last = r.on_response(tag, reply(tag, 200, [trade(1100 + i, 11) for i in range(3)]), reg, 0, MS)
    assert [x.trade_id for x in last.reports] == [1100, 1101, 1102] and last.requests == []
    assert r.complete_through["BTCUSDT"] == 1102 and reg.get("a").status.name == "FILLED"
    again = r.on_response(tag, reply(tag, 200, [trade(1102, 11)]), reg, 0, MS)       # read twice: once
    assert again.reports == [] and reg.duplicate_fills == 1


def test_an_empty_page_leaves_the_mark():
    r, reg = reconciler(), registry()
    r.complete_through["BTCUSDT"] = 99
    tag = Tag(RequestKind.GAP_TRADES, "BTCUSDT")
    assert r.on_response(tag, reply(tag, 200, []), reg, 0, MS) == ([], [], [])
    assert r.complete_through["BTCUSDT"] == 99


def test_live_orders_open_orders_no_longer_lists_are_to_be_queried():
    r, reg = reconciler(), registry()
    placed(reg, "gone", 11, "0.00200000")
    placed(reg, "resting", 12, "0.00200000")
    reg.register(Order(13, 13, 0, 0, 0, 0, 0, 1, 91250.0, 0.002), "pending", Decimal("0.002"), 0)
    listed = json.loads((TEST_DATA / "binance" / "rest" / "query_order.json").read_text())
    listed.update(clientOrderId="resting", orderId=12, origQty="0.00200000", executedQty="0", status="NEW")
    tag = Tag(RequestKind.GAP_ORDERS, "BTCUSDT")
    done = r.on_response(tag, reply(tag, 200, [listed]), reg, 0, MS)
    # PENDING_NEW waits for its reply: a query that early may say -2013 of an order that exists
    assert [t.client_order_id for t in done.queries] == ["gone"]


def test_a_429_makes_it_due_again_other_errors_do_not():
    r = reconciler()
    tag = Tag(RequestKind.GAP_ORDERS, "BTCUSDT")
    r.on_response(tag, reply(tag, 400, {"code": -1100, "msg": "bad"}), registry(), 0, MS)
    assert not r.due
    r.on_response(tag, reply(tag, 429, {"code": -1003, "msg": "Too much request weight used"}), registry(), 0, MS)
    assert r.due


def test_the_account_reply_is_the_balances():
    r = reconciler()
    account = json.loads((TEST_DATA / "binance" / "rest" / "account.json").read_text())
    tag = Tag(RequestKind.ACCOUNT, "balances")
    assert r.on_response(tag, reply(tag, 200, account), None, 0, MS) == ([], [], [])
    assert {b.asset for b in r.balances.balances()} >= {"USDT"}

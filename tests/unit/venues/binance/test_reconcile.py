"""Reconciler on its own: the requests of a reconciliation and what the replies do."""
from __future__ import annotations

import json

from dmabot.core.types import ExecReport, Order
from dmabot.venues.binance.protocol.balances import BalanceBook
from dmabot.venues.binance.protocol.rest_protocol import Response
from dmabot.venues.binance.protocol.rest_request import RestRequests
from dmabot.venues.binance.protocol.signing import Credentials
from dmabot.venues.binance.reconcile import Reconciler
from dmabot.venues.binance.request_kinds import RequestKind, Tag
from tests.helpers.paths import TEST_DATA

MS = 1_795_858_200_000


def reconciler() -> Reconciler:
    return Reconciler(("BTCUSDT", "ETHUSDT"), RestRequests("api.test", Credentials("key", "secret"), 5000),
                      BalanceBook())


def reply(tag: Tag, status: int, body) -> Response:
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


def test_after_an_outage_trades_since_the_last_applied_and_open_orders():
    r = reconciler()
    trades = json.loads((TEST_DATA / "binance" / "rest" / "my_trades.json").read_text())
    assert r.on_response(Tag(RequestKind.GAP_TRADES, "BTCUSDT"), reply(None, 200, trades), None, 0) == []
    assert r.last_trade_id["BTCUSDT"] == max(t["id"] for t in trades)    # the start: where to begin
    order = Order(1, 1, 0, 1, 0, 0, 0, 1, 3150.0, 0.1)
    r.note([ExecReport(order, 0, 2, 3150.0, 0.1, 0.0, 77)])               # a fill on ETHUSDT, trade 77
    r.due = True
    assert paths(r.requests_after_outage(MS)) == [
        (RequestKind.GAP_TRADES, f"/api/v3/myTrades?symbol=BTCUSDT&fromId={r.last_trade_id['BTCUSDT'] + 1}".encode()),
        (RequestKind.GAP_ORDERS, b"/api/v3/openOrders?symbol=BTCUSDT"),
        (RequestKind.GAP_TRADES, b"/api/v3/myTrades?symbol=ETHUSDT&fromId=78"),
        (RequestKind.GAP_ORDERS, b"/api/v3/openOrders?symbol=ETHUSDT"),
        (RequestKind.ACCOUNT, b"/api/v3/account?omitZeroBalances=true")]
    assert not r.due


def test_a_429_makes_it_due_again_other_errors_do_not():
    r = reconciler()
    tag = Tag(RequestKind.GAP_ORDERS, "BTCUSDT")
    r.on_response(tag, reply(tag, 400, {"code": -1100, "msg": "bad"}), None, 0)
    assert not r.due
    r.on_response(tag, reply(tag, 429, {"code": -1003, "msg": "Too much request weight used"}), None, 0)
    assert r.due


def test_the_account_reply_is_the_balances():
    r = reconciler()
    account = json.loads((TEST_DATA / "binance" / "rest" / "account.json").read_text())
    tag = Tag(RequestKind.ACCOUNT, "balances")
    assert r.on_response(tag, reply(tag, 200, account), None, 0) == []
    assert {b.asset for b in r.balances.balances()} >= {"USDT"}

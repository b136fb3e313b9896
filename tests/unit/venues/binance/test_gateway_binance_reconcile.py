"""Reconciliation after an outage through the gateway (harness: tests/helpers/gateway_harness.py):
no fill lost while the user data stream was down, none counted twice.

A small venue in the test answers the reconciliation's requests as Binance does: myTrades with
the trades of id >= fromId, ascending, at most `limit`; openOrders; a query by client order id.
"""
from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs

import pytest

from dmabot.core.types import Side
from dmabot.venues.binance.protocol.wire import TimeInForce
from dmabot.venues.binance.protocol.ws_api import parse_ws_api_message
from dmabot.venues.binance.session import UserEventReceived, UserSubscribed
from tests.helpers.gateway_harness import DATA, SERVER_MS, Harness, form, load


def trade(trade_id: int, order_id: int, qty: str, price: str = "91250.00000000") -> dict:
    """A myTrades row of a BUY on BTCUSDT, its commission in USDT (the base moves by `qty`)."""
    return {"symbol": "BTCUSDT", "id": trade_id, "orderId": order_id, "orderListId": -1, "price": price,
            "qty": qty, "quoteQty": "0", "commission": "0", "commissionAsset": "USDT", "time": SERVER_MS,
            "isBuyer": True, "isMaker": True, "isBestMatch": True}


def order_state(client_id: str, order_id: int, qty: str, executed: str, status: str) -> dict:
    return dict(load("query_order.json"), clientOrderId=client_id, orderId=order_id, origQty=qty,
                executedQty=executed, status=status, isWorking=status in ("NEW", "PARTIALLY_FILLED"))


class Venue:
    """The account's trades and orders as the venue has them, answering what the gateway asks."""

    def __init__(self, *trades: dict) -> None:
        self.trades: list[dict] = list(trades)
        self.open: list[dict] = []
        self.orders: dict[str, dict] = {}
        self.asked: list[tuple[str, dict[str, str]]] = []
        self.failing: set[str] = set()      # paths answered 503 (once each)

    def serve(self, h: Harness) -> None:
        while h.gw.rest is not None and h.gw.rest.in_flight is not None:
            method, target = h.written[-1].split(b" ")[:2]
            path, _, query = target.decode().partition("?")
            q = {k: v[0] for k, v in parse_qs(query).items()}
            if method != b"GET" or path not in ("/api/v3/myTrades", "/api/v3/openOrders", "/api/v3/order",
                                                "/api/v3/account"):
                return
            self.asked.append((path, q))
            if path in self.failing:
                self.failing.discard(path)
                h.reply(503, {"code": -1001, "msg": "Internal error; unable to process your request."})
            elif path == "/api/v3/myTrades":
                h.reply(200, self.my_trades(q))
            elif path == "/api/v3/openOrders":
                h.reply(200, [o for o in self.open if o["symbol"] == q["symbol"]])
            elif path == "/api/v3/order":
                state = self.orders.get(q["origClientOrderId"])
                h.reply(200 if state else 400, state or {"code": -2013, "msg": "Order does not exist."})
            else:
                h.reply(200, load("account.json"))

    def my_trades(self, q: dict[str, str]) -> list[dict]:
        rows = [t for t in self.trades if t["symbol"] == q["symbol"]]
        if "orderId" in q:
            rows = [t for t in rows if t["orderId"] == int(q["orderId"])]
        limit = int(q.get("limit", 500))
        if "fromId" in q:
            return [t for t in rows if t["id"] >= int(q["fromId"])][:limit]
        return rows[-limit:]

    def gap_pages(self) -> list[tuple[str, str]]:
        """(fromId, limit) of each BTCUSDT myTrades page asked for since the start."""
        return [(q["fromId"], q["limit"]) for path, q in self.asked
                if path == "/api/v3/myTrades" and "fromId" in q and q["symbol"] == "BTCUSDT"]


@pytest.fixture
def h() -> Harness:
    return Harness(time_in_force=TimeInForce.GTC)


def ready(h: Harness, venue: Venue) -> None:
    h.reply(200, {"serverTime": SERVER_MS})
    h.reply(200, load("exchange_info_btcusdt_ethusdt.json"))
    venue.serve(h)                                   # the start: the latest trade, the balances
    h.gw.feed(UserSubscribed(h.reactor.now()))


def rest_on_the_book(h: Harness, order_id: int, qty: float, venue_order_id: int) -> str:
    """A GTC BUY the venue answers NEW (FULL, no fills): it rests."""
    h.submit(Side.BUY, 91250.0, qty, order_id=order_id)
    client_id = form(h.written[-1])["newClientOrderId"]
    h.reply(200, dict(load("order_limit_full_new_resting.json"), clientOrderId=client_id, orderId=venue_order_id,
                      origQty=f"{qty:.8f}"))
    return client_id


def filled_at_once(h: Harness, order_id: int, qty: str, venue_order_id: int, trade_id: int) -> None:
    """A GTC BUY that crosses: the FULL reply carries its fill."""
    h.submit(Side.BUY, 91250.0, float(qty), order_id=order_id)
    client_id = form(h.written[-1])["newClientOrderId"]
    h.reply(200, dict(load("order_limit_full_new_resting.json"), clientOrderId=client_id, orderId=venue_order_id,
                      origQty=qty, executedQty=qty, status="FILLED",
                      fills=[{"price": "91250.00000000", "qty": qty, "commission": "0", "commissionAsset": "USDT",
                              "tradeId": trade_id}]))


def position(h: Harness) -> Decimal:
    return sum((Decimal(str(r.fill_qty)) for r in h.pipeline.reports if r.trade_id), Decimal(0))


def fills(h: Harness) -> list[int]:
    return [r.trade_id for r in h.pipeline.reports if r.trade_id]


def test_a_fill_missed_below_a_later_reply_fill_is_fetched_and_applied_once(h):
    venue = Venue(trade(99, 555, "0.00100000"))      # the latest trade before this run: where to begin
    ready(h, venue)
    resting = rest_on_the_book(h, 1, 0.002, 11)
    # The user data stream is down. The resting order fills (trade 100) and leaves the book;
    # meanwhile another order's FULL reply brings trade 101.
    venue.trades.append(trade(100, 11, "0.00200000"))
    venue.orders[resting] = order_state(resting, 11, "0.00200000", "0.00200000", "FILLED")
    filled_at_once(h, 2, "0.00100000", 12, 101)
    venue.trades.append(trade(101, 12, "0.00100000"))
    assert fills(h) == [101]
    h.gw.feed(UserSubscribed(h.reactor.now()))     # back: reconcile
    venue.serve(h)
    assert venue.gap_pages() == [("100", "1000")]    # from what the start read, not past trade 101
    assert sorted(fills(h)) == [100, 101] and position(h) == Decimal("0.003")
    assert h.gw.registry.get(resting).status.name == "FILLED"
    assert h.gw.registry.duplicate_fills == 1        # trade 101 came on both channels, counted once
    assert h.gw.session.reconciler.complete_through["BTCUSDT"] == 101


def test_missed_trades_are_paged_until_a_short_page(h):
    venue = Venue(trade(99, 555, "0.00100000"))
    ready(h, venue)
    resting = rest_on_the_book(h, 1, 0.01003, 11)
    venue.trades += [trade(100 + i, 11, "0.00001000") for i in range(1003)]   # 1000 + 3 missed
    venue.orders[resting] = order_state(resting, 11, "0.01003000", "0.01003000", "FILLED")
    h.gw.feed(UserSubscribed(h.reactor.now()))
    venue.serve(h)
    assert venue.gap_pages() == [("100", "1000"), ("1100", "1000")]   # a full page asks for the next
    assert fills(h) == list(range(100, 1103)) and position(h) == Decimal("0.01003")
    assert h.gw.registry.get(resting).status.name == "FILLED"
    assert h.gw.session.reconciler.complete_through["BTCUSDT"] == 1102


def test_an_order_that_left_the_book_unseen_is_queried_and_ends_filled(h):
    venue = Venue()
    ready(h, venue)
    resting = rest_on_the_book(h, 1, 0.002, 11)
    other = rest_on_the_book(h, 2, 0.001, 12)        # still resting: openOrders lists it
    venue.trades.append(trade(1, 11, "0.00200000"))
    venue.orders[resting] = order_state(resting, 11, "0.00200000", "0.00200000", "FILLED")
    venue.open = [order_state(other, 12, "0.00100000", "0", "NEW")]
    venue.failing.add("/api/v3/myTrades")            # the gap reading fails: the order itself tells
    h.gw.feed(UserSubscribed(h.reactor.now()))
    venue.serve(h)
    queried = [q["origClientOrderId"] for path, q in venue.asked if path == "/api/v3/order"]
    assert queried == [resting]
    assert ("/api/v3/myTrades", {"symbol": "BTCUSDT", "orderId": "11"}) in [
        (p, {k: v for k, v in q.items() if k in ("symbol", "orderId")}) for p, q in venue.asked]
    assert h.gw.registry.get(resting).status.name == "FILLED" and fills(h) == [1]
    assert h.gw.registry.get(other).status.name == "NEW"
    assert h.gw.session.reconciler.complete_through["BTCUSDT"] == 0    # the failed page moved nothing


def test_an_order_cancelled_unseen_is_queried_and_reported_cancelled(h):
    venue = Venue()
    ready(h, venue)
    resting = rest_on_the_book(h, 1, 0.002, 11)
    venue.orders[resting] = order_state(resting, 11, "0.00200000", "0", "CANCELED")   # from the web UI
    h.gw.feed(UserSubscribed(h.reactor.now()))
    venue.serve(h)
    assert h.gw.registry.get(resting).status.name == "CANCELED"
    assert h.pipeline.statuses() == ["ACK", "CANCELED"]


def test_a_fill_on_both_channels_counts_once(h):
    venue = Venue(trade(99, 555, "0.00100000"))
    ready(h, venue)
    resting = rest_on_the_book(h, 1, 0.002, 11)
    event = json.loads((DATA.parent / "user_data" / "execution_report_filled.json").read_text())
    event["event"].update(c=resting, i=11, q="0.00200000", l="0.00200000", z="0.00200000", n="0", N="USDT",
                          t=100)
    h.gw.feed(UserEventReceived(parse_ws_api_message(event), h.reactor.now()))      # the stream's copy
    assert fills(h) == [100] and position(h) == Decimal("0.002")
    venue.trades.append(trade(100, 11, "0.00200000"))
    venue.orders[resting] = order_state(resting, 11, "0.00200000", "0.00200000", "FILLED")
    h.gw.feed(UserSubscribed(h.reactor.now()))      # the stream dropped after it: reconcile
    venue.serve(h)
    assert venue.gap_pages() == [("100", "1000")]    # the stream's fill says nothing of what it jumped
    assert fills(h) == [100] and position(h) == Decimal("0.002")   # myTrades' copy changed nothing
    assert h.gw.registry.duplicate_fills == 1

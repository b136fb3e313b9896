"""The user data stream driver against the simulator as a venue (in-process, real sockets):
subscribe, events for our orders, resubscribe after termination, reconnect after a drop."""
from __future__ import annotations

import time

import pytest

from dmabot.venues.binance.protocol.user_events import ExecutionReport
from dmabot.venues.binance.user_data import UserDataStream
from tests.helpers.sim_clients import run_until
from tests.helpers.sim_venue import CREDS, Trader, start_sim


@pytest.fixture
def venue(reactor):
    sim = start_sim(reactor)
    yield sim
    sim.close()


class Owner:
    """What the gateway will be: it takes the events and counts the (re)subscriptions."""

    def __init__(self) -> None:
        self.events: list = []
        self.subscribed = 0

    def on_subscribed(self) -> None:
        self.subscribed += 1


@pytest.fixture
def owner():
    return Owner()


@pytest.fixture
def stream(reactor, venue, owner):
    s = UserDataStream(reactor, f"ws://127.0.0.1:{venue.port}/ws-api/v3", CREDS,
                       server_ms=lambda: time.time_ns() // 1_000_000,
                       on_event=owner.events.append, on_subscribed=owner.on_subscribed,
                       backoff_initial_ns=50_000_000, backoff_max_ns=200_000_000)
    s.start()
    run_until(reactor, lambda: s.subscribed)
    yield s
    s.stop()


def market_buy(trader: Trader, client_id: str) -> None:
    trader.ok("POST", "/api/v3/order", [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "MARKET"),
                                         ("quantity", "0.001"), ("newClientOrderId", client_id)])


def fills_of(owner, client_id: str) -> list[ExecutionReport]:
    return [e for e in owner.events
            if isinstance(e, ExecutionReport) and e.client_order_id == client_id and e.exec_type == "TRADE"]


def test_events_of_our_orders_arrive(reactor, venue, stream, owner):
    assert owner.subscribed == 1 and stream.connected
    market_buy(Trader(reactor, venue), "us-1")
    run_until(reactor, lambda: fills_of(owner, "us-1"))
    (fill,) = fills_of(owner, "us-1")
    assert fill.symbol == "BTCUSDT" and fill.trade_id is not None and fill.commission_asset == "BTC"


def test_terminated_subscription_is_renewed(reactor, venue, stream, owner):
    conn = stream._connection
    conn.send_text(conn.session.request("userDataStream.unsubscribe")[1])
    run_until(reactor, lambda: owner.subscribed == 2)
    market_buy(Trader(reactor, venue), "us-2")
    run_until(reactor, lambda: fills_of(owner, "us-2"))
    assert stream.reconnects == 0


def test_dropped_stream_reconnects_and_resubscribes(reactor, venue, stream, owner):
    venue.drop_user_streams()
    run_until(reactor, lambda: stream.reconnects == 1 and stream.subscribed)
    assert owner.subscribed == 2          # the owner is told, to reconcile
    market_buy(Trader(reactor, venue), "us-3")
    run_until(reactor, lambda: fills_of(owner, "us-3"))

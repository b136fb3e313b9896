"""Mock venues on the reactor: ACK at once, fill or expire after their latency."""
from dmabot.core.pipeline import Pipeline
from dmabot.core.risk import RiskCheck
from dmabot.core.router import Router
from dmabot.core.types import ExecStatus, Order, Side
from dmabot.io.reactor import ManualClock, Reactor
from dmabot.strategies.builtin import MeanReversion
from dmabot.venues.mock.gateway import MockVenue


def setup():
    reactor = Reactor(ManualClock(0))
    p = Pipeline(["XUSDT"], [[MeanReversion(1, 0, 1.0, 5.0, 0.0, window=10)]],
                 RiskCheck(0.0, 1e6, 1e9, 1e6), Router(1, [10.0], [5.0]), ["v"], record=False)
    venue = MockVenue(reactor, p, 0, "v", latency_ms=5.0, fee_bps=10.0)
    return reactor, p, venue


def order(side, px, ts=1_000):
    return Order(7, 1, ts, 0, 0, 0, 0, side, px, 2.0)


def test_ack_now_fill_after_latency_at_the_touch():
    reactor, p, venue = setup()
    p.push_tick(0, 0, 99.0, 1.0, 100.0, 1.0)
    p.drain()
    venue.submit(order(Side.BUY, 100.0))
    assert p.exec_counts() == {(0, ExecStatus.ACK): 1}
    p.push_tick(3_000_000, 0, 98.0, 1.0, 99.5, 1.0)     # before the fill: better ask
    p.drain()
    reactor.run()
    assert reactor.now() == 1_000 + 5_000_000
    assert p.exec_counts()[(0, ExecStatus.FILLED)] == 1
    pos = p.positions.get(0, 0)
    assert (pos["qty"], pos["avg_px"]) == (2.0, 99.5)
    assert abs(pos["fees"] - 99.5 * 2.0 * 10 / 1e4) < 1e-12


def test_expires_when_the_touch_moved_away():
    reactor, p, venue = setup()
    p.push_tick(0, 0, 99.0, 1.0, 100.0, 1.0)
    p.drain()
    venue.submit(order(Side.SELL, 99.0))
    p.push_tick(1_000_000, 0, 98.5, 1.0, 99.6, 1.0)     # bid fell below the limit
    p.drain()
    reactor.run()
    assert p.exec_counts().get((0, ExecStatus.EXPIRED)) == 1
    assert p.positions.get(0, 0)["fills"] == 0
    assert p.router.fill_rate(0) < 1.0

"""The skeleton venue (dmabot/venues/_template) against the engine's protocols, and a round
trip through the pipeline; the mock and Binance venues satisfy the same protocols."""
from typing import Any

from dmabot.app.config import load_config
from dmabot.app.engine import select_venue
from dmabot.core.pipeline import Pipeline
from dmabot.core.risk import RiskCheck
from dmabot.core.router import Router
from dmabot.core.types import ExecStatus, Order, Side
from dmabot.io.reactor import ManualClock, Reactor
from dmabot.strategies.builtin import MeanReversion
from dmabot.venues._template.settings import TEMPLATE_KEYS, TemplateSettings
from dmabot.venues._template.venue import TemplateVenue
from dmabot.venues.base import Feed, Gateway, VenueBuilder
from dmabot.venues.keys import build_section

SYMBOLS = ("XUSDT",)


def defaults() -> TemplateSettings:
    values: dict[str, Any] = {k.name: k.parse(k.default or "") for k in TEMPLATE_KEYS}
    return build_section(TemplateSettings, TEMPLATE_KEYS, values)


def pipeline_for(builder: VenueBuilder) -> Pipeline:
    specs = builder.route_specs()
    return Pipeline(list(SYMBOLS), [[MeanReversion(1, 0, 1.0, 5.0, 0.0, window=10)]], RiskCheck(0.0, 1e6, 1e9, 1e6),
                    Router(1, [v.fee_bps for v in specs], [v.latency_ms for v in specs]), [v.name for v in specs])


def test_template_satisfies_the_protocols():
    builder = TemplateVenue(defaults())
    assert isinstance(builder, VenueBuilder)
    reactor = Reactor(ManualClock(0))
    p = pipeline_for(builder)
    assert isinstance(builder.build_feed(reactor, p, SYMBOLS, lambda: None), Feed)
    assert all(isinstance(g, Gateway) for g in builder.build_gateways(reactor, p, SYMBOLS, print))


def test_template_round_trip_ticks_in_fill_out_then_stop():
    builder = TemplateVenue(defaults())
    reactor = Reactor(ManualClock(0))
    p = pipeline_for(builder)
    steps = []
    feed = builder.build_feed(reactor, p, SYMBOLS, lambda: steps.append(reactor.now()))
    [gateway] = builder.build_gateways(reactor, p, SYMBOLS, print)
    feed.start()
    gateway.start()
    assert feed.connected and gateway.ready
    reactor.call_later(550_000_000, feed.stop)          # 5 ticks of 100 ms, then stop
    reactor.run()
    assert p.ticks == 5 and len(steps) == 5 and not feed.connected

    bid, ask = p.touch(0)
    gateway.submit(Order(1, 1, reactor.now(), 0, 0, 0, 0, Side.BUY, ask, 2.0))
    assert p.exec_counts() == {}            # the reply comes from a callback of its own, not inside submit
    reactor.run()
    assert p.exec_counts() == {(0, ExecStatus.ACK): 1, (0, ExecStatus.FILLED): 1}
    position = p.positions.get(0, 0)
    assert (position["qty"], position["avg_px"], position["fills"]) == (2.0, ask, 1)
    assert not gateway.busy and gateway.cancel_open_orders() == 0

    gateway.stop()
    gateway.submit(Order(2, 2, reactor.now(), 0, 0, 0, 0, Side.SELL, bid, 2.0))
    assert p.exec_counts()[(0, ExecStatus.REJECTED)] == 1
    names = {m.name for m in [*feed.collect(), *gateway.collect()]}
    assert names == {"template_feed_connected", "template_feed_ticks", "template_orders_sent"}


def test_mock_and_binance_venues_satisfy_the_protocols():
    live = {"SYMBOLS": "BTCUSDT", "FEED_MODE": "binance_sandbox", "VENUE_MODE": "binance_sandbox",
            "BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s"}
    for env in ({"SYMBOLS": "BTCUSDT"}, live):
        cfg = load_config(None, env)
        reactor = Reactor(ManualClock(0))
        for mode in (cfg.feed_mode, cfg.venue_mode):
            builder = select_venue(cfg, mode)
            assert isinstance(builder, VenueBuilder)
            p = pipeline_for(builder)
            assert isinstance(builder.build_feed(reactor, p, cfg.symbols, lambda: None), Feed)
            gateways = builder.build_gateways(reactor, p, cfg.symbols, print)
            assert gateways and all(isinstance(g, Gateway) for g in gateways)

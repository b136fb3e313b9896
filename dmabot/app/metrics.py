"""Prometheus metrics: one custom collector reads the Cython core's C counters at scrape.

Nothing here runs per tick. Names used by the seed's PromQL are kept exactly
(`ticks_total`, `ticks_total_by_symbol`, `signals_total_by`, `exec_reports_total`,
`inventory_qty`, `config_*`); `ticks_total_by_symbol` and `signals_total_by` are exposed
untyped because a counter's samples must end in `_total` and those names do not.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from dmabot import __version__
from dmabot.core.pipeline import LATENCY_BUCKETS_S
from dmabot.core.types import ExecStatus, RiskReason
from dmabot.venues.binance.gateway import BinanceGateway
from dmabot.venues.binance.market_feed import BinanceFeed
from dmabot.venues.binance.protocol.clock import ClockState

if TYPE_CHECKING:
    from dmabot.app.engine import Engine


def _untyped(name: str, doc: str, labels: list[str], rows: Iterator[tuple[list[str], float]]) -> Metric:
    metric = Metric(name, doc, "unknown")
    for values, value in rows:
        metric.add_sample(name, dict(zip(labels, values)), value)
    return metric


def _gauge(name: str, doc: str, labels: list[str], rows) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        family.add_metric(values, value)
    return family


def _counter(name: str, doc: str, labels: list[str], rows) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        family.add_metric(values, value)
    return family


class EngineCollector:
    """Reads an Engine's pipeline, gateways and recorder when Prometheus scrapes."""

    def __init__(self, engine: "Engine") -> None:
        self.engine = engine

    def describe(self) -> list:
        return []       # unchecked collector: families depend on the configuration

    def collect(self) -> Iterator[Metric]:
        yield from self._config()
        yield from self._flow()
        yield from self._positions()
        yield from self._health()

    def _config(self) -> Iterator[Metric]:
        cfg = self.engine.config
        yield _gauge("dmabot_info", "Engine build.", ["version"], [([__version__], 1)])
        yield _gauge("config_feed_mode", "Configured market data source (1 for the active one).",
                     ["mode"], [([cfg.feed_mode.value], 1)])
        yield _gauge("config_venue_mode", "Configured order venue (1 for the active one).",
                     ["mode"], [([cfg.venue_mode.value], 1)])
        yield _gauge("config_symbol", "Configured symbols.", ["symbol"], [([s], 1) for s in cfg.symbols])
        yield _gauge("config_strategy_active", "Active strategies.", ["strategy"],
                     [([s.value], 1) for s in cfg.strategies])
        yield _gauge("config_strategy_workers", "Workers per strategy.", [], [([], cfg.strategy_workers)])
        shards = []
        for name, workers in zip(self.engine.strategy_names, self.engine.pipeline.workers):
            for i, symbol in enumerate(cfg.symbols):
                shards.append(([name, str(i % len(workers)), symbol], 1))
        yield _gauge("strategy_shard", "Which worker of each strategy owns each symbol.",
                     ["strategy", "worker", "symbol"], shards)

    def _flow(self) -> Iterator[Metric]:
        engine, p = self.engine, self.engine.pipeline
        symbols, venues = engine.config.symbols, engine.venue_names
        yield _counter("ticks", "Ticks through the pipeline.", [], [([], p.ticks)])
        yield _untyped("ticks_total_by_symbol", "Ticks through the pipeline by symbol (counter).",
                       ["symbol"], ([[s], n] for s, n in zip(symbols, p.ticks_by_symbol())))
        yield _untyped("signals_total_by", "Strategy signals by strategy and symbol (counter).",
                       ["strategy", "symbol"],
                       ([[name, s], n] for name, row in zip(engine.strategy_names, p.signals())
                        for s, n in zip(symbols, row)))
        worker_rows = [([name, str(w.worker)], w) for name, ws in zip(engine.strategy_names, p.workers) for w in ws]
        yield _counter("strategy_worker_ticks", "Ticks seen by each strategy worker.",
                       ["strategy", "worker"], [(k, w.ticks) for k, w in worker_rows])
        yield _counter("strategy_worker_signals", "Signals of each strategy worker (before risk).",
                       ["strategy", "worker"], [(k, w.signals) for k, w in worker_rows])
        yield _counter("risk_rejections", "Orders refused by risk, by reason.", ["reason"],
                       [([r.name.lower()], n) for r, n in p.risk.counts().items() if r != RiskReason.RISK_OK])
        yield _counter("orders", "Orders sent, by venue.", ["venue"],
                       [([v], n) for v, n in zip(venues, p.orders_by_venue())])
        counts = p.exec_counts()
        yield _counter("exec_reports", "Execution reports by venue and status.", ["venue", "status"],
                       [([venues[v], st.name.lower()], counts.get((v, st), 0))
                        for v in range(len(venues)) for st in ExecStatus])
        cumulative, total = p.ack_latency()
        buckets = [(f"{b:g}", c) for b, c in zip(LATENCY_BUCKETS_S, cumulative)]
        buckets.append(("+Inf", cumulative[-1]))
        hist = HistogramMetricFamily("signal_to_ack_latency_seconds",
                                     "Wall time from a strategy signal to the venue's ACK of each order.")
        hist.add_metric([], buckets, total)
        yield hist

    def _positions(self) -> Iterator[Metric]:
        rows = list(self.engine.position_rows())
        for field, name, doc in (
            ("qty", "inventory_qty", "Position in base units by symbol and venue."),
            ("avg_px", "position_avg_price", "Average cost of the open position."),
            ("realized", "pnl_realized", "Realized PnL before fees, quote currency."),
            ("unrealized", "pnl_unrealized", "Unrealized PnL marked to the latest mid, quote currency."),
            ("fees", "fees_paid", "Fees paid, quote currency."),
        ):
            yield _gauge(name, doc, ["symbol", "venue"], [([s, v], pos[field]) for s, v, pos in rows])

    def _health(self) -> Iterator[Metric]:
        engine, ring = self.engine, self.engine.pipeline.ring
        yield _counter("ring_pushed", "Ticks written into the feed-to-strategy ring.", [], [([], ring.pushed)])
        yield _counter("ring_dropped", "Ticks overwritten in a full ring before strategies saw them.", [],
                       [([], ring.dropped)])
        yield _gauge("ring_capacity", "Ticks the ring holds.", [], [([], ring.capacity)])
        feed = engine.feed
        if isinstance(feed, BinanceFeed):
            yield from self._binance(feed)
        for gateway in engine.gateways:
            if isinstance(gateway, BinanceGateway):
                yield from self._binance_gateway(gateway)
        rec = engine.recorder
        if rec is not None:
            yield _counter("recorder_bytes", "Bytes written to the recording.", [], [([], rec.bytes_written)])
            yield _counter("recorder_write_errors", "Failed writes to the recording.", [], [([], rec.write_errors)])


    def _binance(self, feed: BinanceFeed) -> Iterator[Metric]:
        venue = ["binance"]
        age = (self.engine.reactor.refresh_now() - feed.last_event_ns) / 1e9 if feed.last_event_ns else -1.0
        yield _gauge("binance_ws_connected", "1 while the market data WebSocket is streaming.", ["venue"],
                     [(venue, 1 if feed.connected else 0)])
        yield _gauge("binance_ws_last_event_age_seconds", "Seconds since the stream's last message "
                     "(-1 before the first message).", ["venue"], [(venue, age)])
        yield _counter("binance_ws_reconnects", "Reconnect attempts of the market data WebSocket.", ["venue"],
                       [(venue, feed.reconnects)])
        yield _counter("binance_ws_stale_disconnects", "Connections dropped for silence (WS_STALE_S).",
                       ["venue"], [(venue, feed.stale_disconnects)])
        yield _counter("binance_ws_bytes_received", "Bytes received on the market data WebSocket.", ["venue"],
                       [(venue, feed.bytes_received)])
        yield _counter("binance_ws_messages", "Messages decoded (ticks, bad ones and replies).", ["venue"],
                       [(venue, feed.messages)])
        yield _counter("binance_ws_bad_messages", "Market data messages dropped, by reason.", ["venue", "reason"],
                       [(venue + [reason], n) for reason, n in sorted(feed.bad_message_counts().items())])


    def _binance_gateway(self, gw: BinanceGateway) -> Iterator[Metric]:
        venue = [gw.name]
        yield _gauge("binance_rest_connected", "1 while the order-entry REST connection is open.", ["venue"],
                     [(venue, 1 if gw.connected else 0)])
        yield _gauge("binance_rest_ready", "1 while the gateway accepts orders (clock and rules loaded).",
                     ["venue"], [(venue, 1 if gw.ready else 0)])
        used = gw.rate_limits.used_weight_1m
        yield _gauge("binance_rest_used_weight_1m", "X-MBX-USED-WEIGHT-1M of the last reply (-1 before one).",
                     ["venue"], [(venue, -1 if used is None else used)])
        yield _counter("binance_rest_reconnects", "Reconnect attempts of the REST connection.", ["venue"],
                       [(venue, gw.reconnects)])
        yield from _binance_limits(gw, venue)
        yield _counter("binance_local_rejections", "Orders refused by the gateway without sending, by reason "
                       "(a filter name, not_ready, disconnected, rate_limited, slowing_down, invalid).",
                       ["venue", "reason"],
                       [(venue + [reason], n) for reason, n in sorted(gw.local_rejections.items())])
        yield _counter("binance_orders_sent", "Order requests written, by transport (rest, ws_api); a -1021 "
                       "resend counts again.", ["venue", "transport"],
                       [(venue + [gw.settings.order_transport.value], gw.orders_sent)])
        yield _counter("binance_venue_rejections", "Orders the venue answered with an error.", ["venue"],
                       [(venue, gw.venue_rejections)])
        yield _gauge("account_balance", "The account's amount of each asset, free or locked (in orders), as the "
                     "venue last stated it.", ["venue", "asset", "kind"],
                     [(venue + [b.asset, kind], float(amount)) for b in gw.balances.balances()
                      for kind, amount in (("free", b.free), ("locked", b.locked))])
        stream = gw.user_stream
        if stream is not None:
            yield _gauge("binance_user_stream_subscribed", "1 while the user data subscription is in force.",
                         ["venue"], [(venue, 1 if stream.subscribed else 0)])
            yield _counter("binance_user_stream_reconnects", "Reconnects of the user data stream.", ["venue"],
                           [(venue, stream.reconnects)])
            yield _counter("binance_user_stream_events", "User data events received.", ["venue"],
                           [(venue, stream.events)])


def _binance_limits(gw: BinanceGateway, venue: list[str]) -> Iterator[Metric]:
    """The venue's clock and what it counts of our usage: what signs requests and paces orders."""
    now, limits = gw.reactor.now(), gw.rate_limits
    synced = gw.clock.state(now) is not ClockState.UNSYNCED
    offset_s = gw.wall_clock_offset_ms() / 1e3 if synced else None
    yield _gauge("binance_clock_offset_seconds", "Venue time minus this host's wall clock, from the best GET "
                 "/api/v3/time round trip (absent before one).", ["venue"],
                 [] if offset_s is None else [(venue, offset_s)])
    yield _gauge("binance_clock_uncertainty_seconds", "Half that round trip: how far the offset can be off.",
                 ["venue"], [(venue, gw.clock.uncertainty_ms / 1e3)] if synced else [])
    yield _gauge("binance_unfilled_orders", "X-MBX-ORDER-COUNT-* (or the WS API's ORDERS count) of the last reply, "
                 "by window (10s, 1d): orders placed minus those that traded, against the ORDERS limits.",
                 ["venue", "window"],
                 [(venue + [window], n) for window, n in sorted(limits.order_count.items())])
    yield _gauge("binance_rate_limit_wait_seconds", "Seconds until order entry may resume after a 429 (back-off) "
                 "or 418 (ban); 0 when open.", ["venue"], [(venue, max(0, limits.resume_at_ns - now) / 1e9)])
    yield _counter("binance_rate_limit_backoffs", "HTTP 429 replies (too much weight or too many orders).", ["venue"],
                   [(venue, limits.backoffs)])
    yield _counter("binance_rate_limit_bans", "HTTP 418 replies: the IP banned.", ["venue"], [(venue, limits.bans)])


def build_registry(engine: "Engine") -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(engine))
    ProcessCollector(registry=registry)
    return registry

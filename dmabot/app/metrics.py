"""Prometheus metrics: one custom collector reads the Cython core's C counters at scrape.

Nothing here runs per tick. Names used by the seed's PromQL are kept exactly
(`ticks_total`, `ticks_total_by_symbol`, `signals_total_by`, `exec_reports_total`,
`inventory_qty`, `config_*`); `ticks_total_by_symbol` and `signals_total_by` are exposed
untyped because a counter's samples must end in `_total` and those names do not.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable, Iterator

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.core import HistogramMetricFamily, Metric

from dmabot import __version__
from dmabot.core.pipeline import LATENCY_BUCKETS_S
from dmabot.core.types import ExecStatus, RiskReason
from dmabot.venues.base import counter, gauge

if TYPE_CHECKING:
    from dmabot.app.engine import Engine


def _untyped(name: str, doc: str, labels: list[str], rows: Iterable[tuple[list[str], float]]) -> Metric:
    metric = Metric(name, doc, "unknown")
    for values, value in rows:
        metric.add_sample(name, dict(zip(labels, values)), value)
    return metric


class EngineCollector:
    """Reads an Engine's pipeline, recorder, feed and gateways (their own `collect()`, see
    dmabot.venues.base) when Prometheus scrapes."""

    def __init__(self, engine: "Engine") -> None:
        self.engine = engine

    def describe(self) -> list[Metric]:
        return []       # unchecked collector: families depend on the configuration

    def collect(self) -> Iterator[Metric]:
        yield from self._config()
        yield from self._flow()
        yield from self._positions()
        yield from self._health()

    def _config(self) -> Iterator[Metric]:
        cfg = self.engine.config
        yield gauge("dmabot_info", "Engine build.", ["version"], [([__version__], 1)])
        yield gauge("config_feed_mode", "Configured market data source (1 for the active one).",
                    ["mode"], [([cfg.feed_mode.value], 1)])
        yield gauge("config_venue_mode", "Configured order venue (1 for the active one).",
                    ["mode"], [([cfg.venue_mode.value], 1)])
        yield gauge("config_symbol", "Configured symbols.", ["symbol"], [([s], 1) for s in cfg.symbols])
        yield gauge("config_strategy_active", "Active strategies.", ["strategy"],
                    [([s.value], 1) for s in cfg.strategies])
        yield gauge("config_strategy_workers", "Workers per strategy.", [], [([], cfg.strategy_workers)])
        shards = []
        for name, workers in zip(self.engine.strategy_names, self.engine.pipeline.workers):
            for i, symbol in enumerate(cfg.symbols):
                shards.append(([name, str(i % len(workers)), symbol], 1))
        yield gauge("strategy_shard", "Which worker of each strategy owns each symbol.",
                    ["strategy", "worker", "symbol"], shards)

    def _flow(self) -> Iterator[Metric]:
        engine, p = self.engine, self.engine.pipeline
        symbols, venues = engine.config.symbols, engine.venue_names
        yield counter("ticks", "Ticks through the pipeline.", [], [([], p.ticks)])
        yield _untyped("ticks_total_by_symbol", "Ticks through the pipeline by symbol (counter).",
                       ["symbol"], (([s], n) for s, n in zip(symbols, p.ticks_by_symbol())))
        yield _untyped("signals_total_by", "Strategy signals by strategy and symbol (counter).",
                       ["strategy", "symbol"],
                       (([name, s], n) for name, row in zip(engine.strategy_names, p.signals())
                        for s, n in zip(symbols, row)))
        worker_rows = [([name, str(w.worker)], w) for name, ws in zip(engine.strategy_names, p.workers) for w in ws]
        yield counter("strategy_worker_ticks", "Ticks seen by each strategy worker.",
                      ["strategy", "worker"], [(k, w.ticks) for k, w in worker_rows])
        yield counter("strategy_worker_signals", "Signals of each strategy worker (before risk).",
                      ["strategy", "worker"], [(k, w.signals) for k, w in worker_rows])
        yield counter("risk_rejections", "Orders refused by risk, by reason.", ["reason"],
                      [([r.name.lower()], n) for r, n in p.risk.counts().items() if r != RiskReason.RISK_OK])
        yield counter("orders", "Orders sent, by venue.", ["venue"],
                      [([v], n) for v, n in zip(venues, p.orders_by_venue())])
        counts = p.exec_counts()
        yield counter("exec_reports", "Execution reports by venue and status.", ["venue", "status"],
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
            yield gauge(name, doc, ["symbol", "venue"], [([s, v], pos[field]) for s, v, pos in rows])

    def _health(self) -> Iterator[Metric]:
        engine, ring = self.engine, self.engine.pipeline.ring
        yield counter("ring_pushed", "Ticks written into the feed-to-strategy ring.", [], [([], ring.pushed)])
        yield counter("ring_dropped", "Ticks overwritten in a full ring before strategies saw them.", [],
                      [([], ring.dropped)])
        yield gauge("ring_capacity", "Ticks the ring holds.", [], [([], ring.capacity)])
        yield from engine.feed.collect()
        for gateway in engine.gateways:
            yield from gateway.collect()
        rec = engine.recorder
        if rec is not None:
            yield counter("recorder_bytes", "Bytes written to the recording.", [], [([], rec.bytes_written)])
            yield counter("recorder_write_errors", "Failed writes to the recording.", [], [([], rec.write_errors)])


def build_registry(engine: "Engine") -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(EngineCollector(engine))
    ProcessCollector(registry=registry)
    return registry

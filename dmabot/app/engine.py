"""Engine: builds the pipeline from a Config and wires it to the reactor's edges.

feed (timers) -> Pipeline (Cython) -> order sink -> gateways -> Pipeline.on_exec
metrics (HTTP on the reactor) and recorder (timer flushes) read the same pipeline.
"""
from __future__ import annotations

import gc
import logging
from typing import Iterator

from dmabot.app.config import KEYS, Config, ConfigError, StrategyName, VenueMode
from dmabot.app.metrics import build_registry
from dmabot.app.metrics_http import MetricsServer, render_registry
from dmabot.app.recorder import Recorder
from dmabot.core.pipeline import Pipeline
from dmabot.core.risk import RiskCheck
from dmabot.core.router import Router
from dmabot.core.types import Order
from dmabot.io.reactor import Reactor
from dmabot.strategies.builtin import MACrossover, MeanReversion, VolBreakout
from dmabot.venues.base import Feed, Gateway, VenueBuilder, VenueSpec
from dmabot.venues.binance.venue import BinanceVenue
from dmabot.venues.mock.venue import MockVenues

log = logging.getLogger("dmabot.engine")


def build_workers(cfg: Config) -> list[list]:
    """STRATEGY_WORKERS instances of each active strategy, with their parameters."""
    n, qty = len(cfg.symbols), cfg.order_qty
    make = {
        StrategyName.MEAN_REVERSION: lambda w: MeanReversion(
            n, w, qty, cfg.mr_edge_bps, cfg.mr_cooldown_ms, window=cfg.mr_window),
        StrategyName.MA_CROSSOVER: lambda w: MACrossover(
            n, w, qty, cfg.ma_edge_bps, cfg.ma_cooldown_ms, fast=cfg.ma_fast, slow=cfg.ma_slow),
        StrategyName.VOL_BREAKOUT: lambda w: VolBreakout(
            n, w, qty, cfg.vb_edge_bps, cfg.vb_cooldown_ms, window=cfg.vb_window),
    }
    return [[make[s](w) for w in range(cfg.strategy_workers)] for s in cfg.strategies]


# How long a shutdown waits for replies to orders already sent.
DRAIN_S = 2.0


def select_venue(cfg: Config, mode: VenueMode) -> VenueBuilder:
    """The registry: the venue package a FEED_MODE or VENUE_MODE value selects, with its section."""
    if mode.venue == "mock":
        return MockVenues(cfg.mock)
    return BinanceVenue(cfg.binance)


def venue_specs(cfg: Config) -> tuple[VenueSpec, ...]:
    """The venues orders are routed across, one per gateway of VENUE_MODE's venue."""
    return select_venue(cfg, cfg.venue_mode).route_specs()


def build_pipeline(cfg: Config, record: bool) -> Pipeline:
    venues = venue_specs(cfg)
    router = Router(len(cfg.symbols), [v.fee_bps for v in venues], [v.latency_ms for v in venues],
                    split=min(cfg.router_split, len(venues)), qty_step=cfg.qty_step,
                    latency_bps_per_ms=cfg.router_latency_bps_per_ms,
                    miss_penalty_bps=cfg.router_miss_penalty_bps)
    risk = RiskCheck(cfg.px_min, cfg.px_max, cfg.max_notional, cfg.max_qps)
    return Pipeline(list(cfg.symbols), build_workers(cfg), risk, router,
                    [v.name for v in venues], ring_capacity=cfg.ring_capacity, record=record)


def recorded_config(cfg: Config) -> dict[str, str]:
    """The non-secret keys as given (or defaulted), for the recording's header."""
    out = {}
    for key in KEYS:
        if key.secret:
            continue
        value = cfg.raw.get(key.name)
        out[key.name] = value if value not in (None, "") else (key.default or "")
    return out


class Engine:
    def __init__(self, config: Config, reactor: Reactor | None = None) -> None:
        self.config = config
        self.reactor = reactor if reactor is not None else Reactor()
        self.strategy_names = [s.value for s in config.strategies]
        self.venue_names = [v.name for v in venue_specs(config)]
        self.pipeline = build_pipeline(config, record=bool(config.record_file))
        self.fatal: str | None = None
        self.gateways: list[Gateway] = select_venue(config, config.venue_mode).build_gateways(
            self.reactor, self.pipeline, config.symbols, self._on_fatal)
        self.pipeline.order_sink = self._route_order
        self.recorder: Recorder | None = None
        if self.pipeline.recorder is not None:
            try:
                self.recorder = Recorder(config.record_file, self.pipeline.recorder, self.reactor,
                                         config.record_flush_ms)
            except OSError as exc:
                raise ConfigError(f"RECORD_FILE={config.record_file!r} cannot be opened: "
                                  f"{exc.strerror}") from None
        self.feed: Feed = select_venue(config, config.feed_mode).build_feed(
            self.reactor, self.pipeline, config.symbols, self._after_feed_step)
        self.metrics_server: MetricsServer | None = None
        self.started_ns = 0

    def _on_fatal(self, message: str) -> None:
        """A gateway cannot trade (e.g. a symbol the venue does not list): stop, exit with it."""
        self.fatal = message
        self.reactor.stop()

    def _route_order(self, order: Order) -> None:
        self.gateways[order.venue].submit(order)

    def _after_feed_step(self) -> None:
        if self.recorder is not None:
            self.recorder.maybe_flush()

    def start(self, serve_metrics: bool = True) -> None:
        self.started_ns = self.reactor.now()
        log.info(self.config.summary())
        if serve_metrics:
            registry = build_registry(self)
            try:
                self.metrics_server = MetricsServer(self.reactor, self.config.metrics_host,
                                                    self.config.metrics_port, render_registry(registry))
            except OSError as exc:
                raise ConfigError(f"METRICS_PORT={self.config.metrics_port} cannot be served on "
                                  f"{self.config.metrics_host}: {exc.strerror}") from None
        if self.recorder is not None:
            self.recorder.write_header(self.started_ns, recorded_config(self.config))
            self.recorder.start()
        for gateway in self.gateways:
            gateway.start()
        self.feed.start()

    def run(self) -> None:
        """Run until SIGINT/SIGTERM, then stop cleanly."""
        self.reactor.install_signal_handlers()
        try:
            self.start()
            # What start-up built (modules, config, books, templates) lives as long as the
            # process: out of the collector's way, a full collection no longer walks it.
            gc.freeze()
            self.reactor.run()
            self._drain_gateways()
        finally:
            self.shutdown()
            self.reactor.close()
        if self.fatal is not None:
            raise ConfigError(self.fatal)

    def _drain_gateways(self) -> None:
        """Before the books are summed up: stop the feed (so no new orders) and let replies to
        the orders already written arrive, for at most DRAIN_S. Without this an order the venue
        filled would be missing from the engine's final positions. A second signal cuts it short.
        """
        gateways = self.gateways
        if self.fatal is not None:
            return
        self.feed.stop()
        if self.config.cancel_on_exit:
            for gateway in gateways:
                gateway.cancel_open_orders()
        if not any(g.busy for g in gateways):
            return
        deadline = self.reactor.refresh_now() + int(DRAIN_S * 1e9)
        log.info("waiting up to %g s for replies to orders in flight", DRAIN_S)
        while any(g.busy for g in gateways) and not self.reactor.stopping and self.reactor.refresh_now() < deadline:
            wake = self.reactor.call_later(10_000_000, lambda: None)  # never block past the deadline
            self.reactor.run_once()
            wake.cancel()

    def shutdown(self) -> None:
        self.feed.stop()
        for gateway in self.gateways:
            gateway.stop()
        if self.metrics_server is not None:
            self.metrics_server.close()
        if self.recorder is not None:
            self.recorder.close()
        for line in self.summary_lines():
            log.info(line)

    def position_rows(self) -> Iterator[tuple[str, str, dict]]:
        for s, symbol in enumerate(self.config.symbols):
            for v, venue in enumerate(self.venue_names):
                yield symbol, venue, self.pipeline.positions.get(s, v)

    def summary_lines(self) -> list[str]:
        p = self.pipeline
        rows = list(self.position_rows())
        fills = sum(pos["fills"] for _, _, pos in rows)
        lines = [
            f"summary ticks={p.ticks} signals={sum(map(sum, p.signals()))} "
            f"orders={sum(p.orders_by_venue())} fills={fills} "
            f"realized_pnl={sum(pos['realized'] for _, _, pos in rows):.6f} "
            f"unrealized_pnl={sum(pos['unrealized'] for _, _, pos in rows):.6f} "
            f"fees={sum(pos['fees'] for _, _, pos in rows):.6f} ring_dropped={p.ring.dropped}"
        ]
        # One final line per symbol and venue, traded or not: a reader (or a script) finds every
        # row it configured, and a zero line says "nothing happened" rather than "not logged".
        for symbol, venue, pos in rows:
            lines.append(
                f"position symbol={symbol} venue={venue} qty={pos['qty']:.8g} "
                f"avg_price={pos['avg_px']:.8g} realized_pnl={pos['realized']:.6f} "
                f"unrealized_pnl={pos['unrealized']:.6f} fees={pos['fees']:.6f} fills={pos['fills']}")
        return lines

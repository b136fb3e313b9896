"""Engine: builds the pipeline from a Config and wires it to the reactor's edges.

feed (timers) -> Pipeline (Cython) -> order sink -> gateways -> Pipeline.on_exec
metrics (HTTP on the reactor) and recorder (timer flushes) read the same pipeline.
"""
from __future__ import annotations

import gc
import logging
import time
from pathlib import Path
from typing import Iterator

from dmabot.app.config import KEYS, Config, ConfigError, Mode, StrategyName
from dmabot.app.config import MockVenue as VenueSpec
from dmabot.app.metrics import build_registry
from dmabot.app.metrics_http import MetricsServer, render_registry
from dmabot.app.recorder import Recorder
from dmabot.core.pipeline import Pipeline
from dmabot.core.risk import RiskCheck
from dmabot.core.router import Router
from dmabot.core.types import Order
from dmabot.io.reactor import Reactor
from dmabot.io.transport import TransportError
from dmabot.strategies.builtin import MACrossover, MeanReversion, VolBreakout
from dmabot.venues.binance.gateway import (
    VENUE_NAME,
    BinanceGateway,
    GatewaySettings,
    OrderTransport,
    UserStreamUnreachable,
)
from dmabot.venues.binance.market_feed import BinanceFeed, FeedSettings, StreamForm, stream_target
from dmabot.venues.binance.protocol.signing import Credentials
from dmabot.venues.binance.protocol.wire import OrderType, RespType, TimeInForce
from dmabot.venues.mock.feed import MockFeedDriver
from dmabot.venues.mock.gateway import MockVenue
from dmabot.venues.mock.random_walk import MockFeed

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


# BINANCE_ORDER_TYPE -> the orders' type and time in force
ORDER_TYPES = {"limit_ioc": (OrderType.LIMIT, TimeInForce.IOC), "limit_fok": (OrderType.LIMIT, TimeInForce.FOK),
               "limit_gtc": (OrderType.LIMIT, TimeInForce.GTC), "market": (OrderType.MARKET, None)}
# How long a shutdown waits for replies to orders already sent.
DRAIN_S = 2.0


def venue_specs(cfg: Config) -> tuple[VenueSpec, ...]:
    """The venues orders are routed across: the mock venues, or Binance alone."""
    if cfg.venue_mode is Mode.MOCK:
        return cfg.mock_venues
    # Scored like a mock venue (BINANCE_FEE_BPS, BINANCE_LATENCY_MS): alone, it only matters
    # once the router weighs it against others.
    return (VenueSpec(VENUE_NAME, cfg.binance_latency_ms, cfg.binance_fee_bps),)


def binance_credentials(cfg: Config) -> Credentials:
    """BINANCE_API_KEY with its Ed25519 key (BINANCE_PRIVATE_KEY_FILE) or its HMAC secret.

    Errors name the key and never carry the file's contents: a PEM that fails to parse is
    described, not quoted (`Credentials.ed25519` keeps the key bytes out of its messages).
    """
    path = cfg.binance_private_key_file
    if not path:
        try:
            return Credentials(cfg.binance_api_key, cfg.binance_api_secret)
        except ValueError as exc:
            raise ConfigError(f"BINANCE_API_KEY/BINANCE_API_SECRET are not valid: {exc}") from None
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"BINANCE_PRIVATE_KEY_FILE={path!r} cannot be read: {exc.strerror}") from None
    try:
        return Credentials.ed25519(cfg.binance_api_key, pem)
    except ValueError as exc:
        raise ConfigError(f"BINANCE_PRIVATE_KEY_FILE={path!r} is not valid: {exc}") from None


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
        self.gateways: list[MockVenue | BinanceGateway] = self._build_gateways()
        self.pipeline.order_sink = self._route_order
        self.recorder: Recorder | None = None
        if self.pipeline.recorder is not None:
            try:
                self.recorder = Recorder(config.record_file, self.pipeline.recorder, self.reactor,
                                         config.record_flush_ms)
            except OSError as exc:
                raise ConfigError(f"RECORD_FILE={config.record_file!r} cannot be opened: "
                                  f"{exc.strerror}") from None
        self.feed = self._build_feed()
        self.metrics_server: MetricsServer | None = None
        self.started_ns = 0

    def _build_feed(self) -> MockFeedDriver | BinanceFeed:
        cfg = self.config
        if cfg.feed_mode is Mode.MOCK:
            walk = MockFeed(list(cfg.start_prices), cfg.mock_tick_size, cfg.mock_vol_bps, cfg.mock_seed)
            return MockFeedDriver(self.reactor, self.pipeline, walk, cfg.mock_tick_hz, self._after_feed_step)
        form = StreamForm(cfg.binance_stream_form)
        settings = FeedSettings(stale_ns=int(cfg.ws_stale_s * 1e9), backoff_max_ns=int(cfg.ws_backoff_max_s * 1e9))
        return BinanceFeed(self.reactor, self.pipeline, cfg.symbols,
                           stream_target(cfg.binance_ws_url, cfg.symbols, form), form,
                           cfg.binance_ca_file, settings, self._after_feed_step)

    def _build_gateways(self) -> list[MockVenue | BinanceGateway]:
        cfg = self.config
        if cfg.venue_mode is Mode.MOCK:
            return [MockVenue(self.reactor, self.pipeline, i, v.name, v.latency_ms, v.fee_bps)
                    for i, v in enumerate(cfg.mock_venues)]
        order_type, time_in_force = ORDER_TYPES[cfg.binance_order_type]
        settings = GatewaySettings(cfg.binance_rest_url, cfg.binance_ca_file or None, binance_credentials(cfg),
                                   cfg.binance_recv_window, ws_api_url=cfg.binance_ws_api_url,
                                   order_resp_type=RespType(cfg.binance_order_resp_type.upper()),
                                   order_transport=OrderTransport(cfg.order_transport),
                                   order_type=order_type, time_in_force=time_in_force)
        # The session start keeps this run's client order ids apart from earlier runs'.
        session_ms = time.time_ns() // 1_000_000
        return [BinanceGateway(self.reactor, self.pipeline, 0, cfg.symbols, settings, session_ms, self._on_fatal)]

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
            if isinstance(gateway, BinanceGateway):
                try:
                    gateway.start()
                except UserStreamUnreachable as exc:
                    raise ConfigError(f"BINANCE_WS_API_URL={self.config.binance_ws_api_url!r} cannot be "
                                      f"reached: {exc}") from None
                except TransportError as exc:
                    raise ConfigError(f"BINANCE_REST_URL={self.config.binance_rest_url!r} cannot be reached: "
                                      f"{exc}") from None
        try:
            self.feed.start()
        except TransportError as exc:
            raise ConfigError(f"BINANCE_WS_URL={self.config.binance_ws_url!r} cannot be reached: {exc}") from None

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
        gateways = [g for g in self.gateways if isinstance(g, BinanceGateway)]
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
            if isinstance(gateway, BinanceGateway):
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

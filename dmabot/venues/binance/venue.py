"""Binance as the engine builds it: `BinanceVenue` (the VenueBuilder of FEED_MODE/VENUE_MODE
binance*) makes the market data feed and the order gateway from `BinanceSettings`.

`BinanceVenueFeed` and `BinanceVenueGateway` are the feed and gateway with what the engine's
protocols (dmabot.venues.base) add: a start that names the key behind a host it cannot
resolve (`VenueUnreachable`), and the metric families of dmabot.venues.binance.metrics.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterator

from prometheus_client.core import Metric

from dmabot.core.pipeline import Pipeline
from dmabot.io.reactor import Reactor
from dmabot.io.transport import TransportError
from dmabot.venues.base import Feed, Gateway, VenueSpec
from dmabot.venues.binance.config import BinanceSettings
from dmabot.venues.binance.gateway import VENUE_NAME, BinanceGateway, UserStreamUnreachable
from dmabot.venues.binance.market_feed import BinanceFeed, FeedSettings, StreamForm, stream_target
from dmabot.venues.binance.metrics import feed_metrics, gateway_metrics
from dmabot.venues.binance.protocol.signing import Credentials
from dmabot.venues.binance.protocol.wire import OrderType, RespType, TimeInForce
from dmabot.venues.binance.settings import GatewaySettings
from dmabot.venues.keys import ConfigError, VenueUnreachable

# BINANCE_ORDER_TYPE -> the orders' type and time in force
ORDER_TYPES = {"limit_ioc": (OrderType.LIMIT, TimeInForce.IOC), "limit_fok": (OrderType.LIMIT, TimeInForce.FOK),
               "limit_gtc": (OrderType.LIMIT, TimeInForce.GTC), "market": (OrderType.MARKET, None)}


def binance_credentials(settings: BinanceSettings) -> Credentials:
    """BINANCE_API_KEY with its Ed25519 key (BINANCE_PRIVATE_KEY_FILE) or its HMAC secret.

    Errors name the key and never carry the file's contents: a PEM that fails to parse is
    described, not quoted (`Credentials.ed25519` keeps the key bytes out of its messages).
    """
    path = settings.private_key_file
    if not path:
        try:
            return Credentials(settings.api_key, settings.api_secret)
        except ValueError as exc:
            raise ConfigError(f"BINANCE_API_KEY/BINANCE_API_SECRET are not valid: {exc}") from None
    try:
        pem = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"BINANCE_PRIVATE_KEY_FILE={path!r} cannot be read: {exc.strerror}") from None
    try:
        return Credentials.ed25519(settings.api_key, pem)
    except ValueError as exc:
        raise ConfigError(f"BINANCE_PRIVATE_KEY_FILE={path!r} is not valid: {exc}") from None


class BinanceVenueFeed(BinanceFeed):
    """The bookTicker feed of `symbols` from the stream base `ws_url`, as the engine's `Feed`."""

    def __init__(self, reactor: Reactor, pipeline: Pipeline, symbols: tuple[str, ...], ws_url: str,
                 form: StreamForm, ca_file: str, settings: FeedSettings, after_data: Callable[[], None]) -> None:
        super().__init__(reactor, pipeline, symbols, stream_target(ws_url, symbols, form), form, ca_file,
                         settings, after_data)
        self.ws_url = ws_url

    def start(self) -> None:
        try:
            super().start()
        except TransportError as exc:
            raise VenueUnreachable(f"BINANCE_WS_URL={self.ws_url!r} cannot be reached: {exc}") from None

    def collect(self) -> Iterator[Metric]:
        return feed_metrics(self)


class BinanceVenueGateway(BinanceGateway):
    """The order gateway as the engine's `Gateway`."""

    def start(self) -> None:
        try:
            super().start()
        except UserStreamUnreachable as exc:
            raise VenueUnreachable(f"BINANCE_WS_API_URL={self.settings.ws_api_url!r} cannot be reached: "
                                   f"{exc}") from None
        except TransportError as exc:
            raise VenueUnreachable(f"BINANCE_REST_URL={self.settings.rest_url!r} cannot be reached: {exc}") from None

    def collect(self) -> Iterator[Metric]:
        return gateway_metrics(self)


class BinanceVenue:
    """The `VenueBuilder` of Binance."""

    def __init__(self, settings: BinanceSettings) -> None:
        self.settings = settings

    def route_specs(self) -> tuple[VenueSpec, ...]:
        # Scored like a mock venue (BINANCE_FEE_BPS, BINANCE_LATENCY_MS): alone, it only matters
        # once the router weighs it against others.
        return (VenueSpec(VENUE_NAME, self.settings.latency_ms, self.settings.fee_bps),)

    def build_feed(self, reactor: Reactor, pipeline: Pipeline, symbols: tuple[str, ...],
                   after_step: Callable[[], None]) -> Feed:
        s = self.settings
        feed_settings = FeedSettings(stale_ns=int(s.ws_stale_s * 1e9), backoff_max_ns=int(s.ws_backoff_max_s * 1e9))
        return BinanceVenueFeed(reactor, pipeline, symbols, s.ws_url, s.stream_form, s.ca_file, feed_settings,
                                after_step)

    def build_gateways(self, reactor: Reactor, pipeline: Pipeline, symbols: tuple[str, ...],
                       on_fatal: Callable[[str], None]) -> list[Gateway]:
        s = self.settings
        order_type, time_in_force = ORDER_TYPES[s.order_type]
        settings = GatewaySettings(s.rest_url, s.ca_file or None, binance_credentials(s), s.recv_window,
                                   ws_api_url=s.ws_api_url, order_resp_type=RespType(s.order_resp_type.upper()),
                                   order_transport=s.order_transport, order_type=order_type,
                                   time_in_force=time_in_force, backoff_max_ns=int(s.ws_backoff_max_s * 1e9))
        # The session start keeps this run's client order ids apart from earlier runs'.
        session_ms = time.time_ns() // 1_000_000
        return [BinanceVenueGateway(reactor, pipeline, 0, symbols, settings, session_ms, on_fatal)]

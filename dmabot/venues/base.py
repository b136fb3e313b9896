"""What a venue package gives the engine: a Feed, Gateways, and a VenueBuilder that makes them.

The engine (`dmabot.app.engine`) and the metrics collector (`dmabot.app.metrics`) know venues
only through these protocols; a venue package (`mock/`, `binance/`, a copy of `_template/`)
implements them and declares its configuration section (its `Key`s and a frozen dataclass,
see `dmabot.venues.keys`).

How a venue talks to the pipeline (`dmabot.core.pipeline.Pipeline`):
- a feed writes ticks into `pipeline.ring` and calls `pipeline.drain()` (or lets its decoder
  do both), then the engine's `after_step` callback;
- the engine hands a gateway each routed order through `submit`; the gateway reports what
  becomes of it with `pipeline.on_exec(ExecReport(...))`: an ACK, then FILLED/EXPIRED/... .

Metrics: `collect()` yields the venue's prometheus-client metric families. It runs at scrape
time only (never per tick) and reads the counters the venue keeps anyway.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Protocol, runtime_checkable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from dmabot.core.pipeline import Pipeline
from dmabot.core.types import Order
from dmabot.io.reactor import Reactor


@dataclass(frozen=True)
class VenueSpec:
    """A venue as the router scores it: its name, latency and fee."""
    name: str
    latency_ms: float
    fee_bps: float


@runtime_checkable
class Feed(Protocol):
    """Market data into the pipeline."""

    def start(self) -> None:
        """Begin delivering ticks (connect, arm timers); raise ConfigError naming the key on a
        setting that cannot work (e.g. a host that does not resolve)."""

    def stop(self) -> None:
        """Deliver no more ticks; idempotent."""

    @property
    def connected(self) -> bool:
        """Health: True while ticks can arrive."""

    def collect(self) -> Iterator[Metric]:
        """The feed's metric families, read at scrape time."""


@runtime_checkable
class Gateway(Protocol):
    """Orders out, execution reports back into the pipeline."""

    name: str           # the `venue` label of the engine's metrics

    def start(self) -> None:
        """Connect and get ready; raise ConfigError naming the key on a setting that cannot work."""

    def stop(self) -> None:
        """Close connections, cancel timers; idempotent."""

    def submit(self, order: Order) -> None:
        """Send `order`; its fate comes back through `pipeline.on_exec`. Never raises."""

    def cancel_open_orders(self) -> int:
        """At shutdown (CANCEL_ON_EXIT): cancel what rests on the venue; returns the requests sent."""

    @property
    def busy(self) -> bool:
        """Requests are unanswered: the engine's shutdown waits (a bounded drain) until False."""

    @property
    def ready(self) -> bool:
        """Health: True while orders are accepted."""

    def collect(self) -> Iterator[Metric]:
        """The gateway's metric families, read at scrape time."""


@runtime_checkable
class VenueBuilder(Protocol):
    """A venue package, with its configuration section: what the engine builds from it."""

    def route_specs(self) -> tuple[VenueSpec, ...]:
        """The venues (one per gateway, in order) the router splits orders across."""

    def build_feed(self, reactor: Reactor, pipeline: Pipeline, symbols: tuple[str, ...],
                   after_step: Callable[[], None]) -> Feed:
        """The market data feed; `after_step` runs after each batch of ticks it delivers."""

    def build_gateways(self, reactor: Reactor, pipeline: Pipeline, symbols: tuple[str, ...],
                       on_fatal: Callable[[str], None]) -> list[Gateway]:
        """One gateway per route spec, gateway i reporting as venue i; `on_fatal(message)`
        stops the engine when the venue cannot trade at all."""


# -- metric family helpers, for venues' collect() and the engine's collector ------------------
Rows = Iterable[tuple[list[str], float]]


def gauge(name: str, doc: str, labels: list[str], rows: Rows) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        family.add_metric(values, value)
    return family


def counter(name: str, doc: str, labels: list[str], rows: Rows) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=labels)
    for values, value in rows:
        family.add_metric(values, value)
    return family

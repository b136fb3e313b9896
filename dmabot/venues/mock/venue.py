"""The mock venues as the engine builds them: a random-walk feed and MOCK_VENUES gateways."""
from __future__ import annotations

from typing import Callable

from dmabot.core.pipeline import Pipeline
from dmabot.core.types import ExecReport
from dmabot.io.reactor import Reactor
from dmabot.venues.base import Feed, Gateway, VenueSpec
from dmabot.venues.mock.feed import MockFeedDriver
from dmabot.venues.mock.gateway import MockVenue
from dmabot.venues.mock.random_walk import MockFeed
from dmabot.venues.mock.settings import MockSettings


class MockVenues:
    """The `VenueBuilder` of FEED_MODE=mock / VENUE_MODE=mock."""

    def __init__(self, settings: MockSettings, on_report: Callable[[ExecReport], None] | None = None) -> None:
        self.settings = settings
        self.on_report = on_report      # where the venues report; None: the pipeline (replay taps them)

    def route_specs(self) -> tuple[VenueSpec, ...]:
        return self.settings.venues

    def build_feed(self, reactor: Reactor, pipeline: Pipeline, symbols: tuple[str, ...],
                   after_step: Callable[[], None]) -> Feed:
        s = self.settings
        walk = MockFeed(list(s.start_prices_of(symbols)), s.tick_size, s.vol_bps, s.seed)
        return MockFeedDriver(reactor, pipeline, walk, s.tick_hz, after_step)

    def build_gateways(self, reactor: Reactor, pipeline: Pipeline, symbols: tuple[str, ...],
                       on_fatal: Callable[[str], None]) -> list[Gateway]:
        return [MockVenue(reactor, pipeline, i, v.name, v.latency_ms, v.fee_bps, on_report=self.on_report)
                for i, v in enumerate(self.settings.venues)]

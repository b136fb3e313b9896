"""The template venue's `VenueBuilder`: what the engine builds from `TemplateSettings`."""
from __future__ import annotations

from typing import Callable

from dmabot.core.pipeline import Pipeline
from dmabot.io.reactor import Reactor
from dmabot.venues._template.feed import TemplateFeed
from dmabot.venues._template.gateway import TemplateGateway
from dmabot.venues._template.settings import TemplateSettings
from dmabot.venues.base import Feed, Gateway, VenueSpec

VENUE_NAME = "template"     # FILL IN: the `venue` label of your orders and metrics


class TemplateVenue:
    def __init__(self, settings: TemplateSettings) -> None:
        self.settings = settings

    def route_specs(self) -> tuple[VenueSpec, ...]:
        return (VenueSpec(VENUE_NAME, self.settings.latency_ms, self.settings.fee_bps),)

    def build_feed(self, reactor: Reactor, pipeline: Pipeline, symbols: tuple[str, ...],
                   after_step: Callable[[], None]) -> Feed:
        return TemplateFeed(reactor, pipeline, symbols, self.settings.price, self.settings.tick_ms, after_step)

    def build_gateways(self, reactor: Reactor, pipeline: Pipeline, symbols: tuple[str, ...],
                       on_fatal: Callable[[str], None]) -> list[Gateway]:
        return [TemplateGateway(reactor, pipeline, 0, VENUE_NAME, self.settings.fee_bps)]

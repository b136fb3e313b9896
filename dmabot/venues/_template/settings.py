"""The template venue's configuration section. FILL IN: your keys, parsers and defaults."""
from __future__ import annotations

from dataclasses import dataclass

from dmabot.venues.keys import Key, number

TEMPLATE_KEYS: tuple[Key, ...] = (
    Key("TEMPLATE_TICK_MS", number(0.001, 60_000.0), "100", "template feed: ms between ticks", attr="tick_ms"),
    Key("TEMPLATE_PRICE", number(0.0, 1e12, lo_open=True), "100", "template feed: the mid of every symbol",
        attr="price"),
    Key("TEMPLATE_FEE_BPS", number(-100.0, 1000.0), "10", "template venue: fee, bps", attr="fee_bps"),
    Key("TEMPLATE_LATENCY_MS", number(0.0, 60_000.0), "1", "template venue: the router's latency estimate, ms",
        attr="latency_ms"),
)


@dataclass(frozen=True)
class TemplateSettings:
    tick_ms: float
    price: float
    fee_bps: float
    latency_ms: float

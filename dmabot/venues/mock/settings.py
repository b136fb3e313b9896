"""The mock venues' configuration section: MOCK_* keys and `MockSettings`."""
from __future__ import annotations

from dataclasses import dataclass

from dmabot.venues.base import VenueSpec
from dmabot.venues.keys import Key, integer, number

# Start prices for well-known symbols; others start at 100.
DEFAULT_START_PRICES = {"BTCUSDT": 60000.0, "ETHUSDT": 3000.0, "SOLUSDT": 150.0,
                        "BNBUSDT": 600.0, "XRPUSDT": 0.6, "DOGEUSDT": 0.15}


def _prices(raw: str) -> tuple[float, ...]:
    parse = number(0.0, 1e12, lo_open=True)
    return tuple(parse(p) for p in raw.split(",") if p.strip())


def _venues(raw: str) -> tuple[VenueSpec, ...]:
    venues = []
    for item in (s.strip() for s in raw.split(",") if s.strip()):
        parts = item.split(":")
        if len(parts) != 3 or not (parts[0].isidentifier() and parts[0].isascii()):
            raise ValueError("expected name:latency_ms:fee_bps items, e.g. fastex:2:7.5,slowex:20:1")
        latency = number(0.0, 60_000.0)(parts[1])
        fee = number(-100.0, 1000.0)(parts[2])
        venues.append(VenueSpec(parts[0], latency, fee))
    if not venues or len({v.name for v in venues}) != len(venues):
        raise ValueError("expected at least one venue, each name once")
    return tuple(venues)


def _tick_size(raw: str) -> float:
    value = number(1e-12, 1.0)(raw)
    if abs(1 / value - round(1 / value)) > 1e-9 * (1 / value):
        raise ValueError("expected 1/k for an integer k, such as 0.01 or 0.001")
    return value


MOCK_KEYS: tuple[Key, ...] = (
    Key("MOCK_SEED", integer(0, 2**63 - 1), "42", "mock feed: random seed", attr="seed"),
    Key("MOCK_TICK_HZ", number(0.0, 1_000_000.0), "200",
        "mock feed: ticks per second per symbol, 0 = as fast as possible", attr="tick_hz"),
    Key("MOCK_START_PRICES", _prices, "", "mock feed: start mid per symbol (comma list; default by symbol)",
        attr="start_prices"),
    Key("MOCK_VOL_BPS", number(0.0, 1000.0), "1", "mock feed: stdev of the mid per tick, bps", attr="vol_bps"),
    Key("MOCK_TICK_SIZE", _tick_size, "0.01", "mock feed: price grid", attr="tick_size"),
    Key("MOCK_VENUES", _venues, "fastex:2:7.5,cheapex:25:1.0", "mock venues name:latency_ms:fee_bps, comma list",
        attr="venues"),
)


@dataclass(frozen=True)
class MockSettings:
    seed: int
    tick_hz: float
    start_prices: tuple[float, ...]     # empty: DEFAULT_START_PRICES by symbol
    vol_bps: float
    tick_size: float
    venues: tuple[VenueSpec, ...]

    def start_prices_of(self, symbols: tuple[str, ...]) -> tuple[float, ...]:
        """MOCK_START_PRICES, or by symbol when not given."""
        if self.start_prices:
            return self.start_prices
        return tuple(DEFAULT_START_PRICES.get(s, 100.0) for s in symbols)

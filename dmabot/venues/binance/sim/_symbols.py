"""The symbols the simulator lists, their trading rules, and exact decimal formatting.

Prices and quantities are integers in units of 1e-8 (the 8 decimals Binance prints), so
every value on the wire is exact and on its grid by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

SCALE = 10**8
_SYMBOL_RE = re.compile(r"^[A-Z0-9]{2,20}$")
_QUOTE_ASSETS = ("USDT", "USDC", "FDUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


def to_units(text: str) -> int:
    """'0.01' -> 1_000_000; rejects values finer than 1e-8."""
    scaled = Decimal(text) * SCALE
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{text} has more than 8 decimals")
    return int(scaled)


def format_units(units: int) -> str:
    """1_000_000 -> '0.01000000', the fixed 8-decimal form Binance uses."""
    return f"{units // SCALE}.{units % SCALE:08d}"


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    base_asset: str
    quote_asset: str
    tick_units: int
    step_units: int
    market_max_qty_units: int
    start_price_units: int
    # mean best-level quantity, in steps, for the simulated book
    mean_level_steps: int

    @property
    def stream_prefix(self) -> str:
        return self.symbol.lower()


def _spec(
    symbol: str, base: str, quote: str, tick: str, step: str, market_max_qty: str, start_price: str, mean_level_qty: str
) -> SymbolSpec:
    step_units = to_units(step)
    return SymbolSpec(
        symbol,
        base,
        quote,
        to_units(tick),
        step_units,
        to_units(market_max_qty),
        to_units(start_price),
        to_units(mean_level_qty) // step_units,
    )


# Rules as mainnet's exchangeInfo gives them (docs/binance.md, "Filters and rounding").
KNOWN_SYMBOLS = {
    "BTCUSDT": _spec("BTCUSDT", "BTC", "USDT", "0.01", "0.00001", "83.76572430", "91250.00", "1.5"),
    "ETHUSDT": _spec("ETHUSDT", "ETH", "USDT", "0.01", "0.0001", "1701.08445", "3150.00", "10"),
}


def symbol_spec(symbol: str) -> SymbolSpec:
    """The known rules for `symbol`, or generic ones (tick 0.01, step 0.001, price 100)."""
    if symbol in KNOWN_SYMBOLS:
        return KNOWN_SYMBOLS[symbol]
    if not _SYMBOL_RE.match(symbol):
        raise ValueError(f"invalid symbol {symbol!r}: expected upper-case letters and digits")
    for quote in _QUOTE_ASSETS:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return _spec(symbol, symbol[: -len(quote)], quote, "0.01", "0.001", "1000", "100.00", "5")
    raise ValueError(f"unsupported symbol {symbol!r}: quote asset not one of {', '.join(_QUOTE_ASSETS)}")

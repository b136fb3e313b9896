"""LimitOrderGrid.prepare against the Decimal path it replaces on the order hot path:
``format_decimal(round_price)``, ``format_decimal(round_qty)`` and ``check(..., LIMIT, ...)``.

The contract: an accepted result is exactly the Decimal path's texts; None whenever that path
rejects or raises; and None for an order the Decimal path accepts only when a grid integer
(the price or quantity in units of its grid's last digit) is 2**63 or more, or a text is
longer than MAX_TEXT.
"""
from __future__ import annotations

import json
import math
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from dmabot.venues.binance.fast.grid import LimitOrderGrid
from dmabot.venues.binance.protocol import (
    FilterName,
    LotSize,
    OrderType,
    PriceFilter,
    SymbolRules,
    WireSide,
    format_decimal,
    parse_exchange_info,
)
from dmabot.venues.binance.protocol.filters import NotionalFilter, PercentPriceFilter
from tests.helpers.paths import TEST_DATA

DATA = TEST_DATA / "binance"
PROPERTY = settings(max_examples=1000, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
D = Decimal
BUY, SELL = 1, -1
MAX_TEXT = 48           # grid.pxd


def load_rules(*parts: str) -> dict[str, SymbolRules]:
    return dict(parse_exchange_info(json.loads(DATA.joinpath(*parts).read_text())).symbols)


SAMPLES = {**load_rules("rest", "exchange_info_btcusdt_ethusdt.json"),
           "LEGACY_BTCUSDT": load_rules("real_capture", "mainnet_2021-10-22_exchange_info_legacy_nautilus.json")[
               "BTCUSDT"]}
BTC = SAMPLES["BTCUSDT"]


def decimal_path(rules: SymbolRules, side: int, px: float, qty: float, reference: float | None):
    """What the gateway computes today: texts if the exchange's filters accept, else None."""
    try:
        price, quantity = rules.round_price(side, px), rules.round_qty(qty)
        if rules.check(side, OrderType.LIMIT, price, quantity, reference) is not None:
            return None
    except (ValueError, ArithmeticError):
        # ArithmeticError: decimal.Inexact from a result of over 200 digits (e.g. a quantity
        # of 1e300 on a step of 3), which the gateway does not catch.
        return None
    return format_decimal(price), format_decimal(quantity)


def grids_only(grid: Decimal) -> SymbolRules:
    """A symbol with `grid` as tick and step, no other filter and ample precision."""
    return SymbolRules("X", "TRADING", "X", "Y", 60, 60, frozenset({"LIMIT"}),
                       price_filter=PriceFilter(D(0), D(0), grid),
                       lot_size=LotSize(FilterName.LOT_SIZE, D(0), D(0), grid))


def grid_integer(text: str, grid: Decimal) -> Decimal:
    """`text` in units of the grid's last digit (0.01 for a 0.05 tick)."""
    return D(text).scaleb(-grid.normalize().as_tuple().exponent)


def assert_same_as_decimal_path(rules: SymbolRules, side, px, qty, reference):
    expected = decimal_path(rules, side, px, qty, reference)
    got = LimitOrderGrid(rules).prepare(side, px, qty, reference)
    event("accepted" if expected else "refused")
    if got != expected:
        assert got is None and expected is not None, (got, expected)
        price, quantity = expected
        # Declined only beyond the fast path's integers.
        assert (grid_integer(price, rules.price_grid) >= 2**63 or grid_integer(quantity, rules.qty_grid) >= 2**63
                or max(len(price), len(quantity)) > MAX_TEXT), expected
        event("declined: beyond the integers")


# --- strategies ---------------------------------------------------------------------------
# Strategies are module constants, and values are computed from a few drawn integers: building
# strategies per example (one per grid) made generation 20 times slower.

GRIDS = [D(x) for x in ("0.01", "0.00001", "1", "0.5", "0.0001", "0.00000001", "0.05", "10", "0.25", "0.1",
                        "0.00010000", "1000", "0.000001")]
grids = st.sampled_from(GRIDS) | st.builds(lambda n, places: D(n).scaleb(-places), st.integers(1, 25),
                                           st.integers(-3, 12))
DOWN = [D(x) for x in ("0.2", "0.8", "0.95", "0.5", "0.999", "0.7")]
UP = [D(x) for x in ("5", "1.2", "1.05", "2", "1.001", "1.3", "10")]
ODD = [D(x) for x in ("0", "1", "0.2", "5")]           # empty or one-sided bands, a down above an up
downs, ups = st.sampled_from(DOWN) | st.sampled_from(ODD), st.sampled_from(UP) | st.sampled_from(ODD)
notionals = st.sampled_from([D(0), D(5), D("0.0001"), D(10), D(100), D("5.00000000"), D("0.123456789")])
max_notionals = st.sampled_from([None, D(0), D(50), D(1000), D(9000000), D("123.45")])
units = st.integers(1, 200) | st.integers(0, 10**9)
ulps = st.integers(-3, 3)
FLOAT_NOISE = [1 + 2**-52, 1 - 2**-53, 1.1, 0.9, 3.0, 1 / 3]
wide_floats = st.floats(min_value=0, max_value=1e13, allow_nan=False, allow_infinity=False)
small_floats = st.floats(min_value=1e-12, max_value=1e-3)
SPECIAL = [math.nan, math.inf, -math.inf, -1.0, -0.0, 0.0, 5e-324, 2.2250738585072014e-308, 1e-300, 1e300,
           1.7976931348623157e308, 2.0**63, 2.0**64, 1e19, 0.1 + 0.2, 0.3, 1 - 2**-53, 123456789012345.67]
specials = st.sampled_from(SPECIAL)


def nudged(x: float, n: int) -> float:
    """`x` moved by `n` ulps."""
    for _ in range(abs(n)):
        x = math.nextafter(x, math.inf if n > 0 else -math.inf)
    return x


@st.composite
def bounds(draw, grid: Decimal, low: bool) -> Decimal:
    """A filter's lower or upper bound: none (0, most often), on the grid, or anywhere."""
    kind = draw(st.integers(0, 4))
    if kind <= 2:
        return D(0)
    if kind == 3:
        return grid * (draw(st.integers(1, 100)) if low else draw(st.integers(1, 10**12)))
    places = draw(st.integers(4, 12) if low else st.integers(-2, 6))
    return D(draw(st.integers(1, 10**4 if low else 10**9))).scaleb(-places)


@st.composite
def precision(draw, grid: Decimal) -> int:
    """Decimals of an asset: mostly enough for its grid, sometimes fewer (PRECISION rejects)."""
    decimals = max(0, -grid.normalize().as_tuple().exponent)
    return draw(st.sampled_from([decimals, decimals, decimals + 1, 8]) | st.sampled_from([decimals, 8])
                | st.integers(0, 12))


@st.composite
def symbol_rules(draw) -> SymbolRules:
    tick, step = draw(grids), draw(grids)
    price_filter = lot_size = None
    if draw(st.integers(0, 9)):
        tick = draw(st.sampled_from([tick, tick, D(0)]))       # 0: the quote precision is the grid
        price_filter = PriceFilter(draw(bounds(tick or D(1), True)), draw(bounds(tick or D(1), False)), tick)
    if draw(st.integers(0, 9)):
        step = draw(st.sampled_from([step, step, D(0)]))
        lot_size = LotSize(FilterName.LOT_SIZE, draw(bounds(step or D(1), True)), draw(bounds(step or D(1), False)),
                           step)
    notional = min_notional = percent_price_by_side = percent_price = None
    if draw(st.booleans()):
        notional = NotionalFilter(FilterName.NOTIONAL, draw(notionals), True, draw(max_notionals), False, 5)
    if draw(st.integers(0, 3)) == 0:
        min_notional = NotionalFilter(FilterName.MIN_NOTIONAL, draw(notionals), True, None, False, 5)
    if draw(st.booleans()):
        percent_price_by_side = PercentPriceFilter(FilterName.PERCENT_PRICE_BY_SIDE, draw(ups), draw(downs),
                                                   draw(ups), draw(downs), 5)
    if draw(st.integers(0, 3)) == 0:
        up, down = draw(ups), draw(downs)
        percent_price = PercentPriceFilter(FilterName.PERCENT_PRICE, up, down, up, down, 5)
    # With a zero tick or step the precision makes the grid; else it may be too short for it.
    quote_precision, base_precision = draw(precision(tick or D(1))), draw(precision(step or D(1)))
    return SymbolRules("TESTUSDT", "TRADING", "TEST", "USDT", base_precision, quote_precision,
                       frozenset({"LIMIT"}), price_filter=price_filter, lot_size=lot_size,
                       market_lot_size=None, notional=notional, min_notional=min_notional,
                       percent_price_by_side=percent_price_by_side, percent_price=percent_price)


@st.composite
def near_grid(draw, grid: Decimal) -> float:
    """A float on a grid point (k * grid), a few ulps off, with float noise, or anywhere."""
    x = float(grid * draw(units))
    kind = draw(st.integers(0, 9))
    if kind == 1:
        return nudged(x, draw(ulps))
    if kind == 2:
        return x * draw(st.sampled_from(FLOAT_NOISE))
    if kind == 3:
        return x + float(grid * draw(units))                    # 0.1 + 0.2
    if kind == 4:
        return draw(wide_floats)
    if kind == 5:
        return draw(small_floats)
    if kind == 6:
        return draw(specials)
    return x                                                    # kinds 0 and 7..9: most often


@st.composite
def references(draw, px: float) -> float | None:
    """None, a band edge of `px` (px / multiplier, or a neighbour), near px, or anywhere."""
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return None
    if kind <= 2 and math.isfinite(px) and px > 0:
        edge = float(D(repr(px)) / draw(st.sampled_from(DOWN + UP)))
        return edge if kind == 1 else nudged(edge, draw(ulps))
    if kind == 3:
        return px * draw(st.sampled_from([1.0, 0.5, 1.5, 0.2, 5.0, 4.9, 0.21]))
    if kind == 4:
        return draw(st.floats(min_value=1e-9, max_value=1e12))
    if kind == 5:
        return draw(specials)
    return px


@st.composite
def orders(draw, rules: SymbolRules):
    px = draw(near_grid(rules.price_grid))
    return draw(st.sampled_from([BUY, SELL])), px, draw(near_grid(rules.qty_grid)), draw(references(px))


# --- properties ---------------------------------------------------------------------------

@PROPERTY
@given(st.data())
def test_random_rules_match_decimal_path(data):
    rules = data.draw(symbol_rules())
    assert_same_as_decimal_path(rules, *data.draw(orders(rules)))


@PROPERTY
@given(st.sampled_from(sorted(SAMPLES)), st.data())
def test_exchange_samples_match_decimal_path(name, data):
    rules = SAMPLES[name]
    side = data.draw(st.sampled_from([BUY, SELL]))
    cents = data.draw(st.integers(1, 2 * 10**8) | st.integers(1_800_000, 9_200_000))
    px = data.draw(st.sampled_from([cents / 100, (cents + 0.5) / 100, cents / 100 * (1 - 5e-4)])
                   | near_grid(rules.price_grid))
    qty = data.draw(st.builds(lambda steps: steps / 10**5, st.integers(0, 10**7)) | near_grid(rules.qty_grid))
    reference = data.draw(references(px) | st.builds(lambda bid, spread: (bid + (bid + spread)) / 2 / 100,
                                                      st.integers(1, 10**8), st.integers(1, 5)))
    assert_same_as_decimal_path(rules, side, px, qty, reference)


@PROPERTY
@given(st.floats(min_value=1e-25, max_value=1e25)
       | st.builds(lambda a, b: a + b, st.floats(1e-6, 1e6), st.floats(1e-6, 1)))
@example(0.1 + 0.2)
@example(0.30000000000000004)
@example(9007199254740993.0)
@example(1e-7)
@example(999999999999999.9)
@example(2.5e-23)
def test_a_float_is_read_as_its_shortest_repr(x):
    # On a grid at the last digit of repr(x) the price text is repr(x) itself, so any misread
    # (a neighbouring decimal, a lost digit) shows. Both readers: 15 digits and CPython's dtoa.
    if x <= 0:
        return
    shortest = D(repr(x))
    unit = D(1).scaleb(shortest.normalize().as_tuple().exponent)
    grid = LimitOrderGrid(grids_only(unit))
    assert grid.prepare(BUY, x, x) == grid.prepare(SELL, x, x) == (format_decimal(shortest),) * 2


@PROPERTY
@given(st.sampled_from(GRIDS) | grids, near_grid(D("0.01")) | near_grid(D("0.00001")) | near_grid(D("0.5")))
@example(D("0.00001"), 33 * 1e-5)                   # 0.00033000000000000005, as the router splits
@example(D("0.01"), 91250.0 * (1 + 5e-4))           # 91295.62500000001
@example(D("0.00000001"), 1e-7 * 3)
@example(D("1"), 100000000000000.5)                 # 16 digits, only the half-unit bit below the grid
def test_rounding_matches_the_shortest_repr_on_any_grid(grid, x):
    # Only the grids: each float is rounded the way its shortest repr is, by every reader
    # (15 digits, the binary value, dtoa) on grids coarse and fine.
    rules = grids_only(grid)
    assert_same_as_decimal_path(rules, BUY, x, x, None)
    assert_same_as_decimal_path(rules, SELL, x, x, None)


# --- named cases --------------------------------------------------------------------------

REF = 91250.0
BTC_GRID = LimitOrderGrid(BTC)


@pytest.mark.parametrize("side, px, qty, reference, expected", [
    (BUY, 91250.017, 0.0012345, REF, ("91250.01", "0.00123")),    # buy price down, quantity down
    (SELL, 91250.011, 0.0012345, REF, ("91250.02", "0.00123")),   # sell price up
    (BUY, 0.29, 20.0, None, ("0.29", "20")),                      # 0.29 is read as 0.29, not 0.2899999...
    (BUY, 0.29 * 100_000, 0.001, None, ("28999.99", "0.001")),    # 28999.999999999996: 17 digits, floored
    (SELL, 91250.01, 0.1 + 0.2, REF, ("91250.01", "0.3")),        # 0.30000000000000004: dtoa's 17 digits
    (BUY, 18250.0, 0.001, REF, ("18250", "0.001")),               # band edge 0.2 * 91250 is inclusive
    (BUY, 18249.99, 0.001, REF, None),                            # PERCENT_PRICE_BY_SIDE
    (SELL, 456250.01, 0.001, REF, None),
    (BUY, 100000.0, 0.00005, None, ("100000", "0.00005")),        # minNotional 5 exactly is enough
    (BUY, 99999.99, 0.00005, None, None),                         # NOTIONAL
    (BUY, 91250.0, 0.000009, REF, None),                          # quantity rounds to 0: LOT_SIZE
    (BUY, 91250.0, 9000.00001, None, None),                       # above maxQty
    (BUY, 1000000.01, 0.001, None, None),                         # above maxPrice
    (BUY, 91250.0, 0.002, 0.0, None),                             # check() raises for a reference of 0
    (BUY, math.nan, 0.002, REF, None),
    (BUY, 91250.0, -0.002, REF, None),
    (BUY, -0.0, 0.002, REF, None),
    (BUY, math.inf, 0.002, None, None),
    (0, 91250.0, 0.002, REF, None),                               # not a side
])
def test_btcusdt_orders(side, px, qty, reference, expected):
    assert BTC_GRID.prepare(side, px, qty, reference) == expected
    assert decimal_path(BTC, side, px, qty, reference) == expected


def test_precision_counts_the_decimals_of_the_rounded_values():
    # A tick finer than the quote precision: 1.234 has 3 decimals, the exchange allows 2 (-1111).
    rules = SymbolRules("X", "TRADING", "X", "Y", 8, 2, frozenset({"LIMIT"}),
                        price_filter=PriceFilter(D(0), D(0), D("0.001")))
    grid = LimitOrderGrid(rules)
    assert grid.prepare(BUY, 1.234, 1.0) is None
    assert grid.prepare(BUY, 1.23, 1.0) == ("1.23", "1")
    assert rules.check(WireSide.BUY, OrderType.LIMIT, D("1.234"), D(1), None).filter_name is FilterName.PRECISION


def test_symbol_and_unrepresentable_rules():
    assert BTC_GRID.symbol == "BTCUSDT"
    absurd = PriceFilter(D(0), D(0), D("0.123456789012345678901234"))
    with pytest.raises(ValueError, match="price grid"):
        LimitOrderGrid(SymbolRules("X", "TRADING", "X", "Y", 8, 8, frozenset(), price_filter=absurd))

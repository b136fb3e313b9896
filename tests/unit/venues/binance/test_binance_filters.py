"""exchangeInfo parsing, exact grid rounding and pre-trade filter checks, against the samples
(current and 2021 legacy filters), the exchange's error texts, and a direct Decimal reference."""
from __future__ import annotations

import copy
import json
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from dmabot.venues.binance.protocol import (
    FilterName,
    FilterReject,
    LotSize,
    OrderType,
    ParseError,
    PriceFilter,
    RateLimitInterval,
    RateLimitType,
    SymbolRules,
    UnknownSymbol,
    WireSide,
    ceil_to_grid,
    floor_to_grid,
    format_decimal,
    on_grid,
    parse_exchange_info,
    to_decimal,
)
from tests.helpers.paths import TEST_DATA

DATA = TEST_DATA / "binance"
PROPERTY = settings(max_examples=400, deadline=None, derandomize=True)
D = Decimal


def load(*parts: str):
    return json.loads(DATA.joinpath(*parts).read_text())


EXCHANGE_INFO = load("rest", "exchange_info_btcusdt_ethusdt.json")
LEGACY_INFO = load("real_capture", "mainnet_2021-10-22_exchange_info_legacy_nautilus.json")
INFO = parse_exchange_info(EXCHANGE_INFO)
BTC = INFO.rules("BTCUSDT")
ETH = INFO["ETHUSDT"]
LEGACY_BTC = parse_exchange_info(LEGACY_INFO).rules("BTCUSDT")


# --- parsing ------------------------------------------------------------------------------

def test_parse_current_sample():
    assert set(INFO.symbols) == {"BTCUSDT", "ETHUSDT"}
    assert INFO.server_time == 1795858200000
    assert (BTC.base_asset, BTC.quote_asset) == ("BTC", "USDT")
    assert (BTC.base_asset_precision, BTC.quote_asset_precision) == (8, 8)
    assert BTC.is_trading and "LIMIT_MAKER" in BTC.order_types
    assert BTC.price_filter == PriceFilter(D("0.01"), D("1000000"), D("0.01"))
    assert BTC.lot_size == LotSize(FilterName.LOT_SIZE, D("0.00001"), D("9000"), D("0.00001"))
    assert ETH.lot_size.step_size == D("0.0001")
    assert BTC.market_lot_size.max_qty == D("83.76572430") and BTC.market_lot_size.step_size == 0
    assert ETH.market_lot_size.max_qty == D("1701.08445")
    n = BTC.notional
    assert (n.name, n.min_notional, n.apply_min_to_market, n.max_notional, n.apply_max_to_market, n.avg_price_mins) == (
        FilterName.NOTIONAL, D(5), True, D(9000000), False, 5)
    p = BTC.percent_price_by_side
    assert (p.bid_multiplier_up, p.bid_multiplier_down, p.ask_multiplier_up, p.ask_multiplier_down) == (
        D(5), D("0.2"), D(5), D("0.2"))
    assert BTC.min_notional is None and BTC.percent_price is None and BTC.max_num_orders == 200
    assert BTC.price_grid == D("0.01") and BTC.qty_grid == D("0.00001")


def test_parse_rate_limits():
    limits = {(r.kind, r.window_ms): r.limit for r in INFO.rate_limits}
    assert limits == {
        (RateLimitType.REQUEST_WEIGHT, 60_000): 6000,
        (RateLimitType.ORDERS, 10_000): 100,
        (RateLimitType.ORDERS, 86_400_000): 200000,
        (RateLimitType.RAW_REQUESTS, 300_000): 300000,
    }
    assert INFO.rate_limits[0].interval is RateLimitInterval.MINUTE and INFO.rate_limits[0].count is None


def test_parse_legacy_capture_normalises_old_filters():
    b = LEGACY_BTC
    assert b.notional is None and b.percent_price_by_side is None
    assert (b.min_notional.name, b.min_notional.min_notional, b.min_notional.apply_min_to_market) == (
        FilterName.MIN_NOTIONAL, D(10), True)
    assert b.min_notional.max_notional is None
    pp = b.percent_price
    assert pp.name is FilterName.PERCENT_PRICE and pp.bid_multiplier_up == pp.ask_multiplier_up == D(5)
    assert pp.bid_multiplier_down == pp.ask_multiplier_down == D("0.2")
    assert b.market_lot_size.max_qty == D("112.2110882")
    weight = [r for r in parse_exchange_info(LEGACY_INFO).rate_limits if r.kind is RateLimitType.REQUEST_WEIGHT]
    assert [w.limit for w in weight] == [1200]


def test_unknown_filter_and_rate_limit_types_are_ignored():
    info = copy.deepcopy(EXCHANGE_INFO)
    info["symbols"][0]["filters"].append({"filterType": "SOMETHING_NEW_2027", "x": 1})
    info["rateLimits"].append({"rateLimitType": "CONNECTIONS", "interval": "MINUTE", "intervalNum": 5, "limit": 300})
    parsed = parse_exchange_info(info)
    assert parsed.rules("BTCUSDT") == BTC
    assert parsed.rate_limits == INFO.rate_limits


def test_malformed_known_filter_names_symbol_and_filter():
    info = copy.deepcopy(EXCHANGE_INFO)
    del info["symbols"][1]["filters"][1]["stepSize"]
    with pytest.raises(ParseError, match=r"ETHUSDT filter LOT_SIZE: missing field 'stepSize'"):
        parse_exchange_info(info)
    info = copy.deepcopy(EXCHANGE_INFO)
    info["symbols"][0]["filters"][0]["tickSize"] = 0.01             # a float: precision already lost
    with pytest.raises(ParseError, match="tickSize"):
        parse_exchange_info(info)


def test_unknown_symbol_is_named():
    with pytest.raises(UnknownSymbol, match="'BTCEUR'") as info:
        INFO.rules("BTCEUR")
    assert info.value.symbol == "BTCEUR"
    assert info.value.code == load("errors", "rest_-1121_bad_symbol.json")["code"]
    with pytest.raises(LookupError):
        INFO["btcusdt"]                                                  # REST symbols are upper-case


# --- rounding and formatting ---------------------------------------------------------------

@pytest.mark.parametrize("side, px, expected", [
    (WireSide.BUY, "91250.017", "91250.01"),      # buy: down, never pays more than asked
    (WireSide.SELL, "91250.011", "91250.02"),     # sell: up, never sells for less than asked
    (WireSide.BUY, "91250.01", "91250.01"),       # on the grid: unchanged
    (WireSide.SELL, "91250.01000000", "91250.01"),
    ("BUY", 0.29, "0.29"),                    # float via its repr; Decimal(0.29) would floor to 0.28
    ("SELL", 0.57, "0.57"),                   # Decimal(0.57) is 0.5699999..., ceil is still 0.57
    (1, 91250.019999, "91250.01"),            # the engine's +1/-1 sides
    (-1, 91250.010001, "91250.02"),
])
def test_round_price(side, px, expected):
    assert format_decimal(BTC.round_price(side, px)) == expected


@pytest.mark.parametrize("qty, expected", [
    ("0.0012345", "0.00123"), (0.003, "0.003"), (0.1 + 0.2, "0.3"), ("0.000009", "0"), (D("1E-3"), "0.001"),
    (12, "12"),
])
def test_round_qty(qty, expected):
    assert format_decimal(BTC.round_qty(qty)) == expected


def test_eth_step_and_round_errors():
    assert format_decimal(ETH.round_qty("0.12345")) == "0.1234"
    for bad in ("nan", float("inf"), "abc", True, None):
        with pytest.raises((ValueError, TypeError)):
            BTC.round_qty(bad)
    with pytest.raises(ValueError):
        BTC.round_price(WireSide.BUY, "-1")
    with pytest.raises(ValueError):
        BTC.round_price("HOLD", "1")


@pytest.mark.parametrize("value, text", [
    ("0.00120000", "0.0012"), ("1E-7", "0.0000001"), ("1E+2", "100"), ("100.000", "100"), ("0E-8", "0"),
    ("-0", "0"), ("91250.01000000", "91250.01"), ("12345678901234567890123456789.123456789",
                                                  "12345678901234567890123456789.123456789"),
])
def test_format_decimal(value, text):
    assert format_decimal(D(value)) == text


def test_grid_functions_off_power_of_ten_steps():
    assert floor_to_grid(D("1.24"), D("0.05")) == D("1.20")
    assert ceil_to_grid(D("1.21"), D("0.05")) == D("1.25")
    assert on_grid(D("7.5"), D("2.5")) and not on_grid(D("7.6"), D("2.5"))
    with pytest.raises(ValueError):
        floor_to_grid(D(1), D(0))


def rules_with(tick: Decimal, step: Decimal) -> SymbolRules:
    return SymbolRules("TESTUSDT", "TRADING", "TEST", "USDT", 8, 8, frozenset({"LIMIT"}),
                       price_filter=PriceFilter(D(0), D(0), tick),
                       lot_size=LotSize(FilterName.LOT_SIZE, D(0), D(0), step))


grids = st.sampled_from([D("0.01"), D("0.00001"), D("0.05"), D("0.25"), D("1"), D("10"), D("0.00000001"), D("0.1")])
values = st.builds(lambda n, places: D(n).scaleb(-places), st.integers(0, 10**16), st.integers(0, 12))
floats = st.floats(min_value=0, max_value=1e8, allow_nan=False, allow_infinity=False)


@PROPERTY
@given(values | floats, grids, grids)
@example(0.29, D("0.01"), D("0.01"))
@example(D("91250.017"), D("0.01"), D("0.00001"))
def test_rounding_is_on_grid_and_never_worse(value, tick, step):
    rules = rules_with(tick, step)
    exact = D(repr(value)) if isinstance(value, float) else value
    buy, sell = rules.round_price(WireSide.BUY, value), rules.round_price(WireSide.SELL, value)
    qty = rules.round_qty(value)
    # on the grid
    assert on_grid(buy, tick) and on_grid(sell, tick) and on_grid(qty, step)
    assert Fraction(buy) % Fraction(tick) == 0 and Fraction(qty) % Fraction(step) == 0
    # never in the unsafe direction, and at most one grid step away (Fractions: exact for any input)
    x, t, s = Fraction(exact), Fraction(tick), Fraction(step)
    assert x - t < Fraction(buy) <= x <= Fraction(sell) < x + t
    assert x - s < Fraction(qty) <= x
    # the result carries the grid's exponent, not the input's (no 300-digit coefficients)
    assert buy.as_tuple().exponent == sell.as_tuple().exponent == tick.as_tuple().exponent
    # idempotent
    assert rules.round_price(WireSide.BUY, buy) == buy and rules.round_qty(qty) == qty


@PROPERTY
@given(st.builds(lambda n, e: D(n).scaleb(e), st.integers(-(10**30), 10**30), st.integers(-30, 30)))
@example(D("1E+2"))
@example(D("-0E-8"))
def test_format_round_trips_exactly(x):
    text = format_decimal(x)
    assert D(text) == x
    assert "e" not in text.lower() and text != "-0"
    if "." in text:
        assert not text.endswith("0") and not text.endswith(".")


@PROPERTY
@given(floats)
def test_float_input_is_its_shortest_repr(f):
    assert to_decimal(f) == D(repr(f)) and float(to_decimal(f)) == f


# --- check(): against the exchange's error samples ----------------------------------------

REF = D("91250.00")


@pytest.mark.parametrize("sample, order", [
    ("rest_-1013_filter_lot_size.json", (WireSide.BUY, OrderType.LIMIT, "91250.00", "0.000015")),
    ("rest_-1013_filter_price_filter.json", (WireSide.BUY, OrderType.LIMIT, "91250.005", "0.001")),
    ("rest_-1013_filter_notional.json", (WireSide.BUY, OrderType.LIMIT, "91250.00", "0.00005")),
    ("rest_-1013_filter_percent_price_by_side.json", (WireSide.SELL, OrderType.LIMIT, "456250.01", "0.001")),
    ("rest_-1111_bad_precision.json", (WireSide.BUY, OrderType.LIMIT, "91250.00", "0.000010001")),
])
def test_local_reject_says_what_the_exchange_says(sample, order):
    reject = BTC.check(*order, REF)
    body = load("errors", sample)
    assert isinstance(reject, FilterReject)
    assert (reject.code, reject.exchange_msg) == (body["code"], body["msg"])
    assert reject.reason


def test_check_accepts_good_orders():
    assert BTC.check(WireSide.BUY, OrderType.LIMIT, D("91250.00"), D("0.002"), REF) is None
    assert BTC.check("SELL", "LIMIT_MAKER", "91300.01", "0.00006", REF) is None        # 5.478 USDT
    assert BTC.check(WireSide.BUY, OrderType.MARKET, None, D("0.01"), REF) is None
    # no band without a reference
    assert BTC.check(WireSide.BUY, OrderType.LIMIT, D("91250.00"), D("0.002"), None) is None


def test_check_reasons_and_boundaries():
    r = BTC.check(WireSide.BUY, OrderType.LIMIT, "91250.00", "0.000015", REF)
    assert (r.filter_name, r.param) == (FilterName.LOT_SIZE, "quantity")
    assert r.reason == "quantity 0.000015 not a multiple of stepSize 0.00001"
    # minNotional is inclusive: 5 USDT exactly passes, one step less fails
    assert BTC.check(WireSide.BUY, OrderType.LIMIT, "100000", "0.00005", None) is None
    r = BTC.check(WireSide.BUY, OrderType.LIMIT, "99999.99", "0.00005", None)
    assert r.filter_name is FilterName.NOTIONAL and "below minNotional 5" in r.reason
    # the band is inclusive at 0.2x and 5x of the reference
    assert BTC.check(WireSide.BUY, OrderType.LIMIT, "18250.00", "0.001", REF) is None
    r = BTC.check(WireSide.BUY, OrderType.LIMIT, "18249.99", "0.001", REF)
    assert r.filter_name is FilterName.PERCENT_PRICE_BY_SIDE
    assert r.reason == "BUY price 18249.99 outside [18250, 456250] around reference 91250"
    assert BTC.check(WireSide.BUY, OrderType.LIMIT, "0", "0.001", REF).filter_name is FilterName.PRICE_FILTER
    assert BTC.check(WireSide.BUY, OrderType.LIMIT, "1000000.01", "0.001", None).filter_name is FilterName.PRICE_FILTER
    assert BTC.check(WireSide.BUY, OrderType.LIMIT, "91250", "9000.00001", None).filter_name is FilterName.LOT_SIZE
    assert BTC.check(WireSide.BUY, OrderType.LIMIT, "91250", "0", None).filter_name is FilterName.LOT_SIZE
    r = BTC.check(WireSide.BUY, OrderType.LIMIT, "91250.001", "0.001", REF)
    assert (r.filter_name, r.reason) == (FilterName.PRICE_FILTER, "price 91250.001 not a multiple of tickSize 0.01")
    r = BTC.check(WireSide.BUY, OrderType.LIMIT, "91250.000000001", "0.001", REF)     # 9 decimals: -1111 first
    assert (r.filter_name, r.param, r.code) == (FilterName.PRECISION, "price", -1111)
    assert r.exchange_msg == "Parameter 'price' has too much precision."


def test_check_market_orders():
    # MARKET_LOT_SIZE caps market quantity; LOT_SIZE does not see it
    r = BTC.check(WireSide.SELL, OrderType.MARKET, None, "83.77", REF)
    assert r.filter_name is FilterName.MARKET_LOT_SIZE and r.exchange_msg == "Filter failure: MARKET_LOT_SIZE"
    assert BTC.check(WireSide.SELL, OrderType.LIMIT, "91250", "83.77", REF) is None
    # notional of a MARKET order is taken at the reference price; maxNotional is not applied to market
    assert BTC.check(WireSide.BUY, OrderType.MARKET, None, "0.00005", D("99999")).filter_name is FilterName.NOTIONAL
    assert ETH.check(WireSide.BUY, OrderType.MARKET, None, "1701", D("100000")) is None       # 170 M > maxNotional
    assert ETH.check(WireSide.BUY, OrderType.LIMIT, "100000", "1701", None).filter_name is FilterName.NOTIONAL
    with pytest.raises(ValueError, match="reference_price"):
        BTC.check(WireSide.BUY, OrderType.MARKET, None, "0.01", None)


def test_check_legacy_filters_report_their_own_names():
    r = LEGACY_BTC.check(WireSide.BUY, OrderType.LIMIT, "60000", "0.0001", None)          # 6 < 10 USDT
    assert (r.filter_name, r.exchange_msg) == (FilterName.MIN_NOTIONAL, "Filter failure: MIN_NOTIONAL")
    r = LEGACY_BTC.check(WireSide.SELL, OrderType.LIMIT, "1000", "0.01", D("60000"))
    assert r.filter_name is FilterName.PERCENT_PRICE


def test_check_rejects_unsupported_usage():
    with pytest.raises(ValueError):
        BTC.check(WireSide.BUY, OrderType.STOP_LOSS_LIMIT, "1", "1", REF)
    with pytest.raises(ValueError):
        BTC.check(WireSide.BUY, OrderType.LIMIT, None, "1", REF)
    with pytest.raises(ValueError):
        BTC.check(WireSide.BUY, "POST_ONLY", "1", "1", REF)
    with pytest.raises(ValueError):
        BTC.check(WireSide.BUY, OrderType.LIMIT, "1", "1", D(0))


# --- check(): against a direct Decimal computation from the raw exchangeInfo JSON ---------

RAW = {f["filterType"]: f for f in EXCHANGE_INFO["symbols"][0]["filters"]}


def decimals(x: Decimal) -> int:
    return 0 if x == 0 else max(0, -x.normalize().as_tuple().exponent)


def reference_check(side: WireSide, order_type: OrderType, price, qty: Decimal, ref) -> str | None:
    """The BTCUSDT filters written out directly: Decimal %, *, <= in a 100-digit context."""
    with localcontext() as ctx:
        ctx.prec = 100
        market = order_type is OrderType.MARKET
        if (not market and decimals(price) > 8) or decimals(qty) > 8:
            return "PRECISION"
        if not market:
            pf = RAW["PRICE_FILTER"]
            if price <= 0 or price < D(pf["minPrice"]) or price > D(pf["maxPrice"]) or price % D(pf["tickSize"]):
                return "PRICE_FILTER"
            if ref is not None:
                pp = RAW["PERCENT_PRICE_BY_SIDE"]
                up, down = ("bidMultiplierUp", "bidMultiplierDown") if side is WireSide.BUY else (
                    "askMultiplierUp", "askMultiplierDown")
                if not ref * D(pp[down]) <= price <= ref * D(pp[up]):
                    return "PERCENT_PRICE_BY_SIDE"
        lot = RAW["LOT_SIZE"]
        if qty <= 0 or qty < D(lot["minQty"]) or qty > D(lot["maxQty"]) or qty % D(lot["stepSize"]):
            return "LOT_SIZE"
        if market and qty > D(RAW["MARKET_LOT_SIZE"]["maxQty"]):
            return "MARKET_LOT_SIZE"
        nf = RAW["NOTIONAL"]
        notional = (ref if market else price) * qty
        if (not market or nf["applyMinToMarket"]) and notional < D(nf["minNotional"]):
            return "NOTIONAL"
        if (not market or nf["applyMaxToMarket"]) and notional > D(nf["maxNotional"]):
            return "NOTIONAL"
        return None


def scaled(low: int, high: int, places: int):
    """Mostly on the grid of `places` decimals, sometimes a finer (off-grid, over-precise) value."""
    return st.one_of(
        st.builds(lambda n: D(n).scaleb(-places), st.integers(low, high)),
        st.builds(lambda n, p: D(n).scaleb(-p), st.integers(low, high * 10**3), st.integers(places, places + 4)),
    )


@PROPERTY
@given(
    st.sampled_from(list(WireSide)),
    st.sampled_from([OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET]),
    scaled(0, 150_000_000, 2),                     # price up to 1.5 M (above maxPrice)
    scaled(0, 1_000_000, 5),                       # qty up to 10 (off grid and under min included)
    st.one_of(st.none(), st.builds(lambda n: D(n).scaleb(-2), st.integers(1_000_000, 20_000_000))),
)
@example(WireSide.BUY, OrderType.LIMIT, D("91250.00"), D("0.00005"), None)
@example(WireSide.BUY, OrderType.MARKET, D(0), D("84"), D("91250"))
def test_check_agrees_with_direct_decimal_computation(side, order_type, price, qty, ref):
    if order_type is OrderType.MARKET and ref is None:
        ref = D("91250.00")
    reject = BTC.check(side, order_type, price, qty, ref)
    expected = reference_check(side, order_type, price, qty, ref)
    event(str(expected))
    assert (None if reject is None else str(reject.filter_name)) == expected

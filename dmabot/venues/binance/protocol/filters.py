"""Symbol trading rules from ``GET /api/v3/exchangeInfo``, and exact grid arithmetic.

`parse_exchange_info` turns the reply into `ExchangeInfo`: one `SymbolRules` per symbol
(both filter generations: NOTIONAL/PERCENT_PRICE_BY_SIDE and the legacy MIN_NOTIONAL/
PERCENT_PRICE; unknown filter types are ignored) and the ``rateLimits``.

The gateway rounds an order once, just before sending (docs/binance.md, Filters and rounding):

* `SymbolRules.round_price` puts a limit price on the tick grid in the *passive* direction:
  a BUY rounds down, a SELL rounds up. The rounded order is then never more aggressive than
  the price the strategy and risk approved; the cost is at most one tick less edge.
* `SymbolRules.round_qty` rounds a quantity down onto the step grid: never trade more than
  asked (nor more than the balance the caller sized it from).
* `format_decimal` writes the plain string the request carries: no exponent, no trailing zeros.
* `SymbolRules.check` says what the exchange would reject, naming the filter as Binance does.

All arithmetic is on integers scaled to a common decimal exponent, so it is exact for any
input. A float input is read through its shortest repr (``0.29`` is ``Decimal("0.29")``, not
``0.28999999999999998``): that is the value the hot path meant, and rounding its binary
expansion instead would move it down a whole tick/step when it sits on the grid.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow
from typing import Any

from dmabot.venues.binance.protocol.wire import FieldReader, OrderType, RateLimit, WireSide, parse_rate_limits

Number = Decimal | str | int | float

# Products of exchange values (notional, price bands) are exact at this precision; the
# Inexact trap turns any rounding into an error rather than a silently wrong comparison.
_EXACT = Context(prec=200, traps=[Inexact, InvalidOperation, Overflow, DivisionByZero])
_LIMIT_TYPES = frozenset({OrderType.LIMIT, OrderType.LIMIT_MAKER})


class FilterName(enum.StrEnum):
    """The filter an order fails, spelled as in Binance's ``-1013 "Filter failure: X"``."""

    PRICE_FILTER = "PRICE_FILTER"
    PERCENT_PRICE = "PERCENT_PRICE"
    PERCENT_PRICE_BY_SIDE = "PERCENT_PRICE_BY_SIDE"
    LOT_SIZE = "LOT_SIZE"
    MARKET_LOT_SIZE = "MARKET_LOT_SIZE"
    MIN_NOTIONAL = "MIN_NOTIONAL"
    NOTIONAL = "NOTIONAL"
    # Not a filter: more decimals than the asset precision, which Binance answers with -1111.
    PRECISION = "PRECISION"


@dataclass(frozen=True, slots=True)
class FilterReject:
    """Why an order would be rejected: the filter's name and a human-readable reason."""

    filter_name: FilterName
    reason: str
    param: str  # "price" or "quantity": the parameter the exchange would complain about

    @property
    def code(self) -> int:
        return -1111 if self.filter_name is FilterName.PRECISION else -1013

    @property
    def exchange_msg(self) -> str:
        """The ``msg`` Binance sends for the same rejection."""
        if self.filter_name is FilterName.PRECISION:
            return f"Parameter '{self.param}' has too much precision."
        return f"Filter failure: {self.filter_name}"


class UnknownSymbol(LookupError):
    """A symbol that exchangeInfo did not list (what Binance answers with -1121)."""

    code = -1121

    def __init__(self, symbol: str, known: tuple[str, ...] = ()) -> None:
        listed = f" (listed: {', '.join(known)})" if known and len(known) <= 20 else ""
        super().__init__(f"unknown symbol {symbol!r}: not in exchangeInfo{listed}")
        self.symbol = symbol


@dataclass(frozen=True, slots=True)
class PriceFilter:
    """PRICE_FILTER; a zero disables that part (no minimum, no maximum, no tick)."""

    min_price: Decimal
    max_price: Decimal
    tick_size: Decimal


@dataclass(frozen=True, slots=True)
class LotSize:
    """LOT_SIZE or MARKET_LOT_SIZE; a zero max or step disables that part."""

    name: FilterName
    min_qty: Decimal
    max_qty: Decimal
    step_size: Decimal


@dataclass(frozen=True, slots=True)
class NotionalFilter:
    """NOTIONAL, or legacy MIN_NOTIONAL (``applyToMarket`` -> `apply_min_to_market`, no max)."""

    name: FilterName
    min_notional: Decimal
    apply_min_to_market: bool
    max_notional: Decimal | None
    apply_max_to_market: bool
    avg_price_mins: int | None


@dataclass(frozen=True, slots=True)
class PercentPriceFilter:
    """PERCENT_PRICE_BY_SIDE, or legacy PERCENT_PRICE (same multipliers for both sides)."""

    name: FilterName
    bid_multiplier_up: Decimal
    bid_multiplier_down: Decimal
    ask_multiplier_up: Decimal
    ask_multiplier_down: Decimal
    avg_price_mins: int | None

    def band(self, side: WireSide, reference: Decimal) -> tuple[Decimal, Decimal]:
        """The allowed (low, high) limit price around `reference` for `side`."""
        down, up = (
            (self.bid_multiplier_down, self.bid_multiplier_up)
            if side is WireSide.BUY
            else (self.ask_multiplier_down, self.ask_multiplier_up)
        )
        return _EXACT.multiply(reference, down), _EXACT.multiply(reference, up)


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """The trading rules of one symbol; filters the symbol does not have are None."""

    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    base_asset_precision: int
    quote_asset_precision: int
    order_types: frozenset[str]
    price_filter: PriceFilter | None = None
    lot_size: LotSize | None = None
    market_lot_size: LotSize | None = None
    notional: NotionalFilter | None = None
    min_notional: NotionalFilter | None = None
    percent_price_by_side: PercentPriceFilter | None = None
    percent_price: PercentPriceFilter | None = None
    max_num_orders: int | None = None

    @property
    def is_trading(self) -> bool:
        """Only a ``TRADING`` symbol accepts new orders."""
        return self.status == "TRADING"

    @property
    def price_grid(self) -> Decimal:
        """The tick size, or the quote precision's unit when PRICE_FILTER has no tick."""
        tick = self.price_filter.tick_size if self.price_filter else Decimal(0)
        return tick if tick > 0 else Decimal(1).scaleb(-self.quote_asset_precision)

    @property
    def qty_grid(self) -> Decimal:
        """The LOT_SIZE step, or the base precision's unit when there is none."""
        step = self.lot_size.step_size if self.lot_size else Decimal(0)
        return step if step > 0 else Decimal(1).scaleb(-self.base_asset_precision)

    def round_price(self, side: WireSide | str | int, price: Number) -> Decimal:
        """`price` on the tick grid: BUY rounds down, SELL rounds up (never more aggressive)."""
        px = to_decimal(price)
        if px < 0:
            raise ValueError(f"{self.symbol}: negative price {px}")
        if coerce_side(side) is WireSide.BUY:
            return floor_to_grid(px, self.price_grid)
        return ceil_to_grid(px, self.price_grid)

    def round_qty(self, qty: Number) -> Decimal:
        """`qty` rounded down onto the LOT_SIZE step grid (may give 0: check() rejects that).

        MARKET_LOT_SIZE has its own step only in theory (0 on every live symbol);
        `check` reports a MARKET order off that grid.
        """
        q = to_decimal(qty)
        if q < 0:
            raise ValueError(f"{self.symbol}: negative quantity {q}")
        return floor_to_grid(q, self.qty_grid)

    def check(
        self,
        side: WireSide | str | int,
        order_type: OrderType | str,
        price: Number | None,
        qty: Number,
        reference_price: Number | None,
    ) -> FilterReject | None:
        """None if the exchange's filters accept the order, else the first filter it fails.

        LIMIT and LIMIT_MAKER need `price`; MARKET ignores it and takes its notional from
        `reference_price` (e.g. the mid or the far touch, with a margin). `reference_price`
        is also the centre of the PERCENT_PRICE(_BY_SIDE) band; None skips that band (the
        exchange uses its own average/reference price, which only it knows exactly).
        """
        side = coerce_side(side)
        order_type = OrderType(order_type)
        q = to_decimal(qty)
        ref = None if reference_price is None else to_decimal(reference_price)
        if ref is not None and ref <= 0:
            raise ValueError(f"reference_price must be positive, got {ref}")
        if order_type is OrderType.MARKET:
            px = None
        elif order_type in _LIMIT_TYPES:
            if price is None:
                raise ValueError(f"a {order_type} order needs a price")
            px = to_decimal(price)
        else:
            raise ValueError(f"check() covers LIMIT, LIMIT_MAKER and MARKET, not {order_type}")
        return (
            self._check_precision(px, q)
            or self._check_price(side, px, ref)
            or self._check_qty(order_type, q)
            or self._check_notional(order_type, px, q, ref)
        )

    def _check_precision(self, px: Decimal | None, q: Decimal) -> FilterReject | None:
        for param, x, places in (("price", px, self.quote_asset_precision), ("quantity", q, self.base_asset_precision)):
            if x is not None and _decimals(x) > places:
                return FilterReject(FilterName.PRECISION, f"{param} {_fmt(x)} has more than {places} decimals", param)
        return None

    def _check_price(self, side: WireSide, px: Decimal | None, ref: Decimal | None) -> FilterReject | None:
        if px is None:
            return None
        pf = self.price_filter
        if pf is not None:
            reject = _check_range(FilterName.PRICE_FILTER, "price", px, pf.min_price, pf.max_price, pf.tick_size)
            if reject:
                return reject
        elif px <= 0:
            return FilterReject(FilterName.PRICE_FILTER, f"price {_fmt(px)} is not positive", "price")
        for band in (self.percent_price_by_side, self.percent_price):
            if band is not None and ref is not None:
                low, high = band.band(side, ref)
                if not low <= px <= high:
                    text = f"{side} price {_fmt(px)} outside [{_fmt(low)}, {_fmt(high)}] around reference {_fmt(ref)}"
                    return FilterReject(band.name, text, "price")
        return None

    def _check_qty(self, order_type: OrderType, q: Decimal) -> FilterReject | None:
        lots = [self.lot_size, self.market_lot_size if order_type is OrderType.MARKET else None]
        for lot in lots:
            if lot is not None:
                reject = _check_range(lot.name, "quantity", q, lot.min_qty, lot.max_qty, lot.step_size)
                if reject:
                    return reject
        if q <= 0:
            return FilterReject(FilterName.LOT_SIZE, f"quantity {_fmt(q)} is not positive", "quantity")
        return None

    def _check_notional(
        self, order_type: OrderType, px: Decimal | None, q: Decimal, ref: Decimal | None
    ) -> FilterReject | None:
        market = order_type is OrderType.MARKET
        for nf in (self.notional, self.min_notional):
            if nf is None:
                continue
            check_min = nf.apply_min_to_market or not market
            check_max = nf.max_notional is not None and nf.max_notional > 0 and (nf.apply_max_to_market or not market)
            if not (check_min or check_max):
                continue
            basis = ref if market else px
            if basis is None:
                raise ValueError(f"{self.symbol}: a MARKET order needs reference_price to check {nf.name}")
            value = _EXACT.multiply(basis, q)
            # Binance names no parameter for a notional failure; "quantity" is what to change.
            if check_min and value < nf.min_notional:
                text = f"notional {_fmt(value)} below minNotional {_fmt(nf.min_notional)}"
                return FilterReject(nf.name, text, "quantity")
            if check_max and nf.max_notional is not None and value > nf.max_notional:
                text = f"notional {_fmt(value)} above maxNotional {_fmt(nf.max_notional)}"
                return FilterReject(nf.name, text, "quantity")
        return None


@dataclass(frozen=True, slots=True)
class ExchangeInfo:
    """Parsed exchangeInfo: rules per symbol and the rate limits."""

    server_time: int | None
    rate_limits: tuple[RateLimit, ...]
    symbols: Mapping[str, SymbolRules]

    def rules(self, symbol: str) -> SymbolRules:
        """The rules of `symbol`; raises `UnknownSymbol` naming it if it was not listed."""
        try:
            return self.symbols[symbol]
        except KeyError:
            raise UnknownSymbol(symbol, tuple(self.symbols)) from None

    __getitem__ = rules


# --- grid arithmetic ----------------------------------------------------------------------


def to_decimal(value: Number) -> Decimal:
    """An exact Decimal of a finite number; a float is read through its shortest repr."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise TypeError("expected a number, got bool")
    elif isinstance(value, int | str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise ValueError(f"not a decimal number: {value!r}") from None
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        raise TypeError(f"expected Decimal, str, int or float, got {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return result


def floor_to_grid(x: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of `step` that is <= `x` (exact, written at `step`'s exponent)."""
    k, s, _ = _scaled(x, step)
    return _multiple(k // s, step)


def ceil_to_grid(x: Decimal, step: Decimal) -> Decimal:
    """The smallest multiple of `step` that is >= `x` (exact, written at `step`'s exponent)."""
    k, s, _ = _scaled(x, step)
    return _multiple(-((-k) // s), step)


def on_grid(x: Decimal, step: Decimal) -> bool:
    """True if `x` is an exact multiple of `step`."""
    k, s, _ = _scaled(x, step)
    return k % s == 0


def format_decimal(x: Decimal) -> str:
    """The request text of `x`: plain digits, no exponent, no trailing zeros (``"0.0012"``)."""
    if not x.is_finite():
        raise ValueError(f"not a finite number: {x}")
    if x.is_zero():
        return "0"  # not "0E-8" nor "-0"
    return format(x.normalize(_EXACT), "f")


def _scaled(x: Decimal, step: Decimal) -> tuple[int, int, int]:
    """`x` and `step` as integers at their common (smallest) exponent, and that exponent."""
    if not (x.is_finite() and step.is_finite()) or step <= 0:
        raise ValueError(f"need a finite value and a positive step, got {x} and {step}")
    nx, ex = _int_exp(x)
    ns, es = _int_exp(step)
    e = min(ex, es)
    return nx * 10 ** (ex - e), ns * 10 ** (es - e), e


def _int_exp(x: Decimal) -> tuple[int, int]:
    sign, digits, exp = x.as_tuple()
    n = int("".join(map(str, digits)))
    return (-n if sign else n), int(exp)


def _multiple(n: int, step: Decimal) -> Decimal:
    """n * step, exactly: from a string, so no context precision applies."""
    ns, es = _int_exp(step)
    return Decimal(f"{n * ns}E{es}")


def _decimals(x: Decimal) -> int:
    """Significant decimal places: 0.01000000 has 2, 100 has 0."""
    exp = int(x.normalize(_EXACT).as_tuple().exponent) if not x.is_zero() else 0
    return max(0, -exp)


def _fmt(x: Decimal) -> str:
    return format_decimal(x)


def _check_range(
    name: FilterName, param: str, x: Decimal, low: Decimal, high: Decimal, step: Decimal
) -> FilterReject | None:
    """min <= x <= max and x on the grid; a zero min, max or step disables that part."""
    # Reasons use the exchangeInfo field names, so a reader can find the number in the reply.
    price = param == "price"
    low_name, high_name, step_name = ("minPrice", "maxPrice", "tickSize") if price else ("minQty", "maxQty", "stepSize")
    if x <= 0:
        return FilterReject(name, f"{param} {_fmt(x)} is not positive", param)
    if low > 0 and x < low:
        return FilterReject(name, f"{param} {_fmt(x)} below {low_name} {_fmt(low)}", param)
    if high > 0 and x > high:
        return FilterReject(name, f"{param} {_fmt(x)} above {high_name} {_fmt(high)}", param)
    if step > 0 and not on_grid(x, step):
        return FilterReject(name, f"{param} {_fmt(x)} not a multiple of {step_name} {_fmt(step)}", param)
    return None


def coerce_side(side: WireSide | str | int) -> WireSide:
    """`WireSide` from itself, ``"BUY"``/``"SELL"``, or the engine's ``+1``/``-1`` (``dmabot.core.types.Side``)."""
    if isinstance(side, WireSide):
        return side
    if isinstance(side, int) and not isinstance(side, bool):
        if side in (1, -1):
            return WireSide.of(side)
    elif isinstance(side, str):
        try:
            return WireSide(side)
        except ValueError:
            pass
    raise ValueError(f"side must be BUY/SELL (or +1/-1), got {side!r}")


# --- parsing ------------------------------------------------------------------------------


def parse_exchange_info(body: Any) -> ExchangeInfo:
    """``GET /api/v3/exchangeInfo`` reply (current and legacy filter sets)."""
    r = FieldReader(body, "exchangeInfo")
    symbols: dict[str, SymbolRules] = {}
    for item in r.get("symbols"):
        rules = _symbol_rules(item)
        symbols[rules.symbol] = rules
    limits = parse_rate_limits(r.get("rateLimits")) if r.has("rateLimits") else ()
    return ExchangeInfo(r.opt(r.integer, "serverTime"), limits, symbols)


def _symbol_rules(item: Any) -> SymbolRules:
    r = FieldReader(item, "exchangeInfo symbol")
    r.where = f"exchangeInfo symbol {r.text('symbol')}"
    parsed: dict[str, Any] = {}
    filters = r.get("filters")
    if not isinstance(filters, list):
        raise r.fail("filters", "expected a list")
    for f in filters:
        kind = f.get("filterType") if isinstance(f, Mapping) else None
        parser = _FILTER_PARSERS.get(kind)  # type: ignore[arg-type]
        if parser is not None:
            attr, value = parser(FieldReader(f, f"{r.where} filter {kind}"))
            parsed[attr] = value
    # quotePrecision is the older name of quoteAssetPrecision; both are still sent.
    quote_precision = r.integer("quoteAssetPrecision") if r.has("quoteAssetPrecision") else r.integer("quotePrecision")
    return SymbolRules(
        symbol=r.text("symbol"),
        status=r.text("status"),
        base_asset=r.text("baseAsset"),
        quote_asset=r.text("quoteAsset"),
        base_asset_precision=r.integer("baseAssetPrecision"),
        quote_asset_precision=quote_precision,
        order_types=frozenset(r.get("orderTypes")) if r.has("orderTypes") else frozenset(),
        **parsed,
    )


def _price_filter(r: FieldReader) -> tuple[str, PriceFilter]:
    return "price_filter", PriceFilter(r.dec("minPrice"), r.dec("maxPrice"), r.dec("tickSize"))


def _lot_size(r: FieldReader) -> tuple[str, LotSize]:
    return "lot_size", LotSize(FilterName.LOT_SIZE, r.dec("minQty"), r.dec("maxQty"), r.dec("stepSize"))


def _market_lot_size(r: FieldReader) -> tuple[str, LotSize]:
    return "market_lot_size", LotSize(FilterName.MARKET_LOT_SIZE, r.dec("minQty"), r.dec("maxQty"), r.dec("stepSize"))


def _notional(r: FieldReader) -> tuple[str, NotionalFilter]:
    return "notional", NotionalFilter(
        FilterName.NOTIONAL,
        r.dec("minNotional"),
        r.flag("applyMinToMarket"),
        r.opt(r.dec, "maxNotional"),
        r.flag("applyMaxToMarket") if r.has("applyMaxToMarket") else False,
        r.opt(r.integer, "avgPriceMins"),
    )


def _min_notional(r: FieldReader) -> tuple[str, NotionalFilter]:
    minimum, to_market, mins = r.dec("minNotional"), r.flag("applyToMarket"), r.opt(r.integer, "avgPriceMins")
    return "min_notional", NotionalFilter(FilterName.MIN_NOTIONAL, minimum, to_market, None, False, mins)


def _percent_price_by_side(r: FieldReader) -> tuple[str, PercentPriceFilter]:
    return "percent_price_by_side", PercentPriceFilter(
        FilterName.PERCENT_PRICE_BY_SIDE,
        r.dec("bidMultiplierUp"),
        r.dec("bidMultiplierDown"),
        r.dec("askMultiplierUp"),
        r.dec("askMultiplierDown"),
        r.opt(r.integer, "avgPriceMins"),
    )


def _percent_price(r: FieldReader) -> tuple[str, PercentPriceFilter]:
    up, down, mins = r.dec("multiplierUp"), r.dec("multiplierDown"), r.opt(r.integer, "avgPriceMins")
    return "percent_price", PercentPriceFilter(FilterName.PERCENT_PRICE, up, down, up, down, mins)


def _max_num_orders(r: FieldReader) -> tuple[str, int]:
    return "max_num_orders", r.integer("maxNumOrders")


_FILTER_PARSERS = {
    "PRICE_FILTER": _price_filter,
    "LOT_SIZE": _lot_size,
    "MARKET_LOT_SIZE": _market_lot_size,
    "NOTIONAL": _notional,
    "MIN_NOTIONAL": _min_notional,
    "PERCENT_PRICE_BY_SIDE": _percent_price_by_side,
    "PERCENT_PRICE": _percent_price,
    "MAX_NUM_ORDERS": _max_num_orders,
}

"""LimitOrderGrid: a LIMIT order's rounding and exchange filters, on integers.

`dmabot.venues.binance.protocol.filters` defines the answer in exact Decimal arithmetic:
``format_decimal(rules.round_price(side, px))``, ``format_decimal(rules.round_qty(qty))`` and
``rules.check(side, LIMIT, price, qty, reference)``. `LimitOrderGrid.prepare` computes the same
on 64- and 128-bit integers, with all exchange values turned into integers once, at
construction. It answers only what it can prove: the texts when the Decimal path accepts the
order, else None, and also None when a number is beyond its integers: a grid integer (the
price or quantity in units of its grid's last digit) of 2**63 or more, or a text longer than
MAX_TEXT. The caller then runs the Decimal path, which says precisely why. So an accepted
result is always the Decimal path's; a None may, rarely, be an order that path would accept.

A float is read, as `to_decimal` does, through its shortest repr: the decimal with the
fewest significant digits that reads back as the same double.
"""
import math
from decimal import Decimal
from fractions import Fraction

from cpython.conversion cimport PyOS_double_to_string
from cpython.mem cimport PyMem_Free
from libc.math cimport frexp, isfinite, ldexp, llround
from libc.stdint cimport uint64_t

from dmabot.venues.binance.fast.grid cimport MAX_TEXT, U128, Band, DecimalValue, OrderTexts
from dmabot.core.types cimport Side

# Grid integers (a price or quantity in ticks or steps, times the grid coefficient) stay
# below 2**63, so a bound plus one still fits in 64 bits.
GRID_INTEGER_LIMIT = 2**63
# Exchange values' exponents are within a few of zero; this keeps exponent sums in a C int.
MAX_EXPONENT = 1000

cdef uint64_t _UINT64_MAX = 0xFFFFFFFFFFFFFFFFULL
cdef uint64_t _LOW32 = 0xFFFFFFFFULL
cdef uint64_t _TEN_TO_15 = 1000000000000000ULL

# 10**0 .. 10**22: each an exact double (5**22 < 2**53).
cdef double _POW10[23]
# 10**0 .. 10**19: each fits 64 bits.
cdef uint64_t _POW10_U64[20]
_POW10[0] = 1.0
_POW10_U64[0] = 1
for _i in range(1, 23):
    _POW10[_i] = _POW10[_i - 1] * 10.0
for _i in range(1, 20):
    _POW10_U64[_i] = _POW10_U64[_i - 1] * 10
del _i


# --- 128-bit arithmetic -------------------------------------------------------------------

cdef inline U128 _mul(uint64_t a, uint64_t b) noexcept nogil:
    # Schoolbook on 32-bit halves: portable C (MSVC has no unsigned __int128).
    cdef uint64_t a0 = a & _LOW32, a1 = a >> 32, b0 = b & _LOW32, b1 = b >> 32
    cdef uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1
    cdef uint64_t middle = (p00 >> 32) + (p01 & _LOW32) + (p10 & _LOW32)   # < 2**34
    cdef U128 product
    product.hi = p11 + (p01 >> 32) + (p10 >> 32) + (middle >> 32)
    product.lo = (middle << 32) | (p00 & _LOW32)
    return product


cdef inline bint _scale(U128* x, uint64_t factor) noexcept nogil:
    # x *= factor; False (x then meaningless) when the product needs more than 128 bits.
    cdef U128 low = _mul(x.lo, factor)
    cdef U128 high = _mul(x.hi, factor)
    if high.hi != 0:
        return False
    x.hi = low.hi + high.lo
    x.lo = low.lo
    return x.hi >= high.lo                  # no carry out of the top word


cdef inline U128 _shift_right(U128 x, int shift, bint* inexact) noexcept nogil:
    # floor(x / 2**shift) for shift > 0; *inexact when a 1 bit was shifted out.
    cdef U128 result
    if shift >= 128:
        inexact[0] = x.hi != 0 or x.lo != 0
        result.hi = result.lo = 0
    elif shift >= 64:
        inexact[0] = x.lo != 0 or (shift > 64 and (x.hi << (128 - shift)) != 0)
        result.hi = 0
        result.lo = x.hi >> (shift - 64)
    else:
        inexact[0] = (x.lo << (64 - shift)) != 0
        result.hi = x.hi >> shift
        result.lo = (x.lo >> shift) | (x.hi << (64 - shift))
    return result


cdef inline int _cmp(U128 a, U128 b) noexcept nogil:
    if a.hi != b.hi:
        return 1 if a.hi > b.hi else -1
    if a.lo != b.lo:
        return 1 if a.lo > b.lo else -1
    return 0


cdef int _cmp_scaled(U128 a, int a_exp, U128 b, int b_exp) noexcept nogil:
    # Sign of a * 10**a_exp - b * 10**b_exp, exactly: the side with the larger exponent is
    # brought down to the other's; if it passes 2**128 it is the larger one.
    cdef int step
    while a_exp > b_exp:
        step = min(a_exp - b_exp, 19)
        if not _scale(&a, _POW10_U64[step]):
            return 1
        a_exp -= step
    while b_exp > a_exp:
        step = min(b_exp - a_exp, 19)
        if not _scale(&b, _POW10_U64[step]):
            return -1
        b_exp -= step
    return _cmp(a, b)


# --- reading a float as its shortest repr -------------------------------------------------

cdef bint _read_short_float(double x, DecimalValue* out) noexcept nogil:
    # x > 0. If some decimal D of at most 15 significant digits reads back as x, D is x's
    # shortest repr: two different decimals of <= 15 digits never round to the same double
    # (DBL_DIG is 15), and the shortest repr is one of them. Scale x by 10**p to 15 integer
    # digits (p <= 22), where D * 10**p is an integer if D exists (x < 1e15, at most 22
    # decimals), and round: the scaling errs by < 0.25, so n = D * 10**p. Then check
    # n / 10**p == x. Both operands are exact doubles (n < 2**53, p <= 22), so that one
    # division rounds correctly (Clinger's fast path), as reading D would.
    cdef int p = 0
    while p < 22 and x * _POW10[p + 1] < 1e15:
        p += 1
    cdef double scaled = x * _POW10[p]
    if scaled >= 1e15:
        return False
    cdef uint64_t n = <uint64_t>llround(scaled)
    if n == 0 or <double>n / _POW10[p] != x:
        return False
    out.coefficient = n
    out.exponent = -p
    return True


cdef bint _parse_repr(const char* s, DecimalValue* out) noexcept nogil:
    # repr's forms: "91250.01", "1e-05", "1.2345e+16". At most 17 significant digits.
    cdef uint64_t coefficient = 0
    cdef int exponent = 0
    cdef int digits = 0
    cdef int e_value = 0
    cdef bint e_negative = False
    cdef bint after_point = False
    while s[0] != 0 and s[0] != c'e':
        if s[0] == c'.':
            after_point = True
        elif c'0' <= s[0] <= c'9':
            if coefficient != 0 or s[0] != c'0':
                digits += 1
                if digits > 19:
                    return False
            coefficient = coefficient * 10 + (s[0] - c'0')
            if after_point:
                exponent -= 1
        else:
            return False
        s += 1
    if s[0] == c'e':
        s += 1
        if s[0] == c'-' or s[0] == c'+':
            e_negative = s[0] == c'-'
            s += 1
        while c'0' <= s[0] <= c'9' and e_value < 10000:
            e_value = e_value * 10 + (s[0] - c'0')
            s += 1
        if s[0] != 0:
            return False
        exponent += -e_value if e_negative else e_value
    out.coefficient = coefficient
    out.exponent = exponent
    return True


cdef int _read_repr(double x, DecimalValue* out) except -1:
    # Any finite x > 0, through CPython's dtoa (the repr of float noise such as 0.1 + 0.2
    # has 16 or 17 digits).
    cdef char* text = PyOS_double_to_string(x, b'r', 0, 0, NULL)
    try:
        return _parse_repr(text, out)
    finally:
        PyMem_Free(text)


cdef int _read_float(double x, DecimalValue* out) except -1:
    # 1 and *out = x's shortest repr if x is positive and finite, else 0.
    if not (x > 0 and isfinite(x)):
        return 0
    return _read_short_float(x, out) or _read_repr(x, out)


# --- grid and text ----------------------------------------------------------------------

cdef bint _to_grid(DecimalValue x, uint64_t grid, int grid_exp, bint up,
                   uint64_t* index) noexcept nogil:
    # *index = floor (ceil if up) of x / (grid * 10**grid_exp); False when the quotient
    # may not fit 64 bits.
    cdef int shift = x.exponent - grid_exp
    cdef uint64_t numerator = x.coefficient
    cdef uint64_t denominator = grid
    if shift >= 0:
        if shift > 19 or numerator > _UINT64_MAX / _POW10_U64[shift]:
            return False
        numerator *= _POW10_U64[shift]
    elif -shift > 19 or denominator > _UINT64_MAX / _POW10_U64[-shift]:
        # The denominator passes 2**64 > the coefficient: 0 < x / grid < 1.
        index[0] = 1 if up else 0
        return True
    else:
        denominator *= _POW10_U64[-shift]
    index[0] = numerator / denominator
    if up and numerator % denominator != 0:
        index[0] += 1
    return True


cdef bint _binary_to_grid(double x, uint64_t grid, int grid_exp, bint up,
                          uint64_t* index) noexcept nogil:
    # For an x > 0 that _read_short_float could not read: *index = floor (ceil if up) of
    # x / (grid * 10**grid_exp), computed on x's binary value. That is also the quotient of
    # x's shortest repr D unless a grid point G lies between x and D. Such a G reads back as
    # x (all between x and D does), so _read_short_float would have found it if it is below
    # 1e15 with at most 15 significant digits and 22 decimals: the checks below make sure
    # the grid points on either side of the answer are. False when they may not be, or when
    # the quotient passes 64 bits.
    if not x < 1e15 or grid_exp < -19:
        return False
    cdef int binary_exp
    cdef uint64_t significand = <uint64_t>ldexp(frexp(x, &binary_exp), 53)
    cdef int shift = 53 - binary_exp            # x = significand / 2**shift; shift > 0 as x < 2**50
    cdef uint64_t divisor = grid
    cdef U128 numerator
    cdef bint inexact
    if grid_exp <= 0:
        numerator = _mul(significand, _POW10_U64[-grid_exp])
    elif grid_exp > 19 or grid > _UINT64_MAX / _POW10_U64[grid_exp]:
        return False
    else:
        numerator.hi = 0
        numerator.lo = significand
        divisor *= _POW10_U64[grid_exp]
    # floor(n / (2**shift * divisor)) = floor(floor(n / 2**shift) / divisor), and the quotient
    # is exact only if both steps are.
    numerator = _shift_right(numerator, shift, &inexact)
    if numerator.hi != 0:
        return False
    index[0] = numerator.lo / divisor
    if up and (inexact or numerator.lo % divisor != 0):
        index[0] += 1
    # The grid points on either side, (index + 1) * grid and below, under 10**15.
    return index[0] < (_TEN_TO_15 - 1) / grid


cdef int _round_to_grid(double x, uint64_t grid, int grid_exp, bint up,
                        uint64_t* index) except -1:
    # round_price / round_qty: 1 and *index = floor (ceil if up) of x's shortest repr over
    # grid * 10**grid_exp. 0 if x is not positive and finite (the Decimal path raises, or
    # rejects a zero) or the quotient may pass 64 bits.
    cdef DecimalValue value
    if not (x > 0 and isfinite(x)):
        return 0
    if _read_short_float(x, &value):
        return _to_grid(value, grid, grid_exp, up, index)
    if _binary_to_grid(x, grid, grid_exp, up, index):
        return 1
    return _read_repr(x, &value) and _to_grid(value, grid, grid_exp, up, index)


cdef Py_ssize_t _format(uint64_t coefficient, int exponent, char* out,
                        int* decimals) noexcept nogil:
    # coefficient * 10**exponent (coefficient > 0) written as format_decimal does: plain
    # digits, no exponent, no trailing zeros after the point. Returns the length, or -1 if
    # longer than MAX_TEXT; *decimals = digits after the point (what PRECISION counts).
    cdef char digits[20]        # least significant first
    cdef Py_ssize_t n = 0
    cdef Py_ssize_t i
    cdef Py_ssize_t length
    cdef Py_ssize_t n_frac
    while exponent < 0 and coefficient % 10 == 0:
        coefficient //= 10
        exponent += 1
    while coefficient != 0:
        digits[n] = c'0' + <char>(coefficient % 10)
        coefficient //= 10
        n += 1
    if exponent >= 0:
        length = n + exponent
        if length > MAX_TEXT:
            return -1
        for i in range(n):
            out[i] = digits[n - 1 - i]
        for i in range(n, length):
            out[i] = c'0'
        decimals[0] = 0
        return length
    n_frac = -exponent
    if n > n_frac:                          # "91250.01"
        length = n + 1
        if length > MAX_TEXT:
            return -1
        for i in range(n - n_frac):
            out[i] = digits[n - 1 - i]
        out[n - n_frac] = c'.'
        for i in range(n - n_frac, n):
            out[i + 1] = digits[n - 1 - i]
    else:                                   # "0.0012"
        length = 2 + n_frac
        if length > MAX_TEXT:
            return -1
        out[0] = c'0'
        out[1] = c'.'
        for i in range(n_frac - n):
            out[2 + i] = c'0'
        for i in range(n):
            out[length - 1 - i] = digits[i]
    decimals[0] = <int>n_frac
    return length


# --- construction (Python: exact Decimal and Fraction arithmetic, once per symbol) -------

def _coefficient_exponent(value, what):
    """A Decimal >= 0 as (coefficient, exponent), trailing zeros moved into the exponent.

    Raises ValueError past what the C fields hold (a coefficient of 2**64 or more, an
    exponent beyond +-MAX_EXPONENT); exchange values come nowhere near.
    """
    if not value.is_finite() or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value}")
    if value == 0:
        return 0, 0
    _, digits, exponent = value.as_tuple()
    coefficient = int("".join(map(str, digits)))
    while coefficient % 10 == 0:
        coefficient //= 10
        exponent += 1
    if coefficient > _UINT64_MAX or not -MAX_EXPONENT <= exponent <= MAX_EXPONENT:
        raise ValueError(f"{what} {value} is beyond LimitOrderGrid's integers: use the Decimal path")
    return coefficient, exponent


def _index_range(low, high, grid, coefficient):
    """(first, last) grid index n with low <= n * grid <= high and n >= 1 (a price or
    quantity must be positive); a zero bound is no bound. Capped so that n * coefficient
    stays below GRID_INTEGER_LIMIT."""
    grid = Fraction(grid)
    first = max(1, math.ceil(Fraction(low) / grid))
    last = (GRID_INTEGER_LIMIT - 1) // coefficient
    if high > 0:
        last = min(last, math.floor(Fraction(high) / grid))
    # Past the cap nothing is accepted anyway; keep first > last, in 64 bits.
    return min(first, last + 1), last


cdef U128 _u128(value):
    value = min(max(value, 0), 2**128 - 1)
    cdef U128 result
    result.hi = value >> 64
    result.lo = value & _UINT64_MAX
    return result


cdef DecimalValue _decimal_value(value, what):
    cdef DecimalValue result
    result.coefficient, result.exponent = _coefficient_exponent(value, what)
    return result


cdef Band _merged_band(rules, bint buy):
    # A price must pass every band present; with a positive reference the tightest band is
    # the largest down multiplier and the smallest up one. A negative multiplier puts its
    # bound below every positive price, exactly as zero does.
    filters = [f for f in (rules.percent_price_by_side, rules.percent_price) if f is not None]
    downs = [f.bid_multiplier_down if buy else f.ask_multiplier_down for f in filters]
    ups = [f.bid_multiplier_up if buy else f.ask_multiplier_up for f in filters]
    cdef Band band
    band.active = bool(filters)
    zero = Decimal(0)
    band.down = _decimal_value(max(max(downs, default=zero), zero), f"{rules.symbol} multiplierDown")
    band.up = _decimal_value(max(min(ups, default=zero), zero), f"{rules.symbol} multiplierUp")
    return band


# --- the class ------------------------------------------------------------------------------

cdef class LimitOrderGrid:

    # __cinit__, not __init__: no instance can skip it and divide by a zero grid.
    def __cinit__(self, rules):
        """Take `rules` (a `dmabot.venues.binance.protocol.filters.SymbolRules`) apart into integers.

        Raises ValueError for a grid or multiplier whose coefficient reaches 2**64 or whose
        exponent is beyond +-1000, which no exchange sends: such a symbol keeps the Decimal
        path.
        """
        self.symbol = rules.symbol
        self._tick, self._tick_exp = _coefficient_exponent(rules.price_grid, f"{rules.symbol} price grid")
        self._step, self._step_exp = _coefficient_exponent(rules.qty_grid, f"{rules.symbol} quantity grid")

        pf = rules.price_filter
        low, high = (pf.min_price, pf.max_price) if pf is not None else (0, 0)
        self._min_ticks, self._max_ticks = _index_range(low, high, rules.price_grid, self._tick)
        lot = rules.lot_size
        low, high = (lot.min_qty, lot.max_qty) if lot is not None else (0, 0)
        self._min_steps, self._max_steps = _index_range(low, high, rules.qty_grid, self._step)
        # The rounded price and quantity lie on their grids: tickSize and stepSize hold.

        self._price_decimals = rules.quote_asset_precision
        self._qty_decimals = rules.base_asset_precision

        # A LIMIT order meets every minNotional, and every maxNotional that is > 0.
        unit = Fraction(10) ** (self._tick_exp + self._step_exp)
        filters = [f for f in (rules.notional, rules.min_notional) if f is not None]
        minimums = [f.min_notional for f in filters]
        maximums = [f.max_notional for f in filters if f.max_notional is not None and f.max_notional > 0]
        # Coefficient products stay below 2**126, so clamping the bounds to 128 bits is exact.
        self._min_notional = _u128(math.ceil(Fraction(max(minimums)) / unit) if minimums else 0)
        self._max_notional = _u128(math.floor(Fraction(min(maximums)) / unit) if maximums else 2**128)

        self._buy_band = _merged_band(rules, True)
        self._sell_band = _merged_band(rules, False)

    cdef int prepare_c(self, int side, double px, double qty, double reference,
                       bint has_reference, OrderTexts* out) except -1:
        cdef DecimalValue ref_value
        cdef uint64_t ticks, steps, price, quantity
        cdef int decimals
        cdef const Band* band
        cdef U128 price_128, notional
        if side != Side.BUY and side != Side.SELL:
            return 0
        # round_price (BUY down, SELL up) and round_qty (down).
        if not (_round_to_grid(px, self._tick, self._tick_exp, side == Side.SELL, &ticks)
                and _round_to_grid(qty, self._step, self._step_exp, False, &steps)):
            return 0
        # PRICE_FILTER and LOT_SIZE ranges; their grids hold by construction.
        if not (self._min_ticks <= ticks <= self._max_ticks
                and self._min_steps <= steps <= self._max_steps):
            return 0
        price = ticks * self._tick              # < 2**63: the ranges are capped so
        quantity = steps * self._step
        # PRECISION: counted on the texts, which carry no trailing zeros.
        out.price_len = _format(price, self._tick_exp, out.price, &decimals)
        if out.price_len < 0 or decimals > self._price_decimals:
            return 0
        out.qty_len = _format(quantity, self._step_exp, out.qty, &decimals)
        if out.qty_len < 0 or decimals > self._qty_decimals:
            return 0
        # NOTIONAL and MIN_NOTIONAL: price * quantity, in units of 10**(tick_exp + step_exp).
        notional = _mul(price, quantity)
        if _cmp(notional, self._min_notional) < 0 or _cmp(notional, self._max_notional) > 0:
            return 0
        if not has_reference:
            return 1
        # check() raises for a reference that is not a positive finite number, band or not.
        if not _read_float(reference, &ref_value):
            return 0
        band = &self._buy_band if side == Side.BUY else &self._sell_band
        if not band.active:
            return 1
        # PERCENT_PRICE_BY_SIDE and PERCENT_PRICE: reference * down <= price <= reference * up.
        price_128.hi = 0
        price_128.lo = price
        if _cmp_scaled(_mul(ref_value.coefficient, band.down.coefficient),
                       ref_value.exponent + band.down.exponent, price_128, self._tick_exp) > 0:
            return 0
        if _cmp_scaled(price_128, self._tick_exp, _mul(ref_value.coefficient, band.up.coefficient),
                       ref_value.exponent + band.up.exponent) > 0:
            return 0
        return 1

    def prepare(self, int side, double px, double qty, reference=None):
        """``(price_text, qty_text)`` of a LIMIT order, or None.

        `side` is +1 (BUY: price rounded down) or -1 (SELL: price rounded up); the quantity
        is rounded down. The texts are ``format_decimal(rules.round_price(side, px))`` and
        ``format_decimal(rules.round_qty(qty))`` when ``rules.check(side, LIMIT, price, qty,
        reference)`` accepts the rounded order; `reference` (a float or None, as for check)
        centres the percent-price bands. None when the order fails a filter, when the
        Decimal path would raise (a side other than +-1; a negative, NaN or infinite value;
        a reference <= 0), or when a number is beyond the fast path: run the Decimal path
        then, for the reason.
        """
        cdef OrderTexts texts
        cdef bint has_reference = reference is not None
        if not self.prepare_c(side, px, qty, reference if has_reference else 0.0, has_reference, &texts):
            return None
        return texts.price[:texts.price_len].decode("ascii"), texts.qty[:texts.qty_len].decode("ascii")

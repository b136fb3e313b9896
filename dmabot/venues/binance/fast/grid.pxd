# A symbol's LIMIT-order rounding and exchange filters on integers: the order hot path's fast
# copy of dmabot.venues.binance.protocol.filters (SymbolRules.round_price, round_qty, check).
from libc.stdint cimport uint64_t


cdef enum:
    # Longest price or quantity text the fast path writes; a longer one (a grid exponent far
    # from zero) is left to the Decimal path.
    MAX_TEXT = 48


# An unsigned 128-bit integer: products of two grid integers, and of a reference price and
# a band multiplier, need up to 128 bits, and C has no portable type for that.
cdef struct U128:
    uint64_t hi
    uint64_t lo


# The exact number coefficient * 10**exponent.
cdef struct DecimalValue:
    uint64_t coefficient
    int exponent


# One side's PERCENT_PRICE_BY_SIDE and PERCENT_PRICE bands merged into one: a limit price
# must lie in [reference * down, reference * up].
cdef struct Band:
    bint active
    DecimalValue down
    DecimalValue up


# The request texts of an accepted order, as format_decimal writes them (not NUL-terminated).
cdef struct OrderTexts:
    char price[MAX_TEXT]
    Py_ssize_t price_len
    char qty[MAX_TEXT]
    Py_ssize_t qty_len


cdef class LimitOrderGrid:
    """One symbol's price and quantity grids and LIMIT-order filters, as integers."""
    cdef readonly str symbol
    # price = ticks * _tick * 10**_tick_exp; accepted when _min_ticks <= ticks <= _max_ticks
    cdef uint64_t _tick
    cdef int _tick_exp
    cdef uint64_t _min_ticks
    cdef uint64_t _max_ticks
    # quantity = steps * _step * 10**_step_exp; accepted when _min_steps <= steps <= _max_steps
    cdef uint64_t _step
    cdef int _step_exp
    cdef uint64_t _min_steps
    cdef uint64_t _max_steps
    # PRECISION: most decimals of the price (quote asset) and quantity (base asset)
    cdef int _price_decimals
    cdef int _qty_decimals
    # NOTIONAL and MIN_NOTIONAL merged, in units of 10**(_tick_exp + _step_exp): the
    # product of the price and quantity coefficients must lie in [_min_notional, _max_notional]
    cdef U128 _min_notional
    cdef U128 _max_notional
    cdef Band _buy_band
    cdef Band _sell_band

    # 1 and *out filled when the Decimal path would accept the order (side +1 BUY, -1 SELL;
    # reference ignored unless has_reference), 0 when that is not proven. Raises only
    # MemoryError.
    cdef int prepare_c(self, int side, double px, double qty, double reference,
                       bint has_reference, OrderTexts* out) except -1

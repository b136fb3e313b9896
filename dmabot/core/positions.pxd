from libc.stdint cimport int32_t, uint64_t


cdef struct Position:
    double qty            # signed: > 0 long, < 0 short
    double avg_px         # average cost of the open quantity; 0 when flat
    double realized       # quote currency, before fees
    double fees           # quote currency
    double bought         # cumulative base quantities, for audit
    double sold
    uint64_t fills


cdef class PositionBook:
    """Positions per (symbol, venue) on average cost, marked to the latest mid."""
    cdef readonly int32_t n_symbols
    cdef readonly int32_t n_venues
    cdef Position* _pos          # n_symbols x n_venues
    cdef double* _mark           # latest mid per symbol

    cdef inline void mark_c(self, int32_t sym, double mid) noexcept nogil:
        self._mark[sym] = mid
    cdef void fill_c(self, int32_t sym, int32_t venue, int32_t side, double px, double qty,
                     double fee) noexcept nogil
    cdef double unrealized_c(self, int32_t sym, int32_t venue) noexcept nogil

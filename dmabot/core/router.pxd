from libc.stdint cimport int32_t

from dmabot.core.types cimport Signal

cdef enum:
    MAX_VENUES = 16


cdef struct RouteLeg:
    int32_t venue
    double qty


cdef class Router:
    """Scores venues by expected cost in bps (price, fee, latency, recent fill rate) and
    splits an order across the `split` best ones."""
    cdef readonly int32_t n_venues
    cdef readonly int32_t n_symbols
    cdef readonly int32_t split
    cdef readonly double qty_step
    cdef readonly double latency_bps_per_ms
    cdef readonly double miss_penalty_bps
    cdef double _fee_bps[MAX_VENUES]
    cdef double _latency_ms[MAX_VENUES]
    cdef double _fill_rate[MAX_VENUES]
    cdef double* _bid            # n_venues x n_symbols, 0 = venue has no book of its own
    cdef double* _ask

    cdef double score_c(self, int32_t venue, const Signal* s) noexcept
    cdef int32_t route_c(self, const Signal* s, RouteLeg* legs) noexcept
    cdef void on_outcome_c(self, int32_t venue, bint filled) noexcept

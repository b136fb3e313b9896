cimport cython
from libc.stdint cimport int32_t, int64_t, uint64_t

from dmabot.core.ring cimport TickRing


@cython.final
cdef class MockFeed:
    """Seeded random walk of the mid per symbol, quoted on a tick grid with a 1-3 tick
    spread and random sizes of roughly `notional` in quote currency per side."""
    cdef readonly int32_t n_symbols
    cdef readonly double tick_size
    cdef readonly double vol
    cdef readonly double notional
    cdef double _scale          # 1 / tick_size, an integer: prices are k / scale exactly
    cdef double* _mid
    cdef uint64_t _rng[4]
    cdef double _spare_normal
    cdef bint _has_spare
    cdef int32_t _next_sym

    cdef uint64_t _next(self) noexcept nogil
    cdef double _uniform(self) noexcept nogil
    cdef double _normal(self) noexcept nogil
    cdef double _size(self, double px) noexcept nogil
    cdef int fill_c(self, TickRing ring, int64_t ts, int n) noexcept

from libc.stdint cimport int32_t, int64_t

from dmabot.core.strategy cimport StrategyWorker


cdef class MeanReversion(StrategyWorker):
    cdef int32_t _window
    cdef double* _mids        # n_symbols x window ring of mids
    cdef double* _sums
    cdef int32_t* _counts
    cdef int32_t* _pos


cdef class MACrossover(StrategyWorker):
    cdef int32_t _fast
    cdef int32_t _slow
    cdef double* _mids        # n_symbols x slow ring
    cdef double* _fast_sums
    cdef double* _slow_sums
    cdef int32_t* _counts
    cdef int32_t* _pos
    cdef int32_t* _regime     # +1 fast above slow by the edge, -1 below, 0 not yet known


cdef class VolBreakout(StrategyWorker):
    cdef int32_t _window
    # Monotonic deques of (tick index, mid) per symbol give the rolling max and min in
    # amortised O(1): each mid enters and leaves each deque once.
    cdef double* _max_vals
    cdef int64_t* _max_idx
    cdef int32_t* _max_head
    cdef int32_t* _max_len
    cdef double* _min_vals
    cdef int64_t* _min_idx
    cdef int32_t* _min_head
    cdef int32_t* _min_len
    cdef int64_t* _seen       # ticks seen per symbol

from libc.stdint cimport int32_t, int64_t, uint64_t

from dmabot.core.types cimport BookTicker, Signal


cdef class StrategyWorker:
    """One worker of one strategy; it owns the per-symbol state of its shard of symbols.

    `on_tick_c` fills `out` and returns 1 when the tick makes it want to trade.
    """
    cdef readonly int32_t kind        # StrategyKind
    cdef readonly int32_t worker
    cdef readonly int32_t n_symbols
    cdef readonly double qty
    cdef readonly double edge         # fraction (edge_bps / 1e4)
    cdef readonly int64_t cooldown_ns
    cdef readonly uint64_t ticks
    cdef readonly uint64_t signals
    cdef int64_t* _last_signal_ts     # per symbol; far in the past before the first signal
    cdef bint _configured                # configured once: __init__ again would leak

    cdef _configure(self, int32_t kind, int32_t worker, double qty, double edge_bps,
                    double cooldown_ms)
    cdef int on_tick_c(self, const BookTicker* t, Signal* out) noexcept
    cdef inline bint _cooled(self, int32_t sym, int64_t ts) noexcept:
        return ts - self._last_signal_ts[sym] >= self.cooldown_ns
    cdef int _emit(self, const BookTicker* t, int32_t side, double ref, Signal* out) noexcept


# calloc of at least one element, raising MemoryError instead of returning NULL
cdef void* alloc_zeroed(size_t n, size_t size) except NULL

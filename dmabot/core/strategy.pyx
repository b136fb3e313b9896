"""The strategy worker base: per-symbol cooldowns, the signal it emits, the Python test API.

A strategy is a subclass that overrides `on_tick_c` (the built-ins are in
`dmabot.strategies.builtin`); the pipeline calls it through the C vtable, once per tick of a
symbol of the worker's shard.
"""
from libc.math cimport isfinite
from libc.stdint cimport INT64_MIN, int32_t, int64_t
from libc.stdlib cimport calloc, free

from dmabot.core.types cimport BookTicker, Signal


# Far beyond any use (about 30 years) and far inside int64 nanoseconds.
cdef double MAX_COOLDOWN_MS = 1e12


cdef void* alloc_zeroed(size_t n, size_t size) except NULL:
    cdef void* p = calloc(n if n > 0 else 1, size)
    if p == NULL:
        raise MemoryError()
    return p


cdef class StrategyWorker:

    def __cinit__(self, int32_t n_symbols, *args, **kwargs):
        if n_symbols < 1:
            raise ValueError("n_symbols must be >= 1")
        self.n_symbols = n_symbols
        self._last_signal_ts = <int64_t*>alloc_zeroed(n_symbols, sizeof(int64_t))
        for i in range(n_symbols):
            self._last_signal_ts[i] = INT64_MIN // 2   # far past, no overflow in ts - last

    def __init__(self, *args, **kwargs):
        raise TypeError("StrategyWorker is the base of MeanReversion, MACrossover and VolBreakout")

    def __dealloc__(self):
        free(self._last_signal_ts)

    cdef _configure(self, int32_t kind, int32_t worker, double qty, double edge_bps,
                    double cooldown_ms):
        if not qty > 0:
            raise ValueError(f"order qty must be > 0, got {qty}")
        if not edge_bps >= 0:
            raise ValueError(f"edge must be >= 0 bps, got {edge_bps}")
        if not (isfinite(cooldown_ms) and 0 <= cooldown_ms <= MAX_COOLDOWN_MS):
            raise ValueError(f"cooldown must be between 0 and {MAX_COOLDOWN_MS:g} ms, got {cooldown_ms}")
        if not isfinite(edge_bps):
            raise ValueError(f"edge must be finite, got {edge_bps}")
        if self._configured:
            raise RuntimeError("strategy worker is already initialised")
        self._configured = True
        self.kind = kind
        self.worker = worker
        self.qty = qty
        self.edge = edge_bps / 1e4
        self.cooldown_ns = <int64_t>(cooldown_ms * 1e6)

    cdef int on_tick_c(self, const BookTicker* t, Signal* out) noexcept:
        return 0

    cdef int _emit(self, const BookTicker* t, int32_t side, double ref, Signal* out) noexcept:
        if not self._cooled(t.sym, t.ts):
            return 0
        self._last_signal_ts[t.sym] = t.ts
        self.signals += 1
        out.ts = t.ts
        out.sym = t.sym
        out.strategy = self.kind
        out.worker = self.worker
        out.side = side
        out.px = t.ask if side == 1 else t.bid
        out.qty = self.qty
        out.ref = ref
        return 1

    def on_tick(self, int64_t ts, int sym, double bid, double bid_qty, double ask, double ask_qty):
        """Python API for tests: (side, px, qty, ref) when the tick fires a signal, else None."""
        if not 0 <= sym < self.n_symbols:
            raise IndexError(f"symbol index {sym} out of range")
        cdef BookTicker t
        cdef Signal s
        t.ts = ts
        t.update_id = 0
        t.sym = sym
        t.bid = bid
        t.bid_qty = bid_qty
        t.ask = ask
        t.ask_qty = ask_qty
        if self.on_tick_c(&t, &s):
            return (s.side, s.px, s.qty, s.ref)
        return None

"""Strategy kernels on O(1) rolling windows of the mid price, one state per symbol.

Every window compares the current tick with the *previous* ticks (the current mid enters
the window after the decision), so a tick is never compared with itself. Rolling sums are
recomputed from their buffer once per lap of the window, so rounding error cannot drift
over a long run while the cost stays O(1) amortised.
"""
from libc.math cimport isfinite
from libc.stdint cimport INT64_MIN, int32_t, int64_t
from libc.stdlib cimport calloc, free

from dmabot.core.types cimport BookTicker, Signal
from dmabot.core.types import StrategyKind


# Far beyond any use (about 30 years) and far inside int64 nanoseconds.
cdef double MAX_COOLDOWN_MS = 1e12


cdef void* _alloc(size_t n, size_t size) except NULL:
    cdef void* p = calloc(n if n > 0 else 1, size)
    if p == NULL:
        raise MemoryError()
    return p


cdef class StrategyWorker:

    def __cinit__(self, int32_t n_symbols, *args, **kwargs):
        if n_symbols < 1:
            raise ValueError("n_symbols must be >= 1")
        self.n_symbols = n_symbols
        self._last_signal_ts = <int64_t*>_alloc(n_symbols, sizeof(int64_t))
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


cdef _check_window(str name, int32_t w):
    if w < 1:
        raise ValueError(f"{name} must be >= 1, got {w}")


cdef class MeanReversion(StrategyWorker):
    """Buy when the ask is below the rolling mean mid by more than the edge; sell when the
    bid is above it by more than the edge."""

    def __init__(self, int32_t n_symbols, int32_t worker=0, double qty=0.001,
                 double edge_bps=5.0, double cooldown_ms=0.0, int32_t window=50):
        _check_window("window", window)
        self._configure(StrategyKind.MEAN_REVERSION, worker, qty, edge_bps, cooldown_ms)
        self._window = window
        self._mids = <double*>_alloc(n_symbols * window, sizeof(double))
        self._sums = <double*>_alloc(n_symbols, sizeof(double))
        self._counts = <int32_t*>_alloc(n_symbols, sizeof(int32_t))
        self._pos = <int32_t*>_alloc(n_symbols, sizeof(int32_t))

    def __dealloc__(self):
        free(self._mids)
        free(self._sums)
        free(self._counts)
        free(self._pos)

    cdef int on_tick_c(self, const BookTicker* t, Signal* out) noexcept:
        cdef int32_t s = t.sym
        cdef int32_t w = self._window
        cdef double* mids = self._mids + s * w
        cdef double mid = (t.bid + t.ask) * 0.5
        cdef double mean
        cdef int fired = 0
        self.ticks += 1
        if self._counts[s] == w:
            mean = self._sums[s] / w
            if t.ask < mean * (1.0 - self.edge):
                fired = self._emit(t, 1, mean, out)
            elif t.bid > mean * (1.0 + self.edge):
                fired = self._emit(t, -1, mean, out)
            self._sums[s] -= mids[self._pos[s]]
        else:
            self._counts[s] += 1
        mids[self._pos[s]] = mid
        self._sums[s] += mid
        self._pos[s] += 1
        if self._pos[s] == w:
            self._pos[s] = 0
            if self._counts[s] == w:
                self._sums[s] = _sum(mids, 0, w, w)
        return fired


cdef inline double _sum(const double* ring, int32_t start, int32_t n, int32_t size) noexcept nogil:
    """Sum of n consecutive ring slots from start, wrapping at size."""
    cdef double acc = 0.0
    cdef int32_t j = start
    while n > 0:
        acc += ring[j]
        j += 1
        if j == size:
            j = 0
        n -= 1
    return acc


cdef class MACrossover(StrategyWorker):
    """Buy when the fast SMA crosses above the slow SMA by more than the edge (a fraction
    of the slow SMA), sell on the cross below; crosses inside the cooldown are not traded."""

    def __init__(self, int32_t n_symbols, int32_t worker=0, double qty=0.001,
                 double edge_bps=1.0, double cooldown_ms=0.0, int32_t fast=10, int32_t slow=40):
        _check_window("fast", fast)
        _check_window("slow", slow)
        if fast >= slow:
            raise ValueError(f"fast window ({fast}) must be shorter than slow window ({slow})")
        self._configure(StrategyKind.MA_CROSSOVER, worker, qty, edge_bps, cooldown_ms)
        self._fast = fast
        self._slow = slow
        self._mids = <double*>_alloc(n_symbols * slow, sizeof(double))
        self._fast_sums = <double*>_alloc(n_symbols, sizeof(double))
        self._slow_sums = <double*>_alloc(n_symbols, sizeof(double))
        self._counts = <int32_t*>_alloc(n_symbols, sizeof(int32_t))
        self._pos = <int32_t*>_alloc(n_symbols, sizeof(int32_t))
        self._regime = <int32_t*>_alloc(n_symbols, sizeof(int32_t))

    def __dealloc__(self):
        free(self._mids)
        free(self._fast_sums)
        free(self._slow_sums)
        free(self._counts)
        free(self._pos)
        free(self._regime)

    cdef int on_tick_c(self, const BookTicker* t, Signal* out) noexcept:
        cdef int32_t s = t.sym
        cdef int32_t f = self._fast, w = self._slow
        cdef double* mids = self._mids + s * w
        cdef int32_t pos = self._pos[s]
        cdef double mid = (t.bid + t.ask) * 0.5
        cdef double fast_ma, slow_ma, threshold
        cdef int32_t regime
        self.ticks += 1
        # slide both windows: the fast one drops the mid f ticks ago, the slow one w ago
        if self._counts[s] >= f:
            self._fast_sums[s] -= mids[(pos - f + w) % w]
        if self._counts[s] == w:
            self._slow_sums[s] -= mids[pos]
        else:
            self._counts[s] += 1
        mids[pos] = mid
        self._fast_sums[s] += mid
        self._slow_sums[s] += mid
        pos += 1
        if pos == w:
            pos = 0
            if self._counts[s] == w:
                self._slow_sums[s] = _sum(mids, 0, w, w)
                self._fast_sums[s] = _sum(mids, w - f, f, w)
        self._pos[s] = pos
        if self._counts[s] < w:
            return 0
        fast_ma = self._fast_sums[s] / f
        slow_ma = self._slow_sums[s] / w
        threshold = self.edge * slow_ma
        if fast_ma - slow_ma > threshold:
            regime = 1
        elif slow_ma - fast_ma > threshold:
            regime = -1
        else:
            return 0       # inside the edge: the previous regime stands
        if regime == self._regime[s]:
            return 0
        cdef int32_t previous = self._regime[s]
        self._regime[s] = regime
        if previous == 0:
            return 0       # first regime seen after warm-up is not a cross
        return self._emit(t, regime, slow_ma, out)


cdef class VolBreakout(StrategyWorker):
    """Buy when the mid breaks above the rolling high of the previous `window` mids by more
    than the edge; sell when it breaks below the rolling low."""

    def __init__(self, int32_t n_symbols, int32_t worker=0, double qty=0.001,
                 double edge_bps=2.0, double cooldown_ms=0.0, int32_t window=100):
        _check_window("window", window)
        self._configure(StrategyKind.VOL_BREAKOUT, worker, qty, edge_bps, cooldown_ms)
        self._window = window
        cdef int32_t cap = window + 1
        self._max_vals = <double*>_alloc(n_symbols * cap, sizeof(double))
        self._max_idx = <int64_t*>_alloc(n_symbols * cap, sizeof(int64_t))
        self._max_head = <int32_t*>_alloc(n_symbols, sizeof(int32_t))
        self._max_len = <int32_t*>_alloc(n_symbols, sizeof(int32_t))
        self._min_vals = <double*>_alloc(n_symbols * cap, sizeof(double))
        self._min_idx = <int64_t*>_alloc(n_symbols * cap, sizeof(int64_t))
        self._min_head = <int32_t*>_alloc(n_symbols, sizeof(int32_t))
        self._min_len = <int32_t*>_alloc(n_symbols, sizeof(int32_t))
        self._seen = <int64_t*>_alloc(n_symbols, sizeof(int64_t))

    def __dealloc__(self):
        free(self._max_vals)
        free(self._max_idx)
        free(self._max_head)
        free(self._max_len)
        free(self._min_vals)
        free(self._min_idx)
        free(self._min_head)
        free(self._min_len)
        free(self._seen)

    cdef int on_tick_c(self, const BookTicker* t, Signal* out) noexcept:
        cdef int32_t s = t.sym
        cdef int32_t cap = self._window + 1
        cdef int64_t i = self._seen[s]
        cdef double mid = (t.bid + t.ask) * 0.5
        cdef double* maxv = self._max_vals + s * cap
        cdef int64_t* maxi = self._max_idx + s * cap
        cdef double* minv = self._min_vals + s * cap
        cdef int64_t* mini = self._min_idx + s * cap
        cdef double high, low
        cdef int fired = 0
        self.ticks += 1
        _expire(maxi, &self._max_head[s], &self._max_len[s], cap, i - self._window)
        _expire(mini, &self._min_head[s], &self._min_len[s], cap, i - self._window)
        if i >= self._window:
            high = maxv[self._max_head[s]]
            low = minv[self._min_head[s]]
            if mid > high * (1.0 + self.edge):
                fired = self._emit(t, 1, high, out)
            elif mid < low * (1.0 - self.edge):
                fired = self._emit(t, -1, low, out)
        _push(maxv, maxi, &self._max_head[s], &self._max_len[s], cap, i, mid, 1)
        _push(minv, mini, &self._min_head[s], &self._min_len[s], cap, i, mid, -1)
        self._seen[s] = i + 1
        return fired


cdef inline void _expire(const int64_t* idx, int32_t* head, int32_t* length, int32_t cap,
                         int64_t oldest_kept) noexcept nogil:
    while length[0] > 0 and idx[head[0]] < oldest_kept:
        head[0] = (head[0] + 1) % cap
        length[0] -= 1


cdef inline void _push(double* vals, int64_t* idx, int32_t* head, int32_t* length, int32_t cap,
                       int64_t i, double v, int direction) noexcept nogil:
    """Append (i, v) to a monotonic deque: decreasing for the max (direction 1), increasing
    for the min (direction -1); dominated entries are dropped from the back."""
    cdef int32_t back
    while length[0] > 0:
        back = (head[0] + length[0] - 1) % cap
        if (vals[back] - v) * direction > 0:
            break
        length[0] -= 1
    back = (head[0] + length[0]) % cap
    vals[back] = v
    idx[back] = i
    length[0] += 1

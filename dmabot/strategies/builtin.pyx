"""The built-in strategy kernels, on O(1) rolling windows of the mid price, one state per symbol.

Every window compares the current tick with the *previous* ticks (the current mid enters
the window after the decision), so a tick is never compared with itself. Rolling sums are
recomputed from their buffer once per lap of the window, so rounding error cannot drift
over a long run while the cost stays O(1) amortised.
"""
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free

from dmabot.core.strategy cimport StrategyWorker, alloc_zeroed
from dmabot.core.types cimport BookTicker, Signal
from dmabot.core.types import StrategyKind


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
        self._mids = <double*>alloc_zeroed(n_symbols * window, sizeof(double))
        self._sums = <double*>alloc_zeroed(n_symbols, sizeof(double))
        self._counts = <int32_t*>alloc_zeroed(n_symbols, sizeof(int32_t))
        self._pos = <int32_t*>alloc_zeroed(n_symbols, sizeof(int32_t))

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
        self._mids = <double*>alloc_zeroed(n_symbols * slow, sizeof(double))
        self._fast_sums = <double*>alloc_zeroed(n_symbols, sizeof(double))
        self._slow_sums = <double*>alloc_zeroed(n_symbols, sizeof(double))
        self._counts = <int32_t*>alloc_zeroed(n_symbols, sizeof(int32_t))
        self._pos = <int32_t*>alloc_zeroed(n_symbols, sizeof(int32_t))
        self._regime = <int32_t*>alloc_zeroed(n_symbols, sizeof(int32_t))

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
        self._max_vals = <double*>alloc_zeroed(n_symbols * cap, sizeof(double))
        self._max_idx = <int64_t*>alloc_zeroed(n_symbols * cap, sizeof(int64_t))
        self._max_head = <int32_t*>alloc_zeroed(n_symbols, sizeof(int32_t))
        self._max_len = <int32_t*>alloc_zeroed(n_symbols, sizeof(int32_t))
        self._min_vals = <double*>alloc_zeroed(n_symbols * cap, sizeof(double))
        self._min_idx = <int64_t*>alloc_zeroed(n_symbols * cap, sizeof(int64_t))
        self._min_head = <int32_t*>alloc_zeroed(n_symbols, sizeof(int32_t))
        self._min_len = <int32_t*>alloc_zeroed(n_symbols, sizeof(int32_t))
        self._seen = <int64_t*>alloc_zeroed(n_symbols, sizeof(int64_t))

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

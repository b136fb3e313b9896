"""Plain-Python references of the Cython strategy kernels, written for clarity.

They mirror the kernels' arithmetic order (including the once-per-lap re-summing of the
rolling windows) so results are comparable exactly, not just approximately: with an edge of
0 a tick that sits exactly on the mean is a tie, and any other summation order would
decide some ties the other way.

Sums are explicit left-to-right loops, not `sum()`: from Python 3.12 `sum()` of floats is
compensated and would not match the kernels' plain double accumulation.
"""
from collections import deque

COOLDOWN_FAR_PAST = -(2**62)


def plain_sum(values):
    """Left-to-right double sum, oldest first, as the kernels' `_sum` does."""
    acc = 0.0
    for v in values:
        acc += v
    return acc


class _Reference:
    def __init__(self, edge_bps, cooldown_ms, qty):
        self.edge = edge_bps / 1e4
        self.cooldown_ns = int(cooldown_ms * 1e6)
        self.qty = qty
        self.last_signal = {}

    def _emit(self, ts, sym, side, bid, ask, ref):
        if ts - self.last_signal.get(sym, COOLDOWN_FAR_PAST) < self.cooldown_ns:
            return None
        self.last_signal[sym] = ts
        return (side, ask if side == 1 else bid, self.qty, ref)


class MeanReversionRef(_Reference):
    """BUY at the ask when it is below the mean of the previous `window` mids by more than
    the edge, SELL at the bid when it is above by more than the edge."""

    def __init__(self, window, edge_bps=5.0, cooldown_ms=0.0, qty=0.001):
        super().__init__(edge_bps, cooldown_ms, qty)
        self.window = window
        self.mids = {}
        self.sums = {}
        self.seen = {}

    def on_tick(self, ts, sym, bid, ask):
        mids = self.mids.setdefault(sym, deque())
        total = self.sums.get(sym, 0.0)
        out = None
        if len(mids) == self.window:
            mean = total / self.window
            if ask < mean * (1.0 - self.edge):
                out = self._emit(ts, sym, 1, bid, ask, mean)
            elif bid > mean * (1.0 + self.edge):
                out = self._emit(ts, sym, -1, bid, ask, mean)
            total -= mids.popleft()
        mid = (bid + ask) * 0.5
        mids.append(mid)
        total += mid
        seen = self.seen.get(sym, 0) + 1
        self.seen[sym] = seen
        if seen % self.window == 0:
            total = plain_sum(mids)      # one lap of the window: re-sum, no drift
        self.sums[sym] = total
        return out


class MACrossoverRef(_Reference):
    """Regime +1 when the fast SMA is above the slow SMA by more than edge * slow, -1 when
    below; a change of regime is a cross (BUY on +1, SELL on -1), except the first regime
    after warm-up. Both SMAs include the current mid."""

    def __init__(self, fast, slow, edge_bps=1.0, cooldown_ms=0.0, qty=0.001):
        super().__init__(edge_bps, cooldown_ms, qty)
        self.fast, self.slow = fast, slow
        self.mids = {}
        self.fast_sums = {}
        self.slow_sums = {}
        self.seen = {}
        self.regime = {}

    def on_tick(self, ts, sym, bid, ask):
        mids = self.mids.setdefault(sym, deque(maxlen=self.slow))
        fast_sum = self.fast_sums.get(sym, 0.0)
        slow_sum = self.slow_sums.get(sym, 0.0)
        mid = (bid + ask) * 0.5
        if len(mids) >= self.fast:
            fast_sum -= mids[-self.fast]
        if len(mids) == self.slow:
            slow_sum -= mids[0]
        mids.append(mid)
        fast_sum += mid
        slow_sum += mid
        seen = self.seen.get(sym, 0) + 1
        self.seen[sym] = seen
        if seen % self.slow == 0:        # one lap of the slow window: re-sum both
            slow_sum = plain_sum(mids)
            fast_sum = plain_sum(list(mids)[-self.fast:])
        self.fast_sums[sym] = fast_sum
        self.slow_sums[sym] = slow_sum
        if len(mids) < self.slow:
            return None
        fast_ma = fast_sum / self.fast
        slow_ma = slow_sum / self.slow
        threshold = self.edge * slow_ma
        if fast_ma - slow_ma > threshold:
            regime = 1
        elif slow_ma - fast_ma > threshold:
            regime = -1
        else:
            return None
        previous = self.regime.get(sym, 0)
        if regime == previous:
            return None
        self.regime[sym] = regime
        if previous == 0:
            return None
        return self._emit(ts, sym, regime, bid, ask, slow_ma)


class VolBreakoutRef(_Reference):
    """BUY at the ask when the mid is above the high of the previous `window` mids by more
    than the edge, SELL at the bid when it is below their low by more than the edge."""

    def __init__(self, window, edge_bps=2.0, cooldown_ms=0.0, qty=0.001):
        super().__init__(edge_bps, cooldown_ms, qty)
        self.window = window
        self.mids = {}

    def on_tick(self, ts, sym, bid, ask):
        mids = self.mids.setdefault(sym, deque(maxlen=self.window))
        mid = (bid + ask) * 0.5
        out = None
        if len(mids) == self.window:
            high, low = max(mids), min(mids)
            if mid > high * (1.0 + self.edge):
                out = self._emit(ts, sym, 1, bid, ask, high)
            elif mid < low * (1.0 - self.edge):
                out = self._emit(ts, sym, -1, bid, ask, low)
        mids.append(mid)
        return out

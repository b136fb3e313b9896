"""Plain-Python references of the Cython strategy kernels, written for clarity.

They mirror the kernels' arithmetic order (including the once-per-lap re-summing of the
rolling windows) so results are comparable exactly, not just approximately.
"""
from collections import deque

COOLDOWN_FAR_PAST = -(2**62)


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
    def __init__(self, window, edge_bps=5.0, cooldown_ms=0.0, qty=0.001):
        super().__init__(edge_bps, cooldown_ms, qty)
        self.window = window
        self.mids = {}
        self.sums = {}

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
        self.sums[sym] = total
        return out


class MACrossoverRef(_Reference):
    def __init__(self, fast, slow, edge_bps=1.0, cooldown_ms=0.0, qty=0.001):
        super().__init__(edge_bps, cooldown_ms, qty)
        self.fast, self.slow = fast, slow
        self.mids = {}
        self.regime = {}

    def on_tick(self, ts, sym, bid, ask):
        mids = self.mids.setdefault(sym, deque(maxlen=self.slow))
        mids.append((bid + ask) * 0.5)
        if len(mids) < self.slow:
            return None
        fast_ma = sum(list(mids)[-self.fast:]) / self.fast
        slow_ma = sum(mids) / self.slow
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

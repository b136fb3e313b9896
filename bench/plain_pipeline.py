"""The per-tick pipeline written in plain Python: the baseline the Cython core is
measured against. Same work per tick (3 strategies on O(1) rolling windows, symbol
sharding, risk, router, position marking), written the way a careful Python developer
would, with deques and running sums."""
from collections import deque


class MeanReversion:
    def __init__(self, window, edge_bps, cooldown_ns):
        self.window, self.edge, self.cooldown = window, edge_bps / 1e4, cooldown_ns
        self.mids, self.sums, self.last = {}, {}, {}

    def on_tick(self, ts, sym, bid, ask):
        mids = self.mids.get(sym)
        if mids is None:
            mids = self.mids[sym] = deque()
            self.sums[sym] = 0.0
        out = None
        if len(mids) == self.window:
            mean = self.sums[sym] / self.window
            if ask < mean * (1 - self.edge):
                out = self._emit(ts, sym, 1, ask)
            elif bid > mean * (1 + self.edge):
                out = self._emit(ts, sym, -1, bid)
            self.sums[sym] -= mids.popleft()
        mid = (bid + ask) * 0.5
        mids.append(mid)
        self.sums[sym] += mid
        return out

    def _emit(self, ts, sym, side, px):
        if ts - self.last.get(sym, -(2**62)) < self.cooldown:
            return None
        self.last[sym] = ts
        return (side, px)


class MACrossover(MeanReversion):
    def __init__(self, fast, slow, edge_bps, cooldown_ns):
        super().__init__(slow, edge_bps, cooldown_ns)
        self.fast = fast
        self.fast_mids, self.fast_sums, self.regime = {}, {}, {}

    def on_tick(self, ts, sym, bid, ask):
        mid = (bid + ask) * 0.5
        slow = self.mids.setdefault(sym, deque())
        fast = self.fast_mids.setdefault(sym, deque())
        slow.append(mid)
        fast.append(mid)
        self.sums[sym] = self.sums.get(sym, 0.0) + mid
        self.fast_sums[sym] = self.fast_sums.get(sym, 0.0) + mid
        if len(fast) > self.fast:
            self.fast_sums[sym] -= fast.popleft()
        if len(slow) > self.window:
            self.sums[sym] -= slow.popleft()
        if len(slow) < self.window:
            return None
        f, s = self.fast_sums[sym] / self.fast, self.sums[sym] / self.window
        if f - s > self.edge * s:
            regime = 1
        elif s - f > self.edge * s:
            regime = -1
        else:
            return None
        previous = self.regime.get(sym, 0)
        if regime == previous:
            return None
        self.regime[sym] = regime
        if previous == 0:
            return None
        return self._emit(ts, sym, regime, ask if regime == 1 else bid)


class VolBreakout(MeanReversion):
    def __init__(self, window, edge_bps, cooldown_ns):
        super().__init__(window, edge_bps, cooldown_ns)
        self.highs, self.lows, self.seen = {}, {}, {}

    def on_tick(self, ts, sym, bid, ask):
        mid = (bid + ask) * 0.5
        highs = self.highs.setdefault(sym, deque())
        lows = self.lows.setdefault(sym, deque())
        i = self.seen.get(sym, 0)
        while highs and highs[0][0] < i - self.window:
            highs.popleft()
        while lows and lows[0][0] < i - self.window:
            lows.popleft()
        out = None
        if i >= self.window:
            if mid > highs[0][1] * (1 + self.edge):
                out = self._emit(ts, sym, 1, ask)
            elif mid < lows[0][1] * (1 - self.edge):
                out = self._emit(ts, sym, -1, bid)
        while highs and highs[-1][1] <= mid:
            highs.pop()
        highs.append((i, mid))
        while lows and lows[-1][1] >= mid:
            lows.pop()
        lows.append((i, mid))
        self.seen[sym] = i + 1
        return out


class PlainPipeline:
    def __init__(self, n_symbols, workers, params, venues, px_band, max_notional, max_qps, qty):
        self.strategies = [
            [MeanReversion(params["mr_window"], params["mr_edge"], params["cooldown"]) for _ in range(workers)],
            [MACrossover(params["ma_fast"], params["ma_slow"], params["ma_edge"], params["cooldown"])
             for _ in range(workers)],
            [VolBreakout(params["vb_window"], params["vb_edge"], params["cooldown"]) for _ in range(workers)],
        ]
        self.workers = workers
        self.venues = venues           # [(fee_bps, latency_ms)]
        self.fill_rate = [1.0] * len(venues)
        self.px_min, self.px_max = px_band
        self.max_notional, self.max_qps, self.qty = max_notional, max_qps, qty
        self.tokens, self.last_refill = max_qps, 0
        self.marks = [0.0] * n_symbols
        self.ticks = [0] * n_symbols
        self.orders = []

    def on_tick(self, ts, sym, bid, ask):
        self.ticks[sym] += 1
        self.marks[sym] = (bid + ask) * 0.5
        for workers in self.strategies:
            sig = workers[sym % self.workers].on_tick(ts, sym, bid, ask)
            if sig is not None:
                self.on_signal(ts, sym, *sig)

    def on_signal(self, ts, sym, side, px):
        if not self.px_min <= px <= self.px_max or px * self.qty > self.max_notional:
            return
        self.tokens = min(self.max_qps, self.tokens + (ts - self.last_refill) * 1e-9 * self.max_qps)
        self.last_refill = ts
        if self.tokens < 1:
            return
        self.tokens -= 1
        scores = [fee + 0.5 * lat + 20 * (1 - rate) for (fee, lat), rate in zip(self.venues, self.fill_rate)]
        venue = scores.index(min(scores))
        self.orders.append((ts, sym, side, px, self.qty, venue))

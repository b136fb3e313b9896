"""Pipeline: the hot path from the tick ring to orders, and from exec reports to positions.

Per tick it costs one strategy call per active strategy (each symbol belongs to one worker
of each strategy), a position mark and a few counters; everything else happens only when
a strategy fires. Counters are plain C integers read by the metrics collector at scrape
time, because a prometheus-client call per tick would cost more than the whole path.
"""
from cpython.bytes cimport PyBytes_AS_STRING
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport calloc, free
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

from dmabot.core.jsonl cimport JsonlBuffer
from dmabot.core.positions cimport PositionBook
from dmabot.core.ring cimport TickRing
from dmabot.core.risk cimport RiskCheck
from dmabot.core.router cimport MAX_VENUES, RouteLeg, Router
from dmabot.core.strategy cimport StrategyWorker
from dmabot.core.types cimport (
    N_EXEC_STATUS, BookTicker, ExecReport, ExecStatus, Order, RiskReason, Signal,
)
from dmabot.core.types import ExecStatus as PyExecStatus

# Upper bounds (seconds) of the signal-to-ack histogram; the last bucket is +Inf.
LATENCY_BUCKETS_S = (1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3,
                     2.5e-3, 5e-3, 1e-2, 2.5e-2, 5e-2, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
cdef int64_t _BUCKET_NS[N_LATENCY_BUCKETS - 1]
_BUCKET_NS[:] = [round(bound * 1e9) for bound in LATENCY_BUCKETS_S]

# Names of enum values in the recording.
cdef const char* _SIDE_NAMES[3]
_SIDE_NAMES[0] = b"SELL"
_SIDE_NAMES[2] = b"BUY"
cdef const char* _RISK_NAMES[5]
_RISK_NAMES[:] = [b"ok", b"price_band", b"notional", b"qps", b"bad_qty"]
cdef const char* _STRATEGY_NAMES[3]
_STRATEGY_NAMES[:] = [b"mean_reversion", b"ma_crossover", b"vol_breakout"]
cdef const char* _STATUS_NAMES[6]
_STATUS_NAMES[:] = [b"ACK", b"PARTIALLY_FILLED", b"FILLED", b"CANCELED", b"REJECTED", b"EXPIRED"]


cpdef int64_t monotonic_ns():
    """CLOCK_MONOTONIC in ns (what time.monotonic_ns() reads), without a Python call."""
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return ts.tv_sec * 1000000000 + ts.tv_nsec


cdef inline const char* _name(list names, Py_ssize_t i):
    return PyBytes_AS_STRING(names[i])


cdef class Pipeline:

    def __init__(self, symbols, workers, RiskCheck risk not None, Router router not None, venues,
                 int ring_capacity=4096, bint record=False):
        """`workers`: one list of StrategyWorker per active strategy, all of the same
        length (STRATEGY_WORKERS); symbol i goes to worker i % that length."""
        if self.ring is not None:
            raise RuntimeError("Pipeline is already initialised")
        self.n_symbols = len(symbols)
        self.n_strategies = len(workers)
        self.n_venues = len(venues)
        if self.n_strategies < 1:
            raise ValueError("need at least one strategy")
        self.n_workers = len(workers[0])
        if self.n_workers < 1 or {len(w) for w in workers} != {self.n_workers}:
            raise ValueError("every strategy needs the same number (>= 1) of workers")
        if router.n_venues != self.n_venues or router.n_symbols != self.n_symbols:
            raise ValueError("router venues/symbols do not match the pipeline's")
        self._workers = [w for per_strategy in workers for w in per_strategy]
        for w in self._workers:
            if (<StrategyWorker?>w).n_symbols != self.n_symbols:
                raise ValueError("a strategy worker was built for another number of symbols")
        self._symbol_names = [s.encode() for s in symbols]
        self._venue_names = [v.encode() for v in venues]
        self.ring = TickRing(ring_capacity)
        self.risk = risk
        self.router = router
        self.positions = PositionBook(self.n_symbols, self.n_venues)
        self.recorder = JsonlBuffer() if record else None
        self._next_signal_id = 1
        self._next_order_id = 1
        self._bid = <double*>calloc(self.n_symbols, sizeof(double))
        self._ask = <double*>calloc(self.n_symbols, sizeof(double))
        self._ticks_by_symbol = <uint64_t*>calloc(self.n_symbols, sizeof(uint64_t))
        self._signals = <uint64_t*>calloc(self.n_strategies * self.n_symbols, sizeof(uint64_t))
        self._orders_by_venue = <uint64_t*>calloc(self.n_venues, sizeof(uint64_t))
        self._exec_counts = <uint64_t*>calloc(self.n_venues * N_EXEC_STATUS, sizeof(uint64_t))
        if not (self._bid and self._ask and self._ticks_by_symbol and self._signals
                and self._orders_by_venue and self._exec_counts):
            raise MemoryError()

    def __dealloc__(self):
        free(self._bid)
        free(self._ask)
        free(self._ticks_by_symbol)
        free(self._signals)
        free(self._orders_by_venue)
        free(self._exec_counts)

    # -- ticks ---------------------------------------------------------------------------
    cpdef uint64_t drain(self):
        """Run every tick waiting in the ring through the pipeline; returns how many."""
        cdef BookTicker* t
        cdef uint64_t n = 0
        while True:
            t = self.ring.pop()
            if t == NULL:
                return n
            self.on_tick_c(t)
            n += 1

    cdef void on_tick_c(self, BookTicker* t):
        cdef int32_t sym = t.sym
        cdef int32_t k
        cdef Signal sig
        cdef StrategyWorker worker
        self.ticks += 1
        if self.ticks == 1:
            self.first_ts = t.ts
        self.last_ts = t.ts
        self._ticks_by_symbol[sym] += 1
        self._bid[sym] = t.bid
        self._ask[sym] = t.ask
        self.positions.mark_c(sym, (t.bid + t.ask) * 0.5)
        if self.recorder is not None:
            self._record_md(t)
        for k in range(self.n_strategies):
            worker = <StrategyWorker>self._workers[k * self.n_workers + sym % self.n_workers]
            if worker.on_tick_c(t, &sig):
                sig.signal_id = self._next_signal_id
                self._next_signal_id += 1
                self._signals[k * self.n_symbols + sym] += 1
                self._on_signal(&sig)

    cdef void _on_signal(self, Signal* s):
        cdef RouteLeg legs[MAX_VENUES]
        cdef int32_t i, n
        cdef int reason = self.risk.check_c(s.ts, s.px, s.qty)
        cdef int64_t t_wall
        cdef Order order
        if self.recorder is not None:
            self._record_signal(s, reason)
        if reason != RiskReason.RISK_OK:
            return
        t_wall = monotonic_ns()
        n = self.router.route_c(s, legs)
        for i in range(n):
            order = Order.__new__(Order)
            order.order_id = self._next_order_id
            self._next_order_id += 1
            order.signal_id = s.signal_id
            order.ts = s.ts
            order.sym = s.sym
            order.strategy = s.strategy
            order.worker = s.worker
            order.venue = legs[i].venue
            order.side = s.side
            order.px = s.px
            order.qty = legs[i].qty
            order.t_signal_wall = t_wall
            self._orders_by_venue[order.venue] += 1
            if self.recorder is not None:
                self._record_order(order, s)
            if self.order_sink is not None:
                self.order_sink(order)

    # -- execution reports ---------------------------------------------------------------
    cpdef void on_exec(self, ExecReport report) except *:
        """Apply a venue's report: counters, the ack latency, positions, router stats."""
        cdef Order o = report.order
        cdef int32_t status = report.status
        if not (0 <= o.venue < self.n_venues and 0 <= o.sym < self.n_symbols):
            raise ValueError(f"report for an order of another book: venue {o.venue}, symbol {o.sym}")
        self._exec_counts[o.venue * N_EXEC_STATUS + status] += 1
        if self.recorder is not None:
            self._record_exec(report)
        if status == ExecStatus.ACK:
            self._observe_ack_latency(monotonic_ns() - o.t_signal_wall)
        elif status == ExecStatus.FILLED or status == ExecStatus.PARTIALLY_FILLED:
            self.positions.fill_c(o.sym, o.venue, o.side, report.fill_px, report.fill_qty, report.fee)
            if status == ExecStatus.FILLED:
                self.router.on_outcome_c(o.venue, True)
        else:
            self.router.on_outcome_c(o.venue, False)

    cdef void _observe_ack_latency(self, int64_t ns):
        cdef int i = 0
        while i < N_LATENCY_BUCKETS - 1 and ns > _BUCKET_NS[i]:
            i += 1
        self._latency_buckets[i] += 1
        self._latency_sum += ns * 1e-9
        self._latency_count += 1

    # -- recording -----------------------------------------------------------------------
    cdef void _record_md(self, BookTicker* t):
        cdef JsonlBuffer r = self.recorder
        r.raw(b'{"Md":{', 7)
        r.key(b"ts"); r.int64(t.ts)
        r.key(b"symbol"); r.string(_name(self._symbol_names, t.sym))
        r.key(b"bid"); r.num(t.bid)
        r.key(b"bid_qty"); r.num(t.bid_qty)
        r.key(b"ask"); r.num(t.ask)
        r.key(b"ask_qty"); r.num(t.ask_qty)
        r.key(b"u"); r.int64(t.update_id)
        r.raw(b"}}\n", 3)

    cdef void _record_signal(self, Signal* s, int reason):
        cdef JsonlBuffer r = self.recorder
        r.raw(b'{"Sig":{', 8)
        r.key(b"ts"); r.int64(s.ts)
        r.key(b"id"); r.int64(s.signal_id)
        r.key(b"strategy"); r.string(_STRATEGY_NAMES[s.strategy])
        r.key(b"worker"); r.int64(s.worker)
        r.key(b"symbol"); r.string(_name(self._symbol_names, s.sym))
        r.key(b"side"); r.string(_SIDE_NAMES[s.side + 1])
        r.key(b"px"); r.num(s.px)
        r.key(b"qty"); r.num(s.qty)
        r.key(b"ref"); r.num(s.ref)
        r.key(b"risk"); r.string(_RISK_NAMES[reason])
        r.raw(b"}}\n", 3)

    cdef void _record_order(self, Order o, Signal* s):
        cdef JsonlBuffer r = self.recorder
        r.raw(b'{"Ord":{', 8)
        r.key(b"ts"); r.int64(o.ts)
        r.key(b"id"); r.int64(o.order_id)
        r.key(b"signal_id"); r.int64(o.signal_id)
        r.key(b"strategy"); r.string(_STRATEGY_NAMES[s.strategy])
        r.key(b"worker"); r.int64(o.worker)
        r.key(b"symbol"); r.string(_name(self._symbol_names, o.sym))
        r.key(b"venue"); r.string(_name(self._venue_names, o.venue))
        r.key(b"side"); r.string(_SIDE_NAMES[o.side + 1])
        r.key(b"px"); r.num(o.px)
        r.key(b"qty"); r.num(o.qty)
        r.raw(b"}}\n", 3)

    cdef void _record_exec(self, ExecReport e):
        cdef JsonlBuffer r = self.recorder
        cdef Order o = e.order
        r.raw(b'{"Exec":{', 9)
        r.key(b"ts"); r.int64(e.ts)
        r.key(b"order_id"); r.int64(o.order_id)
        r.key(b"symbol"); r.string(_name(self._symbol_names, o.sym))
        r.key(b"venue"); r.string(_name(self._venue_names, o.venue))
        r.key(b"side"); r.string(_SIDE_NAMES[o.side + 1])
        r.key(b"status"); r.string(_STATUS_NAMES[e.status])
        r.key(b"px"); r.num(e.fill_px)
        r.key(b"qty"); r.num(e.fill_qty)
        r.key(b"fee"); r.num(e.fee)
        r.key(b"trade_id"); r.int64(e.trade_id)
        r.raw(b"}}\n", 3)

    # -- Python API: feeding, quotes and counters ----------------------------------------
    def push_tick(self, int64_t ts, int32_t sym, double bid, double bid_qty, double ask,
                  double ask_qty, int64_t update_id=0):
        """Queue one tick (tests, replay); `drain()` runs it."""
        if not 0 <= sym < self.n_symbols:
            raise IndexError(f"symbol index {sym} out of range")
        self.ring.push(ts, sym, bid, bid_qty, ask, ask_qty, update_id)

    def touch(self, int32_t sym):
        """(bid, ask) of the latest tick of a symbol; (0.0, 0.0) before the first."""
        if not 0 <= sym < self.n_symbols:
            raise IndexError(f"symbol index {sym} out of range")
        return self._bid[sym], self._ask[sym]

    @property
    def workers(self):
        """[[StrategyWorker per worker] per strategy]."""
        return [self._workers[k * self.n_workers:(k + 1) * self.n_workers]
                for k in range(self.n_strategies)]

    def ticks_by_symbol(self):
        return [self._ticks_by_symbol[i] for i in range(self.n_symbols)]

    def signals(self):
        """[[count per symbol] per strategy slot]."""
        return [[self._signals[k * self.n_symbols + i] for i in range(self.n_symbols)]
                for k in range(self.n_strategies)]

    def orders_by_venue(self):
        return [self._orders_by_venue[v] for v in range(self.n_venues)]

    def exec_counts(self):
        """{(venue index, ExecStatus): count} of the non-zero counters."""
        out = {}
        for v in range(self.n_venues):
            for st in range(N_EXEC_STATUS):
                if self._exec_counts[v * N_EXEC_STATUS + st]:
                    out[(v, PyExecStatus(st))] = self._exec_counts[v * N_EXEC_STATUS + st]
        return out

    def ack_latency(self):
        """(cumulative bucket counts aligned with LATENCY_BUCKETS_S + [+Inf], sum seconds)."""
        cum, acc = [], 0
        for i in range(N_LATENCY_BUCKETS):
            acc += self._latency_buckets[i]
            cum.append(acc)
        return cum, self._latency_sum

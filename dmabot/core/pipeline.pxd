from libc.stdint cimport int32_t, int64_t, uint64_t

from dmabot.core.jsonl cimport JsonlBuffer
from dmabot.core.positions cimport PositionBook
from dmabot.core.ring cimport TickRing
from dmabot.core.risk cimport RiskCheck
from dmabot.core.router cimport Router
from dmabot.core.types cimport BookTicker, ExecReport, Order, Signal

cdef enum:
    N_LATENCY_BUCKETS = 22


cdef class Pipeline:
    """The per-tick path: ring -> strategies -> risk -> router -> order sink, positions
    marked on every tick, every event counted and (optionally) recorded."""
    cdef readonly TickRing ring
    cdef readonly RiskCheck risk
    cdef readonly Router router
    cdef readonly PositionBook positions
    cdef readonly JsonlBuffer recorder       # None: recording off
    cdef readonly int32_t n_symbols
    cdef readonly int32_t n_strategies
    cdef readonly int32_t n_workers
    cdef readonly int32_t n_venues
    cdef readonly uint64_t ticks
    cdef readonly int64_t first_ts
    cdef readonly int64_t last_ts
    cdef public object order_sink            # callable(Order); the gateways
    cdef list _workers                       # [strategy slot * n_workers + worker]
    cdef list _symbol_names                  # bytes, for the recorder
    cdef list _venue_names
    cdef int64_t _next_signal_id
    cdef int64_t _next_order_id
    cdef double* _bid
    cdef double* _ask
    cdef uint64_t* _ticks_by_symbol
    cdef uint64_t* _signals            # [strategy slot * n_symbols + sym]
    cdef uint64_t* _orders_by_venue
    cdef uint64_t* _exec_counts        # [venue * N_EXEC_STATUS + status]
    cdef uint64_t _latency_buckets[N_LATENCY_BUCKETS]
    cdef double _latency_sum
    cdef uint64_t _latency_count

    cdef void on_tick_c(self, BookTicker* t)
    cdef void _on_signal(self, Signal* s)
    cdef void _observe_ack_latency(self, int64_t ns)
    cdef void _record_md(self, BookTicker* t)
    cdef void _record_signal(self, Signal* s, int reason)
    cdef void _record_order(self, Order o, Signal* s)
    cdef void _record_exec(self, ExecReport e)
    cpdef uint64_t drain(self)
    cpdef void on_exec(self, ExecReport report) except *

# Hot-path domain types shared by every module of the Cython core.
# Structs travel by pointer inside the core; the cdef classes Order and ExecReport are the
# objects that cross into Python (gateways, recorder, tests).
from libc.stdint cimport int32_t, int64_t


cpdef enum Side:
    BUY = 1
    SELL = -1


cpdef enum ExecStatus:
    ACK = 0
    PARTIALLY_FILLED = 1
    FILLED = 2
    CANCELED = 3
    REJECTED = 4
    EXPIRED = 5


cpdef enum RiskReason:
    RISK_OK = 0
    PRICE_BAND = 1
    NOTIONAL = 2
    QPS = 3
    BAD_QTY = 4


cpdef enum StrategyKind:
    MEAN_REVERSION = 0
    MA_CROSSOVER = 1
    VOL_BREAKOUT = 2


# Number of members of each enum, for counter arrays indexed by them.
cdef enum:
    N_EXEC_STATUS = 6
    N_RISK_REASON = 5
    N_STRATEGY_KIND = 3


cdef struct BookTicker:
    int64_t ts          # reactor clock, ns
    int64_t update_id   # venue's order book update id (`u`); 0 for the mock feed
    int32_t sym         # index into the configured SYMBOLS
    double bid
    double bid_qty
    double ask
    double ask_qty


cdef struct Signal:
    int64_t ts
    int64_t signal_id
    int32_t sym
    int32_t strategy    # StrategyKind
    int32_t worker
    int32_t side        # Side
    double px           # the touch it would take: ask to buy, bid to sell
    double qty
    double ref          # what the price was compared with (mean, slow SMA, band edge)


cdef class Order:
    cdef readonly int64_t order_id
    cdef readonly int64_t signal_id
    cdef readonly int64_t ts
    cdef readonly int32_t sym
    cdef readonly int32_t strategy
    cdef readonly int32_t worker
    cdef readonly int32_t venue
    cdef readonly int32_t side
    cdef readonly double px
    cdef readonly double qty
    # perf_counter_ns() when the signal fired; only for the signal-to-ack histogram
    cdef readonly int64_t t_signal_wall


cdef class ExecReport:
    cdef readonly Order order
    cdef readonly int64_t ts
    cdef readonly int32_t status      # ExecStatus
    cdef readonly double fill_px
    cdef readonly double fill_qty     # this report's fill, not the cumulative one
    cdef readonly double fee          # in quote currency
    cdef readonly int64_t trade_id

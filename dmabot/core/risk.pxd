from libc.stdint cimport int64_t, uint64_t

from dmabot.core.types cimport N_RISK_REASON


cdef class RiskCheck:
    """Pre-trade limits: price band, notional cap per order, QPS token bucket.

    `check_c` returns a RiskReason; RISK_OK consumes one token. Denials are counted.
    """
    cdef readonly double px_min
    cdef readonly double px_max
    cdef readonly double max_notional
    cdef readonly double max_qps
    cdef double _tokens
    cdef double _burst
    cdef int64_t _last_refill_ns
    cdef uint64_t _counts[N_RISK_REASON]

    cdef int check_c(self, int64_t ts, double px, double qty) noexcept

"""RiskCheck: price band, notional cap and a token bucket on the reactor's clock."""
from libc.math cimport isfinite
from libc.stdint cimport int64_t

from dmabot.core.types cimport N_RISK_REASON, RiskReason
from dmabot.core.types import RiskReason as PyRiskReason


cdef class RiskCheck:

    def __init__(self, double px_min, double px_max, double max_notional, double max_qps,
                 double burst=0.0):
        if not (isfinite(px_min) and isfinite(px_max) and 0 <= px_min < px_max):
            raise ValueError(f"need 0 <= px_min < px_max, got {px_min} and {px_max}")
        if not (isfinite(max_notional) and max_notional > 0):
            raise ValueError(f"max_notional must be > 0, got {max_notional}")
        if not (isfinite(max_qps) and max_qps > 0):
            raise ValueError(f"max_qps must be > 0, got {max_qps}")
        if not (burst == 0 or (isfinite(burst) and burst >= 1)):
            raise ValueError(f"burst must be 0 (one second of max_qps) or >= 1 order, got {burst}")
        self.px_min = px_min
        self.px_max = px_max
        self.max_notional = max_notional
        self.max_qps = max_qps
        # A burst of one second's worth (at least one order) by default.
        self._burst = burst if burst > 0 else max(1.0, max_qps)
        self._tokens = self._burst
        self._last_refill_ns = 0

    cdef int check_c(self, int64_t ts, double px, double qty) noexcept:
        cdef int reason = RiskReason.RISK_OK
        if not (isfinite(qty) and qty > 0):
            reason = RiskReason.BAD_QTY
        elif not (px >= self.px_min and px <= self.px_max):     # NaN fails both
            reason = RiskReason.PRICE_BAND
        elif px * qty > self.max_notional:
            reason = RiskReason.NOTIONAL
        else:
            if ts > self._last_refill_ns:
                self._tokens += (ts - self._last_refill_ns) * 1e-9 * self.max_qps
                if self._tokens > self._burst:
                    self._tokens = self._burst
                self._last_refill_ns = ts
            if self._tokens >= 1.0:
                self._tokens -= 1.0
            else:
                reason = RiskReason.QPS
        self._counts[reason] += 1
        return reason

    def check(self, int64_t ts, double px, double qty):
        """Python API: the RiskReason for an order of qty at px at time ts (ns)."""
        return PyRiskReason(self.check_c(ts, px, qty))

    def counts(self):
        """{RiskReason: count} of every decision so far, RISK_OK included."""
        return {PyRiskReason(r): self._counts[r] for r in range(N_RISK_REASON)}

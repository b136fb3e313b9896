"""Router: venue scoring and quantity split (see router.pxd)."""
from libc.math cimport floor
from libc.stdint cimport int32_t
from libc.stdlib cimport calloc, free

from dmabot.core.router cimport MAX_VENUES, RouteLeg
from dmabot.core.types cimport Signal

# Weight of the newest outcome in the fill-rate average: about the last 10 orders count.
cdef double FILL_RATE_ALPHA = 0.1


cdef class Router:

    def __init__(self, int32_t n_symbols, fee_bps, latency_ms, int32_t split=1,
                 double qty_step=1e-5, double latency_bps_per_ms=0.5,
                 double miss_penalty_bps=20.0):
        if self._bid != NULL:
            raise RuntimeError("Router is already initialised")
        if len(fee_bps) != len(latency_ms) or not 1 <= len(fee_bps) <= MAX_VENUES:
            raise ValueError(f"need 1..{MAX_VENUES} venues with a fee and a latency each")
        if not 1 <= split <= len(fee_bps):
            raise ValueError(f"split must be between 1 and the number of venues, got {split}")
        if not qty_step > 0:
            raise ValueError(f"qty_step must be > 0, got {qty_step}")
        self.n_venues = len(fee_bps)
        self.n_symbols = n_symbols
        self.split = split
        self.qty_step = qty_step
        self.latency_bps_per_ms = latency_bps_per_ms
        self.miss_penalty_bps = miss_penalty_bps
        for v in range(self.n_venues):
            self._fee_bps[v] = fee_bps[v]
            self._latency_ms[v] = latency_ms[v]
            self._fill_rate[v] = 1.0
        self._bid = <double*>calloc(self.n_venues * n_symbols, sizeof(double))
        self._ask = <double*>calloc(self.n_venues * n_symbols, sizeof(double))
        if self._bid == NULL or self._ask == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self._bid)
        free(self._ask)

    cdef double score_c(self, int32_t venue, const Signal* s) noexcept:
        """Expected cost in bps of trading the signal on `venue`; lower is better."""
        cdef double cost = self._fee_bps[venue] + self.latency_bps_per_ms * self._latency_ms[venue]
        cost += self.miss_penalty_bps * (1.0 - self._fill_rate[venue])
        cdef int32_t k = venue * self.n_symbols + s.sym
        cdef double venue_px = self._ask[k] if s.side == 1 else self._bid[k]
        if venue_px > 0 and s.px > 0:
            # paying more than the signal's price (buy) or getting less (sell) costs
            cost += s.side * (venue_px - s.px) / s.px * 1e4
        return cost

    cdef int32_t route_c(self, const Signal* s, RouteLeg* legs) noexcept:
        """Fill `legs` with up to `split` venues, best first; returns how many."""
        cdef int32_t order[MAX_VENUES]
        cdef double scores[MAX_VENUES]
        cdef int32_t i, j, n = self.n_venues, k
        cdef double steps, each, left
        for i in range(n):
            scores[i] = self.score_c(i, s)
            order[i] = i
        # insertion sort: a handful of venues; ties keep configuration order
        for i in range(1, n):
            j = i
            while j > 0 and scores[order[j]] < scores[order[j - 1]]:
                order[j], order[j - 1] = order[j - 1], order[j]
                j -= 1
        k = self.split
        steps = floor(s.qty / self.qty_step + 1e-9)
        if steps < k:
            k = <int32_t>steps if steps >= 1 else 1
        each = floor(steps / k) * self.qty_step
        left = s.qty
        for i in range(k):
            legs[i].venue = order[i]
            legs[i].qty = each
            left -= each
        legs[0].qty += left       # the rounding remainder goes to the best venue
        return k

    cdef void on_outcome_c(self, int32_t venue, bint filled) noexcept:
        self._fill_rate[venue] += FILL_RATE_ALPHA * ((1.0 if filled else 0.0) - self._fill_rate[venue])

    # -- Python API (tests, gateways, metrics) ----------------------------------------
    def set_venue_quote(self, int32_t venue, int32_t sym, double bid, double ask):
        """Give a venue its own top of book for a symbol (priced into its score)."""
        self._check(venue, sym)
        self._bid[venue * self.n_symbols + sym] = bid
        self._ask[venue * self.n_symbols + sym] = ask

    def route(self, int32_t sym, int32_t side, double px, double qty):
        """[(venue, qty), ...] best first, for an order of qty at px."""
        self._check(0, sym)
        cdef Signal s
        cdef RouteLeg legs[MAX_VENUES]
        s.sym = sym
        s.side = side
        s.px = px
        s.qty = qty
        cdef int32_t n = self.route_c(&s, legs)
        return [(legs[i].venue, legs[i].qty) for i in range(n)]

    def score(self, int32_t venue, int32_t sym, int32_t side, double px):
        self._check(venue, sym)
        cdef Signal s
        s.sym = sym
        s.side = side
        s.px = px
        return self.score_c(venue, &s)

    def on_outcome(self, int32_t venue, bint filled):
        self._check(venue, 0)
        self.on_outcome_c(venue, filled)

    def fill_rate(self, int32_t venue):
        self._check(venue, 0)
        return self._fill_rate[venue]

    def _check(self, int32_t venue, int32_t sym):
        if not (0 <= venue < self.n_venues and 0 <= sym < self.n_symbols):
            raise IndexError(f"venue {venue} or symbol {sym} out of range")

"""MockFeed: deterministic bookTicker random walk (xoshiro256** + Box-Muller)."""
from libc.math cimport cos, exp, floor, isfinite, llround, log, sqrt
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport calloc, free

from dmabot.core.ring cimport TickRing
from dmabot.core.types cimport BookTicker

# Sizes are on a 1e-5 grid, like most Binance spot lot sizes.
cdef double QTY_SCALE = 1e5
cdef double TWO_PI = 6.283185307179586


cdef inline uint64_t _rotl(uint64_t x, int k) noexcept nogil:
    return (x << k) | (x >> (64 - k))


cdef inline uint64_t _splitmix(uint64_t* x) noexcept nogil:
    x[0] += 0x9E3779B97F4A7C15ULL
    cdef uint64_t z = x[0]
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
    return z ^ (z >> 31)


cdef class MockFeed:

    def __cinit__(self, start_prices, double tick_size=0.01, double vol_bps=1.0,
                  uint64_t seed=1, double notional=50000.0):
        cdef int32_t i
        cdef uint64_t sm = seed
        self.n_symbols = len(start_prices)
        if self.n_symbols < 1:
            raise ValueError("need at least one start price")
        self._scale = 1.0 / tick_size if tick_size > 0 else 0
        if not (tick_size > 0 and abs(self._scale - round(self._scale)) < 1e-6 * self._scale):
            raise ValueError(f"tick size must be 1/k for an integer k (0.01, 0.001...), got {tick_size}")
        self._scale = round(self._scale)
        if not (isfinite(vol_bps) and 0 <= vol_bps <= 1000):
            raise ValueError(f"volatility must be between 0 and 1000 bps, got {vol_bps}")
        if not (isfinite(notional) and notional > 0):
            raise ValueError(f"notional must be a finite number > 0, got {notional}")
        self.tick_size = tick_size
        self.vol = vol_bps / 1e4
        self.notional = notional
        self._mid = <double*>calloc(self.n_symbols, sizeof(double))
        if self._mid == NULL:
            raise MemoryError()
        for i in range(self.n_symbols):
            if not (isfinite(start_prices[i]) and start_prices[i] > 10 * tick_size):
                raise ValueError(f"start price {start_prices[i]} is not above 10 ticks of {tick_size}")
            self._mid[i] = start_prices[i]
        for i in range(4):
            self._rng[i] = _splitmix(&sm)

    def __dealloc__(self):
        free(self._mid)

    cdef uint64_t _next(self) noexcept nogil:
        cdef uint64_t* s = self._rng
        cdef uint64_t result = _rotl(s[1] * 5, 7) * 9
        cdef uint64_t t = s[1] << 17
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
        return result

    cdef double _uniform(self) noexcept nogil:
        """In (0, 1): 53 random bits, never 0 so log() is finite."""
        return ((self._next() >> 11) + 0.5) * (1.0 / 9007199254740992.0)

    cdef double _normal(self) noexcept nogil:
        cdef double r, theta
        if self._has_spare:
            self._has_spare = False
            return self._spare_normal
        r = sqrt(-2.0 * log(self._uniform()))
        theta = TWO_PI * self._uniform()
        self._spare_normal = r * cos(theta + TWO_PI / 4)   # sin(theta)
        self._has_spare = True
        return r * cos(theta)

    cdef double _size(self, double px) noexcept nogil:
        # log-normal around the notional; at least one lot
        cdef double q = floor(self.notional / px * exp(0.5 * self._normal()) * QTY_SCALE)
        return (q if q >= 1 else 1) / QTY_SCALE

    cdef int fill_c(self, TickRing ring, int64_t ts, int n) noexcept:
        """Write n ticks stamped ts into the ring, symbols in round robin."""
        cdef int k = n
        cdef int32_t s
        cdef double mid
        cdef long long bid_ticks, spread
        cdef BookTicker* t
        while k > 0:
            k -= 1
            s = self._next_sym
            self._next_sym = s + 1 if s + 1 < self.n_symbols else 0
            mid = self._mid[s] * (1.0 + self.vol * self._normal())
            if mid < 10 * self.tick_size:
                mid = 10 * self.tick_size          # a walk never reaches zero
            self._mid[s] = mid
            spread = 1 + <long long>(self._next() % 3)
            bid_ticks = llround(mid * self._scale - 0.5 * spread)
            t = ring.claim()
            t.ts = ts
            t.update_id = 0
            t.sym = s
            t.bid = bid_ticks / self._scale
            t.ask = (bid_ticks + spread) / self._scale
            t.bid_qty = self._size(t.bid)
            t.ask_qty = self._size(t.ask)
        return n

    def generate(self, TickRing ring not None, int64_t ts, int n):
        """Python API: write n ticks stamped ts into ring."""
        if n < 0:
            raise ValueError("n must be >= 0")
        return self.fill_c(ring, ts, n)

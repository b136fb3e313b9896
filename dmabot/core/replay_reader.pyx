"""MdLineReader: the replay's hot loop over JSONL lines (see replay.pxd)."""
from libc.math cimport isfinite
from libc.stdint cimport INT64_MAX, int32_t, int64_t
from libc.stdlib cimport strtod
from libc.string cimport memchr, memcmp

from dmabot.core.symbols cimport SymbolTable
from dmabot.core.pipeline cimport Pipeline
from dmabot.core.types cimport BookTicker


cpdef enum ReadStop:
    END = 0          # every whole line consumed; `pos` is where an unfinished line starts
    TIMER = 1        # the Md line at `pos` is stamped at or after `stop_ts`: run timers first
    ORDERS = 2       # a tick made orders (new venue timers may be due sooner); continue at `pos`
    OTHER = 3        # the line at `pos` (ending at `value`) is for Python; continue at value + 1


cdef inline const char* _expect(const char* p, const char* end, const char* lit, Py_ssize_t n) noexcept nogil:
    if end - p < n or memcmp(p, lit, n) != 0:
        return NULL
    return p + n


cdef inline const char* _int64(const char* p, const char* end, int64_t* out) noexcept nogil:
    cdef int64_t v = 0
    cdef bint negative = False
    cdef const char* start
    if p < end and p[0] == c'-':
        negative = True
        p += 1
    start = p
    while p < end and c'0' <= p[0] <= c'9' and p - start < 18:
        v = v * 10 + (p[0] - c'0')
        p += 1
    if p == start or (p < end and c'0' <= p[0] <= c'9'):
        return NULL
    out[0] = -v if negative else v
    return p


cdef double _POW10[16]
_POW10[:] = [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15]


cdef inline const char* _number(const char* p, const char* end, double* out) noexcept nogil:
    """A JSON number as strtod would read it. The recorder's plain decimals of up to 15
    digits take the fast road: the digits are an exact integer below 2**53 and 10**k is
    exact, so one IEEE division gives the correctly rounded value, as strtod does."""
    cdef const char* q = p
    cdef const char* digits_start
    cdef unsigned long long mantissa = 0
    cdef int n_digits = 0, n_frac = 0
    cdef bint negative = False
    cdef char* stop
    if q < end and q[0] == c'-':
        negative = True
        q += 1
    digits_start = q
    while q < end and c'0' <= q[0] <= c'9':
        mantissa = mantissa * 10 + <unsigned long long>(q[0] - c'0')
        n_digits += 1
        q += 1
    if q == digits_start:
        return NULL                  # strtod would take "nan", "inf", hex: none are ours
    if q < end and q[0] == c'.':
        q += 1
        while q < end and c'0' <= q[0] <= c'9':
            mantissa = mantissa * 10 + <unsigned long long>(q[0] - c'0')
            n_digits += 1
            n_frac += 1
            q += 1
    if n_digits <= 15 and (q == end or (q[0] != c'e' and q[0] != c'E')):
        out[0] = (-<double>mantissa if negative else <double>mantissa) / _POW10[n_frac]
        return q
    out[0] = strtod(p, &stop)        # long or exponent forms: the C library's exact reading
    if stop == p or stop > end or not isfinite(out[0]):
        return NULL
    return stop


cdef class MdLineReader:

    def __init__(self, Pipeline pipeline not None, SymbolTable symbols not None):
        if len(symbols) != pipeline.n_symbols:
            raise ValueError("the symbol table and the pipeline disagree on the symbols")
        self.pipeline = pipeline
        self.symbols = symbols

    cdef bint _parse(self, const char* p, const char* end, BookTicker* t) noexcept:
        """The recorder's layout exactly: {"Md":{"ts":..,"symbol":"..","bid":..,"bid_qty":..,
        "ask":..,"ask_qty":..,"u":..}}"""
        cdef const char* name
        cdef int32_t sym
        p = _expect(p, end, b'{"Md":{"ts":', 12)
        if p == NULL or (p := _int64(p, end, &t.ts)) == NULL:
            return False
        if (p := _expect(p, end, b',"symbol":"', 11)) == NULL:
            return False
        name = p
        p = <const char*>memchr(p, c'"', end - p)
        if p == NULL:
            return False
        sym = self.symbols.lookup_c(<const unsigned char*>name, p - name)
        if sym < 0:
            return False
        t.sym = sym
        if (p := _expect(p, end, b'","bid":', 8)) == NULL or (p := _number(p, end, &t.bid)) == NULL:
            return False
        if (p := _expect(p, end, b',"bid_qty":', 11)) == NULL or (p := _number(p, end, &t.bid_qty)) == NULL:
            return False
        if (p := _expect(p, end, b',"ask":', 7)) == NULL or (p := _number(p, end, &t.ask)) == NULL:
            return False
        if (p := _expect(p, end, b',"ask_qty":', 11)) == NULL or (p := _number(p, end, &t.ask_qty)) == NULL:
            return False
        if (p := _expect(p, end, b',"u":', 5)) == NULL or (p := _int64(p, end, &t.update_id)) == NULL:
            return False
        if _expect(p, end, b'}}', 2) != p + 2 or p + 2 != end:
            return False
        # what the live feed would never have let through
        return t.bid > 0 and t.ask > 0 and t.bid <= t.ask and t.bid_qty >= 0 and t.ask_qty >= 0

    def feed(self, const unsigned char[::1] buf, Py_ssize_t pos, int64_t stop_ts=INT64_MAX):
        """Run whole lines of buf from pos: (ReadStop, pos, value); see ReadStop."""
        cdef const char* base = <const char*>&buf[0] if buf.shape[0] else NULL
        cdef Py_ssize_t n = buf.shape[0]
        cdef const char* line
        cdef const char* nl
        cdef BookTicker tick
        cdef BookTicker* slot
        cdef int64_t orders_before
        cdef Pipeline p = self.pipeline
        while pos < n:
            line = base + pos
            nl = <const char*>memchr(line, c'\n', n - pos)
            if nl == NULL:
                return ReadStop.END, pos, 0
            if not self._parse(line, nl, &tick):
                self.lines += 1
                return ReadStop.OTHER, pos, nl - base
            if tick.ts >= stop_ts:
                return ReadStop.TIMER, pos, tick.ts
            self.lines += 1
            self.ticks += 1
            pos = nl - base + 1
            slot = p.ring.claim()
            slot[0] = tick
            orders_before = p._next_order_id
            p.drain()
            if p._next_order_id != orders_before:
                return ReadStop.ORDERS, pos, 0
        return ReadStop.END, pos, 0

"""JsonlBuffer: JSON lines built in C for the recorder's hot events (see jsonl.pxd).

Numbers are written so that parsing them back gives the same double: values on a grid of
1e-8 (prices and quantities from a venue or the mock feed) print as short decimals, all
others with 17 significant digits.
"""
from libc.math cimport fabs, isfinite, llround
from libc.stdint cimport int64_t
from libc.stdio cimport snprintf
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, strlen

# Below this magnitude v * 1e8 rounds to an integer < 2**53, so the division check is exact.
cdef double FIXED_LIMIT = 9e7


cdef size_t _format_uint(char* buf, unsigned long long v) noexcept nogil:
    cdef char tmp[24]
    cdef size_t n = 0, i
    if v == 0:
        buf[0] = c'0'
        return 1
    while v:
        tmp[n] = <char>(c'0' + v % 10)
        v //= 10
        n += 1
    for i in range(n):
        buf[i] = tmp[n - 1 - i]
    return n


cdef long long NOT_ON_GRID = -(1LL << 62)


cdef inline int _trailing_zeros(long long n) noexcept nogil:
    cdef int k = 0
    while k < 8 and n % 10 == 0:
        n //= 10
        k += 1
    return k


cdef inline long long _grid_units(double v) noexcept nogil:
    """n such that n / 1e8 parses back to v, the shortest such decimal, or NOT_ON_GRID.

    v * 1e8 may round to a neighbour of the right integer, and near FIXED_LIMIT a double
    spans more than one 1e-8 step, so the neighbours are tried and the one with the most
    trailing zeros wins."""
    cdef long long guess = llround(v * 1e8)
    cdef long long best = NOT_ON_GRID
    cdef long long n = guess - 1
    while n <= guess + 1:
        if <double>n / 1e8 == v and (best == NOT_ON_GRID or _trailing_zeros(n) > _trailing_zeros(best)):
            best = n
        n += 1
    return best


cdef size_t format_double(char* buf, double v) noexcept nogil:
    cdef long long scaled
    cdef size_t n = 0, int_len
    cdef unsigned long long ip, fp
    cdef int digits, i
    if not isfinite(v):
        memcpy(buf, b"null", 4)       # JSON has no NaN or infinity
        return 4
    if fabs(v) < FIXED_LIMIT:
        scaled = _grid_units(v)
        if scaled != NOT_ON_GRID:
            if scaled < 0:
                buf[0] = c'-'
                n = 1
                scaled = -scaled
            ip = <unsigned long long>scaled // 100000000
            fp = <unsigned long long>scaled % 100000000
            int_len = _format_uint(buf + n, ip)
            n += int_len
            buf[n] = c'.'
            n += 1
            if fp == 0:
                buf[n] = c'0'
                return n + 1
            digits = 8
            while fp % 10 == 0:
                fp //= 10
                digits -= 1
            # left-pad the fraction with zeros to `digits` places
            int_len = _format_uint(buf + n + 8, fp)
            for i in range(digits - <int>int_len):
                buf[n + i] = c'0'
            memcpy(buf + n + digits - int_len, buf + n + 8, int_len)
            return n + digits
    return <size_t>snprintf(buf, 32, "%.17g", v)


cdef class JsonlBuffer:

    def __cinit__(self, size_t capacity=1 << 16):
        self._cap = capacity if capacity >= 256 else 256
        self._buf = <char*>malloc(self._cap)
        if self._buf == NULL:
            raise MemoryError()
        self._len = 0

    def __dealloc__(self):
        free(self._buf)

    cdef int _reserve(self, size_t extra) except -1:
        cdef size_t cap = self._cap
        cdef char* grown
        if self._len + extra <= cap:
            return 0
        while self._len + extra > cap:
            cap *= 2
        grown = <char*>realloc(self._buf, cap)
        if grown == NULL:
            raise MemoryError()
        self._buf = grown
        self._cap = cap
        return 0

    cdef void raw(self, const char* s, size_t n) noexcept:
        if self._reserve(n) == 0:
            memcpy(self._buf + self._len, s, n)
            self._len += n

    cdef void key(self, const char* k) noexcept:
        cdef size_t n = strlen(k)
        if self._reserve(n + 4) != 0:
            return
        if self._buf[self._len - 1] != c'{':
            self._buf[self._len] = c','
            self._len += 1
        self._buf[self._len] = c'"'
        memcpy(self._buf + self._len + 1, k, n)
        self._len += n + 1
        self._buf[self._len] = c'"'
        self._buf[self._len + 1] = c':'
        self._len += 2

    cdef void int64(self, int64_t v) noexcept:
        if self._reserve(24) != 0:
            return
        if v < 0:
            self._buf[self._len] = c'-'
            self._len += 1
            self._len += _format_uint(self._buf + self._len, <unsigned long long>(-(v + 1)) + 1)
        else:
            self._len += _format_uint(self._buf + self._len, <unsigned long long>v)

    cdef void num(self, double v) noexcept:
        if self._reserve(40) == 0:
            self._len += format_double(self._buf + self._len, v)

    cdef void string(self, const char* s) noexcept:
        cdef size_t n = strlen(s)
        if self._reserve(n + 2) != 0:
            return
        self._buf[self._len] = c'"'
        memcpy(self._buf + self._len + 1, s, n)
        self._buf[self._len + n + 1] = c'"'
        self._len += n + 2

    def __len__(self):
        return self._len

    def take(self):
        """The buffered lines as bytes; the buffer is emptied."""
        cdef bytes out = self._buf[:self._len]
        self._len = 0
        return out

    def append_line(self, bytes line):
        """Append one already-serialised JSON line (without its newline)."""
        self.raw(line, len(line))
        self.raw(b"\n", 1)


def format_number(double v):
    """Python API of format_double, for tests."""
    cdef char buf[40]
    cdef size_t n = format_double(buf, v)
    return buf[:n].decode()

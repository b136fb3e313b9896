from libc.stdint cimport int64_t


cdef class JsonlBuffer:
    """An append-only byte buffer of JSON lines with fast number formatting.

    The recorder owns the file; this holds whole lines until it flushes them, so a flush
    never writes half a line.
    """
    cdef char* _buf
    cdef size_t _len
    cdef size_t _cap

    cdef int _reserve(self, size_t extra) except -1
    cdef void raw(self, const char* s, size_t n) noexcept
    cdef void key(self, const char* k) noexcept     # writes ,"k": (or "k": first in an object)
    cdef void int64(self, int64_t v) noexcept
    cdef void num(self, double v) noexcept
    cdef void string(self, const char* s) noexcept  # caller guarantees nothing to escape

# Shortest exact form of v in buf (>= 32 bytes), not NUL-terminated; returns its length.
cdef size_t format_double(char* buf, double v) noexcept nogil

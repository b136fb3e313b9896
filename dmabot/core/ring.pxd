from libc.stdint cimport int64_t, uint64_t

from dmabot.core.types cimport BookTicker


cdef class TickRing:
    """Bounded single-producer single-consumer queue of BookTicker between feed and strategies.

    Full ring: the oldest tick is overwritten (a stale quote is worth less than a fresh
    one) and `dropped` counts it.
    """
    cdef BookTicker* _buf
    cdef uint64_t _mask
    cdef uint64_t _head     # next slot to write
    cdef uint64_t _tail     # next slot to read
    cdef readonly uint64_t capacity
    cdef readonly uint64_t pushed
    cdef readonly uint64_t dropped

    # Reserve the next slot and return it for the producer to fill in place.
    cdef BookTicker* claim(self) noexcept nogil
    cdef BookTicker* pop(self) noexcept nogil
    cdef inline uint64_t size(self) noexcept nogil:
        return self._head - self._tail

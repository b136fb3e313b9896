"""TickRing: preallocated power-of-two ring of BookTicker structs (see ring.pxd)."""
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport calloc, free

from dmabot.core.types cimport BookTicker


cdef class TickRing:

    def __cinit__(self, uint64_t capacity=4096):
        if capacity < 2 or capacity & (capacity - 1):
            raise ValueError(f"ring capacity must be a power of two >= 2, got {capacity}")
        self._buf = <BookTicker*>calloc(capacity, sizeof(BookTicker))
        if self._buf == NULL:
            raise MemoryError()
        self.capacity = capacity
        self._mask = capacity - 1

    def __dealloc__(self):
        free(self._buf)

    cdef BookTicker* claim(self) noexcept nogil:
        if self._head - self._tail == self.capacity:
            self._tail += 1
            self.dropped += 1
        cdef BookTicker* slot = &self._buf[self._head & self._mask]
        self._head += 1
        self.pushed += 1
        return slot

    cdef BookTicker* pop(self) noexcept nogil:
        if self._head == self._tail:
            return NULL
        cdef BookTicker* slot = &self._buf[self._tail & self._mask]
        self._tail += 1
        return slot

    def __len__(self):
        return self._head - self._tail

    # Python API, for tests and tools; the hot path uses claim()/pop().
    def push(self, int64_t ts, int32_t sym, double bid, double bid_qty, double ask,
             double ask_qty, int64_t update_id=0):
        cdef BookTicker* t = self.claim()
        t.ts = ts
        t.sym = sym
        t.bid = bid
        t.bid_qty = bid_qty
        t.ask = ask
        t.ask_qty = ask_qty
        t.update_id = update_id

    def pop_tuple(self):
        """(ts, sym, bid, bid_qty, ask, ask_qty, update_id) of the oldest tick, or None."""
        cdef BookTicker* t = self.pop()
        if t == NULL:
            return None
        return (t.ts, t.sym, t.bid, t.bid_qty, t.ask, t.ask_qty, t.update_id)

"""Symbol names -> index: an open-addressing hash table in C arrays (see symbols.pxd)."""
from libc.stdint cimport int32_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy


cdef inline uint32_t symbol_hash(const unsigned char* name, Py_ssize_t n) noexcept nogil:
    # Multiplicative hash of the first and last eight bytes (fewer for short names) and the
    # length: two loads and a multiply, where a byte-serial hash would chain n multiplies.
    cdef uint64_t head = 0
    cdef uint64_t tail = 0
    cdef Py_ssize_t i
    if n >= 8:
        head = load8(name)
        tail = load8(name + n - 8)
    else:
        for i in range(n):
            head |= <uint64_t>name[i] << (8 * i)
    cdef uint64_t h = (head ^ (tail >> 3) ^ <uint64_t>n) * 0x9E3779B97F4A7C15ULL
    return <uint32_t>(h ^ (h >> 32))     # fold the well-mixed high half into the low bits


cdef class SymbolTable:
    """Maps configured symbol names (uppercase, e.g. "BTCUSDT") to their index in `names`."""

    def __cinit__(self, names):
        self.names = tuple(names)
        self.index_by_name = {}
        cdef Py_ssize_t n = len(self.names)
        # At most a quarter full, so most lookups hit on the first probe.
        cdef uint32_t n_slots = 16
        while n_slots < 4 * n:
            n_slots *= 2
        self._keys = <unsigned char*>calloc(n * MAX_SYMBOL_BYTES + 1, 1)
        self._key_len = <Py_ssize_t*>calloc(n + 1, sizeof(Py_ssize_t))
        self._slots = <int32_t*>calloc(n_slots, sizeof(int32_t))
        if self._keys == NULL or self._key_len == NULL or self._slots == NULL:
            raise MemoryError()
        self._slot_mask = n_slots - 1
        cdef uint32_t slot
        for slot in range(n_slots):
            self._slots[slot] = -1
        cdef int32_t index
        cdef bytes key
        for index, name in enumerate(self.names):
            if not isinstance(name, str) or not name or name != name.upper():
                raise ValueError(f"symbol names are non-empty uppercase strings, got {name!r}")
            if name in self.index_by_name:
                raise ValueError(f"duplicate symbol {name!r}")
            key = name.encode("utf-8")
            if len(key) > MAX_SYMBOL_BYTES:
                raise ValueError(f"symbol {name!r} is longer than {MAX_SYMBOL_BYTES} bytes")
            self.index_by_name[name] = index
            memcpy(self._keys + index * MAX_SYMBOL_BYTES, <const char*>key, len(key))
            self._key_len[index] = len(key)
            slot = symbol_hash(<const unsigned char*><const char*>key,
                                len(key)) & self._slot_mask
            while self._slots[slot] >= 0:
                slot = (slot + 1) & self._slot_mask
            self._slots[slot] = index

    def __dealloc__(self):
        free(self._keys)
        free(self._key_len)
        free(self._slots)

    cdef int32_t lookup_c(self, const unsigned char* name, Py_ssize_t n) noexcept nogil:
        if n > MAX_SYMBOL_BYTES:
            return -1
        cdef uint32_t slot = symbol_hash(name, n) & self._slot_mask
        cdef int32_t index = self._slots[slot]
        while index >= 0:
            if (self._key_len[index] == n
                    and same_bytes(self._keys + index * MAX_SYMBOL_BYTES, name, n)):
                return index
            slot = (slot + 1) & self._slot_mask
            index = self._slots[slot]
        return -1

    def lookup(self, name):
        """Index of `name` (str, or its UTF-8 bytes), or -1 if it is not configured."""
        cdef bytes key = name.encode("utf-8") if isinstance(name, str) else bytes(name)
        return self.lookup_c(<const unsigned char*><const char*>key, len(key))

    def __len__(self):
        return len(self.names)

    def __repr__(self):
        return f"SymbolTable({list(self.names)!r})"

# Configured symbol names -> their index, in C arrays, so a decoder looks a name up without
# creating a Python object. Venue decoders cimport the table and the byte helpers below.
from libc.stdint cimport int32_t, uint32_t, uint64_t


cdef enum:
    # Longest symbol name in UTF-8 bytes; exchanges' are far shorter.
    MAX_SYMBOL_BYTES = 32


cdef inline uint64_t load8(const unsigned char* p) noexcept nogil:
    # Little-endian by construction; compilers make this one load on little-endian CPUs.
    return (<uint64_t>p[0] | <uint64_t>p[1] << 8 | <uint64_t>p[2] << 16 | <uint64_t>p[3] << 24
            | <uint64_t>p[4] << 32 | <uint64_t>p[5] << 40 | <uint64_t>p[6] << 48
            | <uint64_t>p[7] << 56)


cdef inline bint same_bytes(const unsigned char* a, const unsigned char* b,
                             Py_ssize_t n) noexcept nogil:
    # For the few bytes of a key or symbol an inline loop beats a call to memcmp.
    cdef Py_ssize_t i
    for i in range(n):
        if a[i] != b[i]:
            return False
    return True


cdef class SymbolTable:
    """Symbol name (UTF-8 bytes) -> index into the configured list, as an open-addressing
    hash table in C arrays so a lookup creates no Python object."""
    cdef readonly tuple names
    cdef dict index_by_name             # str -> index, for the decoders' slow paths
    cdef unsigned char* _keys           # names[i] at _keys + i * MAX_SYMBOL_BYTES
    cdef Py_ssize_t* _key_len
    cdef int32_t* _slots                # symbol index, or -1 for an empty slot
    cdef uint32_t _slot_mask

    # Index of the symbol spelled by name[0:n], or -1.
    cdef int32_t lookup_c(self, const unsigned char* name, Py_ssize_t n) noexcept nogil

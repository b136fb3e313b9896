"""Strict UTF-8 validation without decoding (see utf8.pxd)."""
from libc.stdint cimport uint64_t
from libc.string cimport memcpy

# One bit per byte: any set means a byte >= 0x80 in the word.
cdef uint64_t _HIGH_BITS = 0x8080808080808080ULL


cdef inline bint _is_continuation(unsigned char c) noexcept nogil:
    return (c & 0xC0) == 0x80


cdef bint utf8_valid(const unsigned char* data, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i = 0
    cdef uint64_t word
    cdef unsigned char c, c1
    while i < n:
        # Market data is ASCII: skip it eight bytes at a time.
        if i + 8 <= n:
            memcpy(&word, data + i, 8)
            if word & _HIGH_BITS == 0:
                i += 8
                continue
        c = data[i]
        if c < 0x80:
            i += 1
        elif c < 0xC2:
            # A lone continuation byte, or 0xC0/0xC1 which only start overlong forms.
            return False
        elif c < 0xE0:
            if i + 1 >= n or not _is_continuation(data[i + 1]):
                return False
            i += 2
        elif c < 0xF0:
            if i + 2 >= n:
                return False
            c1 = data[i + 1]
            if not _is_continuation(c1) or not _is_continuation(data[i + 2]):
                return False
            # E0 80..9F would be overlong; ED A0..BF encodes a UTF-16 surrogate.
            if (c == 0xE0 and c1 < 0xA0) or (c == 0xED and c1 >= 0xA0):
                return False
            i += 3
        elif c < 0xF5:
            if i + 3 >= n:
                return False
            c1 = data[i + 1]
            if (not _is_continuation(c1) or not _is_continuation(data[i + 2])
                    or not _is_continuation(data[i + 3])):
                return False
            # F0 80..8F would be overlong; F4 90.. is beyond U+10FFFF.
            if (c == 0xF0 and c1 < 0x90) or (c == 0xF4 and c1 >= 0x90):
                return False
            i += 4
        else:
            return False
    return True


def is_valid_utf8(const unsigned char[::1] data not None):
    """True iff `data` is well-formed UTF-8, exactly as bytes.decode("utf-8") judges it."""
    if data.shape[0] == 0:
        return True
    return utf8_valid(&data[0], data.shape[0])

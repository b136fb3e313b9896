# Strict UTF-8 validation (RFC 3629), shared by the frame reader (text frames must be UTF-8,
# RFC 6455 section 8.1) and the decoder (JSON strings with non-ASCII bytes).

# True iff data[0:n] is well-formed UTF-8: what bytes.decode("utf-8") accepts.
cdef bint utf8_valid(const unsigned char* data, Py_ssize_t n) noexcept nogil

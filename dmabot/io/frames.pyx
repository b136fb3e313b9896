"""Fast reader of server-to-client WebSocket data frames, and writer of client ones (see
frames.pxd)."""
import os

from libc.stdint cimport int64_t, uint64_t

from dmabot.core.utf8 cimport utf8_valid


cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX


cdef enum:
    OP_CONTINUATION = 0x0
    OP_TEXT = 0x1
    OP_BINARY = 0x2
    OP_CLOSE = 0x8
    OP_PING = 0x9
    OP_PONG = 0xA


cdef struct FrameHeader:
    bint fin
    int opcode
    Py_ssize_t header_len
    uint64_t payload_len


cdef FrameStop _parse_header(const unsigned char* p, Py_ssize_t available,
                             FrameHeader* header) noexcept nogil:
    # END here means: the header is complete and lawful for a client to receive.
    if available < 2:
        return INCOMPLETE
    cdef int opcode = p[0] & 0x0F
    cdef bint fin = p[0] & 0x80
    cdef uint64_t length = p[1] & 0x7F
    cdef Py_ssize_t header_len = 2
    cdef int i
    if not (opcode <= OP_BINARY or OP_CLOSE <= opcode <= OP_PONG):
        return BAD_OPCODE
    if opcode & 0x8 and (not fin or length > 125):
        return BAD_CONTROL
    if length == 126:
        if available < 4:
            return INCOMPLETE
        length = (<uint64_t>p[2] << 8) | p[3]
        if length <= 125:
            return BAD_LENGTH
        header_len = 4
    elif length == 127:
        if available < 10:
            return INCOMPLETE
        length = 0
        for i in range(2, 10):
            length = (length << 8) | p[i]
        if length <= 0xFFFF or length >> 63:
            return BAD_LENGTH
        header_len = 10
    if p[0] & 0x70:
        return RESERVED_BITS
    if p[1] & 0x80:
        return MASKED
    header.fin = fin
    header.opcode = opcode
    header.header_len = header_len
    header.payload_len = length
    return END


cdef class PayloadSink:
    cdef int take_payload_c(self, const char* data, Py_ssize_t n, int64_t ts) except -1:
        return PASSED

    def take_payload(self, const unsigned char[::1] payload not None, int64_t ts):
        """take_payload_c for a message put together in Python (a fragmented one)."""
        if payload.shape[0] == 0:
            return SinkStatus(self.take_payload_c(b"", 0, ts))
        return SinkStatus(self.take_payload_c(<const char*>&payload[0], payload.shape[0], ts))


cdef FrameStop read_frames_c(const unsigned char* data, Py_ssize_t n, Py_ssize_t start,
                             bint message_open, PayloadSink sink, int64_t ts,
                             uint64_t max_payload, FrameScan* scan) except? TOO_BIG:
    cdef Py_ssize_t pos = start
    cdef Py_ssize_t payload_start
    cdef Py_ssize_t frame_end
    cdef FrameHeader header
    cdef FrameStop stop
    scan.payload_start = -1
    while pos < n:
        scan.consumed = pos
        scan.frame_end = -1
        stop = _parse_header(data + pos, n - pos, &header)
        if stop != END:
            return stop
        payload_start = pos + header.header_len
        if header.payload_len > <uint64_t>(PY_SSIZE_T_MAX - payload_start):
            frame_end = PY_SSIZE_T_MAX
        else:
            frame_end = payload_start + <Py_ssize_t>header.payload_len
        scan.frame_end = frame_end
        if header.payload_len > max_payload:
            return TOO_BIG
        if header.opcode & 0x8:
            return CONTROL
        if message_open or not header.fin or header.opcode == OP_CONTINUATION:
            return FRAGMENT
        if frame_end > n:
            return INCOMPLETE
        # wsproto checks text as UTF-8 before anyone sees it; so must the fast path.
        if header.opcode == OP_TEXT and not utf8_valid(data + payload_start,
                                                       frame_end - payload_start):
            return INVALID_UTF8
        pos = frame_end
        if sink.take_payload_c(<const char*>data + payload_start,
                               frame_end - payload_start, ts) == PASSED:
            scan.consumed = pos
            scan.payload_start = payload_start
            return MESSAGE
    scan.consumed = pos
    scan.frame_end = -1
    return END


def read_frames(const unsigned char[::1] data not None, PayloadSink sink not None, int64_t ts,
                Py_ssize_t start=0, bint message_open=False,
                uint64_t max_payload=0xFFFFFFFFFFFFFFFF):
    """Walk the WebSocket frames in data[start:], handing plain data frames' payloads to `sink`.

    Returns (FrameStop, consumed, frame_end, payload_start) as offsets into `data`: see
    FrameScan in frames.pxd. Nothing is kept between calls; the caller keeps the bytes from
    `consumed` on.
    """
    cdef Py_ssize_t n = data.shape[0]
    if not 0 <= start <= n:
        raise ValueError(f"start {start} outside the buffer of {n} bytes")
    if start == n:
        return FrameStop.END, start, -1, -1
    cdef FrameScan scan
    cdef FrameStop stop = read_frames_c(&data[0], n, start, message_open, sink, ts, max_payload,
                                        &scan)
    return stop, scan.consumed, scan.frame_end, scan.payload_start


cdef extern from "Python.h":
    object PyBytes_FromStringAndSize(const char* v, Py_ssize_t n)
    char* PyBytes_AS_STRING(object o)


# Masking keys are drawn from os.urandom this many at a time: RFC 6455 5.3 wants each frame's
# key from a strong entropy source, and one getrandom call per 1024 frames keeps that off the
# hot path.
cdef enum:
    KEYS_PER_DRAW = 1024


cdef class ClientFrameWriter:
    """Client-to-server WebSocket data frames (RFC 6455 5.2), masked with a fresh key each.

    wsproto builds the same frames through several Python objects per call; an order frame
    is on the hot path, so here it is one allocation and one pass over the payload.
    """

    def __cinit__(self):
        self._keys = b""
        self._next_key = KEYS_PER_DRAW

    cpdef bytes text(self, bytes payload):
        """One final text frame carrying `payload` (UTF-8 JSON: the caller's to guarantee)."""
        return self._frame(0x81, payload)

    cdef bytes _frame(self, unsigned char first_byte, bytes payload):
        cdef Py_ssize_t n = len(payload)
        cdef Py_ssize_t header_len = 2 if n <= 125 else (4 if n <= 0xFFFF else 10)
        frame = PyBytes_FromStringAndSize(NULL, header_len + 4 + n)
        cdef unsigned char* out = <unsigned char*>PyBytes_AS_STRING(frame)
        cdef const unsigned char* src = <const unsigned char*>PyBytes_AS_STRING(payload)
        cdef int i
        out[0] = first_byte
        if n <= 125:
            out[1] = 0x80 | <unsigned char>n
        elif n <= 0xFFFF:
            out[1] = 0x80 | 126
            out[2] = <unsigned char>(n >> 8)
            out[3] = <unsigned char>n
        else:
            out[1] = 0x80 | 127
            for i in range(8):
                out[2 + i] = <unsigned char>((<uint64_t>n) >> (56 - 8 * i))
        cdef const unsigned char* key = self._take_key()
        cdef unsigned char* masked = out + header_len + 4
        cdef Py_ssize_t j
        for i in range(4):
            out[header_len + i] = key[i]
        for j in range(n):
            masked[j] = src[j] ^ key[j & 3]
        return frame

    cdef const unsigned char* _take_key(self):
        if self._next_key == KEYS_PER_DRAW:
            self._keys = os.urandom(4 * KEYS_PER_DRAW)
            self._next_key = 0
        self._next_key += 1
        return <const unsigned char*>PyBytes_AS_STRING(self._keys) + 4 * (self._next_key - 1)

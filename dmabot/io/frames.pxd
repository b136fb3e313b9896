# Server-to-client WebSocket frames (RFC 6455 section 5) of an open connection: the walk over
# plain data frames that feeds a PayloadSink in place. Everything else is wsproto's.
from libc.stdint cimport int64_t, uint64_t



# What a PayloadSink did with a payload.
cpdef enum SinkStatus:
    TAKEN = 0       # the sink dealt with it (a tick; a bad payload, counted by the sink)
    PASSED = 1      # not the sink's: the reader hands it to its owner as a MESSAGE


cdef class PayloadSink:
    """Where the frame walker puts each whole data message's payload, in place: a venue's
    decoder subclasses it (cimporting this module) and overrides take_payload_c. The base
    takes nothing, so every message reaches the reader's owner (the WebSocket API's way)."""
    # data[0:n] is one whole message, received at ts; valid only during the call.
    cdef int take_payload_c(self, const char* data, Py_ssize_t n, int64_t ts) except -1


# Why read_frames_c stopped. From BAD_OPCODE on, the frame breaks the protocol; the checks run
# in the order wsproto's FrameDecoder.parse_header runs them, after as many header bytes.
cpdef enum FrameStop:
    END = 0             # every byte was consumed
    INCOMPLETE = 1      # the frame at `consumed` is not all there yet
    MESSAGE = 2         # consumed a data frame whose payload the sink PASSED
    CONTROL = 3         # ping, pong or close
    FRAGMENT = 4        # FIN=0, a continuation, or any data frame while a message is open
    INVALID_UTF8 = 5    # a text frame that is not UTF-8 (wsproto closes with 1007)
    BAD_OPCODE = 6
    BAD_CONTROL = 7     # a fragmented control frame, or one longer than 125 bytes
    BAD_LENGTH = 8      # length not in its shortest encoding, or 64-bit with the top bit set
    RESERVED_BITS = 9   # RSV1-3 set while no extension is in use
    MASKED = 10         # a masked frame from the server
    TOO_BIG = 11        # a lawful header declaring more payload than max_payload


cdef struct FrameScan:
    Py_ssize_t consumed         # where the walk stopped: bytes before it are dealt with
    Py_ssize_t frame_end        # end of the frame at `consumed` if its header is complete, else -1
                                # (PY_SSIZE_T_MAX for lengths no buffer can reach)
    Py_ssize_t payload_start    # MESSAGE: where the payload begins; it ends at `consumed`


# Walk the frames of data[start:n]; hand each complete, final, unmasked text or binary frame's
# payload to `sink` (stamped ts) in place and stop at the first other one, at one the sink
# PASSED, or at a frame declaring more than max_payload bytes (TOO_BIG). With message_open
# (wsproto holds part of a fragmented message) every data frame is a FRAGMENT.
cdef FrameStop read_frames_c(const unsigned char* data, Py_ssize_t n, Py_ssize_t start,
                             bint message_open, PayloadSink sink, int64_t ts,
                             uint64_t max_payload, FrameScan* scan) except? TOO_BIG


cdef class ClientFrameWriter:
    cdef bytes _keys        # os.urandom output, 4 bytes per masking key
    cdef int _next_key      # index of the next unused key in _keys
    cpdef bytes text(self, bytes payload)
    cdef bytes _frame(self, unsigned char first_byte, bytes payload)
    cdef const unsigned char* _take_key(self)

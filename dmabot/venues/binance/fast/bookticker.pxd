# bookTicker payload -> BookTicker struct, with no Python object on the fast path. Other
# modules cimport the classes below to turn WebSocket payloads into ticks in place.
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

from dmabot.core.ring cimport TickRing
from dmabot.core.symbols cimport SymbolTable
from dmabot.core.types cimport BookTicker
from dmabot.io.frames cimport PayloadSink


# Why a payload did or did not become a tick. Checks run in this order and the first failing
# one is the answer, on the fast path and the fallback alike.
cpdef enum DecodeResult:
    OK = 0
    NOT_BOOK_TICKER = 1     # valid JSON, but a reply, an error or another stream's event
    BAD_JSON = 2
    MISSING_FIELD = 3       # a bookTicker lacking one of u, s, b, B, a, A
    BAD_UPDATE_ID = 4       # `u` is not an integer in [0, 2**63)
    UNKNOWN_SYMBOL = 5      # `s` is not a string naming a configured symbol
    BAD_NUMBER = 6          # b, B, a or A is not a string that float() reads
    NON_FINITE = 7
    NON_POSITIVE = 8        # a price or quantity <= 0
    CROSSED = 9             # bid > ask
    STALE = 10              # `u` <= the last accepted `u` of that symbol on this connection:
                            # duplicate or reordered (see BookTickerDecoder for the limit)


cdef enum:
    N_DECODE_RESULT = 11


# The stale filter's state for one symbol.
cdef struct UpdateOrder:
    int64_t last_update_id  # the last accepted `u`; -1 until the first tick since reset()
    int64_t stale_run       # STALE ticks in a row since the last accepted one


cdef class BookTickerDecoder(PayloadSink):
    """Decodes bookTicker payloads (raw or inside the combined-stream wrapper) and drops
    stale ones. Counts every DecodeResult. As the frame walker's PayloadSink it pushes ticks
    into `ring` and passes on what is valid JSON but no bookTicker."""
    cdef readonly SymbolTable symbols
    cdef readonly TickRing ring         # the sink's; None for a decoder used on its own
    # Payloads the fast scanner handed to ujson; the rest never left C.
    cdef readonly uint64_t slow_path
    # Payloads that were neither a bookTicker nor another well-formed message: bad ones, of
    # any reason. A plain field, so the feed can check it after every read.
    cdef readonly uint64_t dropped
    # Consecutive STALE ticks of one symbol after which the next is accepted as a new baseline.
    cdef readonly int64_t stale_run_limit
    # Ticks accepted that way: each is an update id that jumped back (or an absurd one before).
    cdef readonly uint64_t rebased
    cdef UpdateOrder* _order            # per symbol
    cdef uint64_t _counts[N_DECODE_RESULT]

    # Decode data[0:n] into *out (stamped with ts); *out is meaningful only on OK.
    # Raises only what ujson or the allocator raise for reasons other than bad input.
    cdef DecodeResult decode_c(self, const char* data, Py_ssize_t n, int64_t ts,
                               BookTicker* out) except? BAD_JSON
    # As decode_c, and on OK push the tick into the ring (nothing is claimed otherwise).
    cdef DecodeResult decode_into_ring_c(self, const char* data, Py_ssize_t n, int64_t ts,
                                         TickRing ring) except? BAD_JSON

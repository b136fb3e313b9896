"""bookTicker decoder: a byte scanner for the layouts Binance sends, ujson for everything else.

The scanner accepts a strict subset of JSON: the bare payload `{"u":..,"s":..,"b":..,"B":..,
"a":..,"A":..}` or the combined-stream wrapper `{"stream":"..","data":{..}}`, keys in any order,
JSON whitespace anywhere, strings without escapes or control bytes, `u` as a plain integer
(at most 18 digits, no leading zero) and prices as `digits[.digits]`. Whatever falls outside
that subset goes whole to the fallback, ujson.loads plus the same checks in Python, which is
the definition of the answer; the scanner only gets there faster.
"""
from cpython.conversion cimport PyOS_string_to_double
from libc.math cimport isfinite
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy

import ujson

from dmabot.core.ring cimport TickRing
from dmabot.core.symbols cimport SymbolTable, load8, same_bytes
from dmabot.core.types cimport BookTicker
from dmabot.io.frames cimport PASSED, TAKEN
from dmabot.core.utf8 cimport utf8_valid


# RawTick.seen: one bit per bookTicker key.
cdef enum:
    SEEN_U = 1
    SEEN_S = 2
    SEEN_BID = 4
    SEEN_BID_QTY = 8
    SEEN_ASK = 16
    SEEN_ASK_QTY = 32
    SEEN_ALL = 63

# RawTick.px slots, in the order the checks visit them.
cdef enum:
    PX_BID = 0
    PX_BID_QTY = 1
    PX_ASK = 2
    PX_ASK_QTY = 3
    N_PX = 4

# Longest price string the dtoa route copies to a NUL-terminated stack buffer.
cdef enum:
    MAX_PRICE_CHARS = 63

# Integers up to 2**53 are exact doubles.
cdef uint64_t _MAX_EXACT_MANTISSA = 9007199254740992ULL

# Bytes a plain string may hold: not the quote, the backslash or a control byte.
cdef bint _IN_PLAIN_STRING[256]
for _i in range(256):
    _IN_PLAIN_STRING[_i] = _i >= 0x20 and _i != 0x22 and _i != 0x5C

# 10**0 .. 10**19, enough for the scanner's 19 digits; each is an exact double (5**19 < 2**53).
cdef double _POW10[20]
_POW10[0] = 1.0
for _i in range(1, 20):
    _POW10[_i] = _POW10[_i - 1] * 10.0
del _i

# Default BookTickerDecoder.stale_run_limit. One connection delivers in order, so outside a
# duplicate or two a run of STALE ticks means the baseline is wrong (an absurd `u` accepted
# earlier, or the venue's ids reset under us), not that 16 ticks in a row came late.
STALE_RUN_LIMIT = 16

_BOOK_KEYS = frozenset(("u", "s", "b", "B", "a", "A"))
_PRICE_KEYS = ("b", "B", "a", "A")   # PX_BID, PX_BID_QTY, PX_ASK, PX_ASK_QTY


# What the scanners have read so far; both routes fill it and share _check().
cdef struct RawTick:
    uint32_t seen
    int32_t sym
    int64_t update_id
    double px[N_PX]


cdef inline bint _is_digit(unsigned char c) noexcept nogil:
    return <unsigned char>(c - 48) < 10     # bytes below '0' wrap around to >= 10


cdef inline const unsigned char* _skip_ws(const unsigned char* p,
                                          const unsigned char* end) noexcept nogil:
    # JSON whitespace only; ujson rejects the rest (\v, \f, NBSP), so must we. All four are
    # <= 0x20, so the usual non-space byte costs one comparison.
    while p < end and p[0] <= 0x20 and (p[0] == 0x20 or p[0] == 0x0A or p[0] == 0x0D
                                        or p[0] == 0x09):
        p += 1
    return p


cdef inline bint _starts_with(const unsigned char* p, const unsigned char* end,
                              const char* literal, Py_ssize_t n) noexcept nogil:
    return end - p >= n and same_bytes(p, <const unsigned char*>literal, n)


cdef inline uint32_t _key_bit(unsigned char key) noexcept nogil:
    if key == c'u':
        return SEEN_U
    if key == c's':
        return SEEN_S
    if key == c'b':
        return SEEN_BID
    if key == c'B':
        return SEEN_BID_QTY
    if key == c'a':
        return SEEN_ASK
    if key == c'A':
        return SEEN_ASK_QTY
    return 0


cdef inline int _px_slot(unsigned char key) noexcept nogil:
    if key == c'b':
        return PX_BID
    if key == c'B':
        return PX_BID_QTY
    if key == c'a':
        return PX_ASK
    return PX_ASK_QTY


cdef const unsigned char* _scan_update_id(const unsigned char* p, const unsigned char* end,
                                          int64_t* out) noexcept nogil:
    # 18 digits always fit int64; longer numbers, leading zeros, signs, fractions and
    # exponents are left to ujson (the caller gives up when the next byte is not , or }).
    cdef const unsigned char* q = p
    cdef int64_t value = 0
    while q < end and _is_digit(q[0]) and q - p < 18:
        value = value * 10 + (q[0] - 48)
        q += 1
    if q == p or (q < end and _is_digit(q[0])) or (p[0] == c'0' and q - p > 1):
        return NULL
    out[0] = value
    return q


cdef const unsigned char* _scan_plain_string(const unsigned char* p, const unsigned char* end,
                                             Py_ssize_t* length) noexcept nogil:
    # p at the opening quote. Escapes and raw control bytes are ujson's business; non-ASCII
    # bytes must be UTF-8, as ujson would reject (or repair) anything else.
    if p[0] != c'"':
        return NULL
    cdef const unsigned char* q = p + 1
    cdef unsigned char high = 0
    while q < end and _IN_PLAIN_STRING[q[0]]:
        high |= q[0]
        q += 1
    if q == end or q[0] != c'"':
        return NULL
    if high & 0x80 and not utf8_valid(p + 1, q - p - 1):
        return NULL
    length[0] = q - p - 1
    return q + 1


cdef inline bint _exact_decimal(uint64_t mantissa, Py_ssize_t n_frac,
                                double* out) noexcept nogil:
    # Clinger's fast path: mantissa and 10**n_frac (n_frac <= 19) are exact doubles, so one
    # IEEE division rounds correctly, giving the same double as float(). Trailing zeros of
    # Binance's 8-decimal strings are shed first to bring big quantities under 2**53.
    while mantissa > _MAX_EXACT_MANTISSA and n_frac > 0 and mantissa % 10 == 0:
        mantissa //= 10
        n_frac -= 1
    if mantissa > _MAX_EXACT_MANTISSA:
        return False
    out[0] = <double>mantissa / _POW10[n_frac]
    return True


cdef inline bint _eight_digits(uint64_t word) noexcept nogil:
    # Every byte in '0'..'9': high nibble 3, and adding 6 does not carry out of the nibble.
    return ((word & 0xF0F0F0F0F0F0F0F0ULL)
            | (((word + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)
            ) == 0x3333333333333333ULL


cdef inline uint64_t _eight_digits_value(uint64_t word) noexcept nogil:
    # SWAR: pairs, then quads, then all eight digits (first byte most significant).
    word -= 0x3030303030303030ULL
    word = word * 10 + (word >> 8)
    word = (((word & 0x000000FF000000FFULL) * 0x000F424000000064ULL)
            + (((word >> 16) & 0x000000FF000000FFULL) * 0x0000271000000001ULL)) >> 32
    return word & 0xFFFFFFFFULL


cdef inline const unsigned char* _scan_digits(const unsigned char* q, const unsigned char* end,
                                              uint64_t* mantissa) noexcept nogil:
    # Append the run of digits at q to *mantissa (wrapping past 19 digits); Binance's 8
    # decimals are one step.
    cdef uint64_t word
    while end - q >= 8:
        word = load8(q)
        if not _eight_digits(word):
            break
        mantissa[0] = mantissa[0] * 100000000 + _eight_digits_value(word)
        q += 8
    while q < end and _is_digit(q[0]):
        mantissa[0] = mantissa[0] * 10 + (q[0] - 48)
        q += 1
    return q


cdef const unsigned char* _scan_price(const unsigned char* p, const unsigned char* end,
                                      double* out) noexcept:
    # p at the opening quote of `"digits[.digits]"`.
    if p[0] != c'"':
        return NULL
    cdef const unsigned char* first = p + 1
    cdef const unsigned char* q = first
    cdef const unsigned char* fraction
    cdef uint64_t mantissa = 0     # wraps past 19 digits; only used when there are fewer
    cdef Py_ssize_t n_int
    cdef Py_ssize_t n_frac = 0
    cdef char text[MAX_PRICE_CHARS + 1]
    q = _scan_digits(q, end, &mantissa)
    n_int = q - first
    if n_int == 0 or q == end:
        return NULL
    if q[0] == c'.':
        q += 1
        fraction = q
        q = _scan_digits(q, end, &mantissa)
        n_frac = q - fraction
    if q == end or q[0] != c'"':
        return NULL
    if n_int + n_frac > 19 or not _exact_decimal(mantissa, n_frac, out):
        # Rare: more than 19 digits, or more than ~16 significant ones. Python's own dtoa,
        # on a C string.
        if q - first > MAX_PRICE_CHARS:
            return NULL
        memcpy(text, first, q - first)
        text[q - first] = 0
        out[0] = PyOS_string_to_double(text, NULL, NULL)
    return q + 1


cdef bint _scan(SymbolTable symbols, const unsigned char* p, const unsigned char* end,
                RawTick* raw) noexcept:
    # True when the payload is in the scanner's subset and *raw holds all of it.
    p = _skip_ws(p, end)
    if p == end or p[0] != c'{':
        return False
    p = _skip_ws(p + 1, end)
    if _starts_with(p, end, b'"stream"', 8) or _starts_with(p, end, b'"data"', 6):
        p = _scan_wrapper(symbols, p, end, raw)
    else:
        p = _scan_book(symbols, p, end, raw)
    return p != NULL and _skip_ws(p, end) == end


cdef const unsigned char* _scan_wrapper(SymbolTable symbols, const unsigned char* p,
                                        const unsigned char* end, RawTick* raw) noexcept:
    # p after the wrapper's `{`; exactly the keys "stream" (a string) and "data".
    cdef bint seen_stream = False
    cdef bint seen_data = False
    cdef Py_ssize_t length
    while True:
        if _starts_with(p, end, b'"stream"', 8) and not seen_stream:
            seen_stream = True
            p = _skip_ws(p + 8, end)
            if p == end or p[0] != c':':
                return NULL
            p = _skip_ws(p + 1, end)
            if p == end:
                return NULL
            p = _scan_plain_string(p, end, &length)
        elif _starts_with(p, end, b'"data"', 6) and not seen_data:
            seen_data = True
            p = _skip_ws(p + 6, end)
            if p == end or p[0] != c':':
                return NULL
            p = _skip_ws(p + 1, end)
            if p == end or p[0] != c'{':
                return NULL
            p = _scan_book(symbols, _skip_ws(p + 1, end), end, raw)
        else:
            return NULL
        if p == NULL:
            return NULL
        p = _skip_ws(p, end)
        if p == end:
            return NULL
        if p[0] == c'}':
            return p + 1 if seen_stream and seen_data else NULL
        if p[0] != c',':
            return NULL
        p = _skip_ws(p + 1, end)


cdef const unsigned char* _scan_book(SymbolTable symbols, const unsigned char* p,
                                     const unsigned char* end, RawTick* raw) noexcept:
    # p after the payload's `{` and any whitespace. Only the six one-letter keys, once each.
    cdef unsigned char key
    cdef uint32_t bit
    cdef Py_ssize_t length
    raw.seen = 0
    if p < end and p[0] == c'}':
        return p + 1
    while True:
        if end - p < 3 or p[0] != c'"' or p[2] != c'"':
            return NULL
        key = p[1]
        bit = _key_bit(key)
        if bit == 0 or raw.seen & bit:
            return NULL
        raw.seen |= bit
        p = _skip_ws(p + 3, end)
        if p == end or p[0] != c':':
            return NULL
        p = _skip_ws(p + 1, end)
        if p == end:
            return NULL
        if bit == SEEN_U:
            p = _scan_update_id(p, end, &raw.update_id)
        elif bit == SEEN_S:
            p = _scan_plain_string(p, end, &length)
            if p != NULL:
                raw.sym = symbols.lookup_c(p - 1 - length, length)
        else:
            p = _scan_price(p, end, &raw.px[_px_slot(key)])
        if p == NULL:
            return NULL
        p = _skip_ws(p, end)
        if p == end:
            return NULL
        if p[0] == c'}':
            return p + 1
        if p[0] != c',':
            return NULL
        p = _skip_ws(p + 1, end)


cdef DecodeResult _decode_slow(SymbolTable symbols, const char* data, Py_ssize_t n,
                               RawTick* raw) except? BAD_JSON:
    # The reference semantics. Returns OK with *raw filled for _check(), or the reason.
    try:
        message = ujson.loads(data[:n])
    except ValueError:
        return BAD_JSON
    if type(message) is dict and "stream" in message and "data" in message:
        message = message["data"]
    # Every spot stream event except bookTicker names its type in "e".
    if type(message) is not dict or "e" in message or _BOOK_KEYS.isdisjoint(message):
        return NOT_BOOK_TICKER
    if not _BOOK_KEYS.issubset(message):
        return MISSING_FIELD
    update_id = message["u"]
    if type(update_id) is not int or not 0 <= update_id < 2 ** 63:
        return BAD_UPDATE_ID
    symbol = message["s"]
    raw.sym = symbols.index_by_name.get(symbol, -1) if type(symbol) is str else -1
    if raw.sym < 0:
        return UNKNOWN_SYMBOL
    for slot, key in enumerate(_PRICE_KEYS):
        text = message[key]
        if type(text) is not str:
            return BAD_NUMBER
        try:
            raw.px[slot] = float(text)
        except ValueError:
            return BAD_NUMBER
    raw.update_id = update_id
    return OK


cdef DecodeResult _check(BookTickerDecoder decoder, RawTick* raw, int64_t ts,
                         BookTicker* out) noexcept nogil:
    # The checks after parsing, shared by both routes so they cannot drift apart.
    cdef int i
    if raw.sym < 0:
        return UNKNOWN_SYMBOL
    for i in range(N_PX):
        if not isfinite(raw.px[i]):
            return NON_FINITE
    for i in range(N_PX):
        if raw.px[i] <= 0.0:
            return NON_POSITIVE
    if raw.px[PX_BID] > raw.px[PX_ASK]:
        return CROSSED
    cdef UpdateOrder* order = &decoder._order[raw.sym]
    if raw.update_id <= order.last_update_id:
        if order.stale_run < decoder.stale_run_limit:
            order.stale_run += 1
            return STALE
        decoder.rebased += 1
    order.last_update_id = raw.update_id
    order.stale_run = 0
    out.ts = ts
    out.update_id = raw.update_id
    out.sym = raw.sym
    out.bid = raw.px[PX_BID]
    out.bid_qty = raw.px[PX_BID_QTY]
    out.ask = raw.px[PX_ASK]
    out.ask_qty = raw.px[PX_ASK_QTY]
    return OK


cdef class BookTickerDecoder:
    """Decodes Binance bookTicker payloads into BookTicker structs.

    `symbols` is a SymbolTable or a list of uppercase symbol names; a tick's `sym` is the
    index in it. Per symbol the last accepted update id `u` is kept, and a payload whose `u`
    is not greater is STALE (a duplicate or a reordered tick), with two ways out so that no
    id can freeze a symbol:

    - `reset()` forgets every symbol's last `u`; the feed calls it when a connection opens,
      since a bookTicker carries the whole top of book and the first one of a connection is
      a snapshot, whatever ids the venue used before (ids reset on the testnet).
    - after `stale_run_limit` STALE ticks of one symbol in a row, the next one that would be
      STALE is accepted instead and becomes the new baseline, counted in `rebased`: that
      undoes an absurd `u` (2**63 - 1) within a connection after a bounded number of drops.
      A connection delivers in order, so in normal operation a run never gets that long.
    """

    def __cinit__(self, symbols, TickRing ring=None, int64_t stale_run_limit=STALE_RUN_LIMIT):
        if stale_run_limit < 0:
            raise ValueError(f"stale_run_limit must be >= 0, got {stale_run_limit}")
        self.symbols = symbols if isinstance(symbols, SymbolTable) else SymbolTable(symbols)
        self.ring = ring
        self.stale_run_limit = stale_run_limit
        self._order = <UpdateOrder*>calloc(len(self.symbols.names) + 1, sizeof(UpdateOrder))
        if self._order == NULL:
            raise MemoryError()
        self.reset()

    def __dealloc__(self):
        free(self._order)

    def reset(self):
        """Start every symbol afresh: its next tick is accepted whatever its `u`."""
        cdef Py_ssize_t i
        for i in range(len(self.symbols.names)):
            self._order[i].last_update_id = -1
            self._order[i].stale_run = 0

    cdef DecodeResult decode_c(self, const char* data, Py_ssize_t n, int64_t ts,
                               BookTicker* out) except? BAD_JSON:
        cdef RawTick raw
        cdef DecodeResult result
        if _scan(self.symbols, <const unsigned char*>data, <const unsigned char*>data + n, &raw):
            if raw.seen == 0:
                result = NOT_BOOK_TICKER
            elif raw.seen != SEEN_ALL:
                result = MISSING_FIELD
            else:
                result = _check(self, &raw, ts, out)
        else:
            self.slow_path += 1
            result = _decode_slow(self.symbols, data, n, &raw)
            if result == OK:
                result = _check(self, &raw, ts, out)
        self._counts[<int>result] += 1
        self.dropped += result > NOT_BOOK_TICKER    # the bad reasons come after these two
        return result

    cdef DecodeResult decode_into_ring_c(self, const char* data, Py_ssize_t n, int64_t ts,
                                         TickRing ring) except? BAD_JSON:
        # Decode to the stack and copy on success, so a rejected payload never claims (and
        # on a full ring never overwrites) a slot.
        cdef BookTicker tick
        cdef DecodeResult result = self.decode_c(data, n, ts, &tick)
        if result == OK:
            ring.claim()[0] = tick
        return result

    cdef int take_payload_c(self, const char* data, Py_ssize_t n, int64_t ts) except -1:
        if self.ring is None:
            raise ValueError("a BookTickerDecoder is a PayloadSink only with a ring")
        if self.decode_into_ring_c(data, n, ts, self.ring) == NOT_BOOK_TICKER:
            return PASSED
        return TAKEN

    # Python API, for tests and tools; the feed's frames reach take_payload_c.

    def decode(self, bytes payload not None, int64_t ts=0):
        """Decode one payload: (DecodeResult, (ts, sym, bid, bid_qty, ask, ask_qty,
        update_id) or None). Counts and updates the stale filter like the hot path."""
        cdef BookTicker tick
        cdef DecodeResult result = self.decode_c(payload, len(payload), ts, &tick)
        if result != OK:
            return result, None
        return result, (tick.ts, tick.sym, tick.bid, tick.bid_qty, tick.ask, tick.ask_qty,
                        tick.update_id)

    def decode_into(self, TickRing ring not None, bytes payload not None, int64_t ts):
        """Decode one payload and push the tick into `ring` if OK; returns the DecodeResult."""
        return self.decode_into_ring_c(payload, len(payload), ts, ring)

    def decode_all_into(self, TickRing ring not None, list payloads not None, int64_t ts):
        """Decode a list of payloads (e.g. a recorded session) into `ring`; returns how many
        were OK."""
        cdef Py_ssize_t n_ok = 0
        cdef bytes payload
        for payload in payloads:
            n_ok += self.decode_into_ring_c(payload, len(payload), ts, ring) == OK
        return n_ok

    def counters(self):
        """{DecodeResult name: how many payloads ended with it}."""
        return {result.name: self._counts[<int>result] for result in DecodeResult}

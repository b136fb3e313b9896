"""``order.place`` requests of the Binance WebSocket API, signed and framed in one pass.

The signature covers the params sorted by name (docs/binance.md, Signing), so everything between the
per-order values is fixed text, prepared once per symbol; an order copies its client id,
price, quantity and timestamp between those pieces in a C buffer, signs the payload, and the
JSON goes out as one masked text frame. The request id is the client order id: unique per
order, so the reply names the order it answers without a lookup table.

The same request built in plain Python (tests/order_place_reference.py) is what the tests hold
this to, byte for byte, and that reference is held equal to `WsApiSession.request`'s signing:
an optimisation, not a second signing scheme. Values go in as given: quantity and price are
`filters.format_decimal` text, client ids `client_order_id` text, so none needs JSON escaping.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memcpy

from dmabot.io.frames cimport ClientFrameWriter

import ujson

cdef enum:
    MAX_RECV_WINDOW_MS = 60000
    MAX_VALUES = 256        # quantity and price together: Binance allows far less
    MAX_CLIENT_ID = 36

cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL

_SIDES = ("BUY", "SELL")
# order type -> (takes timeInForce, takes price), docs/binance.md, REST order entry
_TYPES = {"LIMIT": (True, True), "LIMIT_MAKER": (False, True), "MARKET": (False, False)}
_TIME_IN_FORCE = ("GTC", "IOC", "FOK")
cdef const char* _HEX = b"0123456789abcdef"


cdef class _Pieces:
    """The fixed text around one (side, type, time in force)'s values."""

    def __init__(self, bint needs_price, str sign_mid, str sign_tail, str json_mid, str json_tail):
        self.needs_price = needs_price
        self.sign_mid, self.sign_tail = sign_mid.encode(), sign_tail.encode()
        self.json_mid, self.json_tail = json_mid.encode(), json_tail.encode()


cdef class OrderPlaceWriter:
    """Prepared ``order.place`` requests for one symbol and one key (HMAC or Ed25519)."""

    def __init__(self, str symbol, credentials, str resp_type="RESULT", int recv_window_ms=5000):
        if not symbol.isascii() or not symbol.isalnum() or len(symbol) > 32:
            raise ValueError(f"symbol {symbol!r} is not up to 32 plain ASCII letters and digits")
        if not 0 < recv_window_ms <= MAX_RECV_WINDOW_MS:
            raise ValueError(f"recv_window_ms must be in (0, {MAX_RECV_WINDOW_MS}], got {recv_window_ms}")
        if resp_type not in ("ACK", "RESULT", "FULL"):
            raise ValueError(f"newOrderRespType {resp_type!r} is not ACK, RESULT or FULL")
        self.symbol = symbol
        key = credentials.api_key
        if len(key) > 1024:  # Binance keys have 64 characters; this bound keeps a request in the buffer
            raise ValueError(f"API key of {len(key)} characters")
        pads = credentials.hmac_pads()
        # HMAC: the pad states, copied per order; Ed25519: the key's own signer.
        self._inner, self._outer = pads if pads is not None else (None, None)
        self._sign = credentials.sign
        self._frames = ClientFrameWriter()
        self._combos = {}
        for side in _SIDES:
            for order_type, (needs_tif, needs_price) in _TYPES.items():
                for tif in _TIME_IN_FORCE if needs_tif else (None,):
                    tif_sign = f"&timeInForce={tif}" if tif else ""
                    tif_json = f',"timeInForce":"{tif}"' if tif else ""
                    self._combos[side, order_type, tif] = _Pieces(
                        needs_price,
                        f"&recvWindow={recv_window_ms}&side={side}&symbol={symbol}{tif_sign}&timestamp=",
                        f"&type={order_type}",
                        f'","recvWindow":{recv_window_ms},"side":"{side}","symbol":"{symbol}"{tif_json},"timestamp":',
                        f',"type":"{order_type}","signature":"')
        self._sign_head = f"apiKey={key}&newClientOrderId=".encode()
        self._sign_resp = f"&newOrderRespType={resp_type}".encode()
        self._json_head = ('","method":"order.place","params":{"apiKey":' + ujson.dumps(key)
                           + ',"newClientOrderId":"').encode()
        self._json_resp = f'","newOrderRespType":"{resp_type}'.encode()

    cpdef bytes build(self, object side, object order_type, object time_in_force, str quantity, object price,
                      str client_order_id, long long timestamp_ms):
        """The request's JSON text, UTF-8 (side, type and time in force as Binance spells them)."""
        cdef _Pieces pieces = self._pieces(side, order_type, time_in_force, price)
        cdef Py_ssize_t qty_len, px_len = 0, id_len
        cdef const char* qty = PyUnicode_AsUTF8AndSize(quantity, &qty_len)
        cdef const char* px = NULL
        cdef const char* cid = PyUnicode_AsUTF8AndSize(client_order_id, &id_len)
        cdef char ts[24]
        cdef Py_ssize_t ts_len = _format_int(timestamp_ms, ts)
        if pieces.needs_price:
            px = PyUnicode_AsUTF8AndSize(price, &px_len)
        # The values go in unescaped: only text JSON and the signature payload take as it is.
        if not _plain_number(qty, qty_len) or (pieces.needs_price and not _plain_number(px, px_len)):
            raise ValueError(f"quantity {quantity!r} or price {price!r} is not a plain decimal "
                             "(use filters.format_decimal)")
        if not 1 <= id_len <= MAX_CLIENT_ID or not _client_id(cid, id_len):
            raise ValueError(f"newClientOrderId {client_order_id!r} is not 1-36 of [A-Za-z0-9_-]")
        if qty_len + px_len > MAX_VALUES:
            raise ValueError("quantity or price is far longer than Binance allows")
        if timestamp_ms <= 0:
            raise ValueError(f"timestamp_ms must be positive, got {timestamp_ms}")
        # the signed payload: k=v&... sorted by name, apiKey included
        cdef char* out = self._buffer
        cdef Py_ssize_t n = _put(out, 0, self._sign_head)
        n = _copy(out, n, cid, id_len)
        n = _put(out, n, self._sign_resp)
        if pieces.needs_price:
            n = _copy(out, n, b"&price=", 7)
            n = _copy(out, n, px, px_len)
        n = _copy(out, n, b"&quantity=", 10)
        n = _copy(out, n, qty, qty_len)
        n = _put(out, n, pieces.sign_mid)
        n = _copy(out, n, ts, ts_len)
        n = _put(out, n, pieces.sign_tail)
        signature = self._signature(PyBytes_FromStringAndSize(out, n))
        # the JSON, the same values in the same order, signature last
        n = _copy(out, 0, b'{"id":"', 7)
        n = _copy(out, n, cid, id_len)
        n = _put(out, n, self._json_head)
        n = _copy(out, n, cid, id_len)
        n = _put(out, n, self._json_resp)
        if pieces.needs_price:
            n = _copy(out, n, b'","price":"', 11)
            n = _copy(out, n, px, px_len)
        n = _copy(out, n, b'","quantity":"', 14)
        n = _copy(out, n, qty, qty_len)
        n = _put(out, n, pieces.json_mid)
        n = _copy(out, n, ts, ts_len)
        n = _put(out, n, pieces.json_tail)
        n = _put(out, n, signature)
        n = _copy(out, n, b'"}}', 3)
        return PyBytes_FromStringAndSize(out, n)

    cpdef bytes frame(self, object side, object order_type, object time_in_force, str quantity, object price,
                      str client_order_id, long long timestamp_ms):
        """`build`'s request as one masked text frame, ready for the TLS connection."""
        return self._frames._frame(0x81, self.build(side, order_type, time_in_force, quantity, price,
                                                    client_order_id, timestamp_ms))

    cdef _Pieces _pieces(self, object side, object order_type, object time_in_force, object price):
        pieces = self._combos.get((side, order_type, time_in_force))
        if pieces is None:
            raise ValueError(f"no {side} {order_type} order with timeInForce={time_in_force}")
        if (<_Pieces>pieces).needs_price != (price is not None):
            raise ValueError(f"a {order_type} order {'needs' if (<_Pieces>pieces).needs_price else 'takes no'} price")
        return <_Pieces>pieces

    cdef bytes _signature(self, bytes payload):
        if self._inner is None:
            return self._sign(payload).encode("ascii")        # Ed25519: base64
        inner = self._inner.copy()
        inner.update(payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        cdef bytes digest = outer.digest()
        cdef bytes text = PyBytes_FromStringAndSize(NULL, 64)
        cdef char* out = PyBytes_AS_STRING(text)
        cdef const unsigned char* d = <const unsigned char*>PyBytes_AS_STRING(digest)
        cdef int i
        for i in range(32):
            out[2 * i] = _HEX[d[i] >> 4]
            out[2 * i + 1] = _HEX[d[i] & 15]
        return text


cdef bint _plain_number(const char* text, Py_ssize_t n) noexcept:
    """Digits with at most one '.', at least one digit: what format_decimal writes."""
    cdef Py_ssize_t i, dots = 0, digits = 0
    for i in range(n):
        if text[i] == 46:
            dots += 1
        elif 48 <= text[i] <= 57:
            digits += 1
        else:
            return False
    return digits > 0 and dots <= 1


cdef bint _client_id(const char* text, Py_ssize_t n) noexcept:
    """[A-Za-z0-9_-] only, as client_order_id writes them."""
    cdef Py_ssize_t i
    cdef char c
    for i in range(n):
        c = text[i]
        if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 95 or c == 45):
            return False
    return True


cdef inline Py_ssize_t _copy(char* out, Py_ssize_t at, const char* data, Py_ssize_t n) noexcept:
    memcpy(out + at, data, n)
    return at + n


cdef inline Py_ssize_t _put(char* out, Py_ssize_t at, bytes data) noexcept:
    return _copy(out, at, PyBytes_AS_STRING(data), len(data))


cdef Py_ssize_t _format_int(long long value, char* out) noexcept:
    """Decimal digits of `value` (> 0: a timestamp) into `out`; returns how many."""
    cdef char digits[24]
    cdef Py_ssize_t n = 0, i
    while True:
        digits[n] = 48 + value % 10
        value //= 10
        n += 1
        if value == 0:
            break
    for i in range(n):
        out[i] = digits[n - 1 - i]
    return n

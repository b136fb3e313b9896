# order.place requests of the Binance WebSocket API (see orderwire.pyx).
from dmabot.io.frames cimport ClientFrameWriter

cdef enum:
    BUFFER_SIZE = 4096      # one request's payload, then its JSON: a few hundred bytes each


cdef class _Pieces:
    cdef bint needs_price
    cdef bytes sign_mid, sign_tail, json_mid, json_tail


cdef class OrderPlaceWriter:
    cdef readonly str symbol
    cdef dict _combos                   # (side, type, time in force) -> _Pieces
    cdef bytes _sign_head, _sign_resp, _json_head, _json_resp
    cdef object _inner, _outer          # HMAC pad states (None for Ed25519)
    cdef object _sign                   # the credentials' signer, for Ed25519
    cdef ClientFrameWriter _frames
    cdef char _buffer[BUFFER_SIZE]
    cpdef bytes build(self, object side, object order_type, object time_in_force, str quantity, object price,
                      str client_order_id, long long timestamp_ms)
    cpdef bytes frame(self, object side, object order_type, object time_in_force, str quantity, object price,
                      str client_order_id, long long timestamp_ms)
    cdef _Pieces _pieces(self, object side, object order_type, object time_in_force, object price)
    cdef bytes _signature(self, bytes payload)

"""StreamReader's bounds and reassembly, with plain bytes: a frame or message over the limits
is a protocol error with close code 1009 before it is buffered; a fragmented message reaches
the owner whole through the base PayloadSink."""
from __future__ import annotations

import struct

from wsproto.connection import Connection, ConnectionType
from wsproto.events import CloseConnection

from dmabot.core.ring import TickRing
from dmabot.io.frames import FrameStop, PayloadSink, SinkStatus, read_frames
from dmabot.io.ws_reader import StreamEventKind, StreamReader
from dmabot.venues.binance.fast.bookticker import BookTickerDecoder
from tests.references.bookticker import SYMBOLS


def frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    if len(payload) <= 125:
        return bytes((first, len(payload))) + payload
    if len(payload) <= 0xFFFF:
        return bytes((first, 126)) + struct.pack("!H", len(payload)) + payload
    return bytes((first, 127)) + struct.pack("!Q", len(payload)) + payload


def close_code_sent(to_send: bytes) -> int:
    server = Connection(ConnectionType.SERVER)
    server.receive_data(to_send)
    (event,) = list(server.events())
    assert isinstance(event, CloseConnection)
    return event.code


def test_a_frame_declaring_2_63_bytes_is_refused_at_its_header():
    reader = StreamReader(PayloadSink(), max_frame_bytes=1 << 20)
    header = b"\x81\x7f" + struct.pack("!Q", 2**63 - 1)
    [event] = reader.receive_data(header + b"{" * 100, 0)
    assert (event.kind, event.code) == (StreamEventKind.PROTOCOL_ERROR, 1009)
    assert close_code_sent(event.to_send) == 1009
    assert reader.receive_data(b"x" * 1000, 1) == []        # nothing more is read or kept
    assert len(reader._pending) == 0


def test_frame_limit_holds_whether_the_frame_comes_whole_or_in_parts():
    for split in (False, True):
        reader = StreamReader(PayloadSink(), max_frame_bytes=100)
        data = frame(1, b"[" + b"1," * 60 + b"1]")
        events = (reader.receive_data(data[:10], 0) + reader.receive_data(data[10:], 0)) if split \
            else reader.receive_data(data, 0)
        assert [(e.kind, e.code) for e in events] == [(StreamEventKind.PROTOCOL_ERROR, 1009)]
    assert StreamReader(PayloadSink(), max_frame_bytes=100).receive_data(frame(1, b"[1]" + b" " * 97), 0)[0].kind \
        is StreamEventKind.MESSAGE


def test_a_fragmented_message_over_the_limit_is_refused():
    reader = StreamReader(PayloadSink(), max_frame_bytes=1000, max_message_bytes=2500)
    events = reader.receive_data(frame(1, b"[" * 900, fin=False), 0)
    events += reader.receive_data(frame(0, b"[" * 900, fin=False), 0)
    assert events == []
    [event] = reader.receive_data(frame(0, b"[" * 900, fin=False), 0)
    assert (event.kind, event.code) == (StreamEventKind.PROTOCOL_ERROR, 1009)
    assert "more than 2500 bytes" in event.reason


def test_a_fragmented_message_reaches_the_owner_whole():
    payload = b'{"subscriptionId":0,"event":{"e":"executionReport","s":"BTCUSDT"}}'
    reader = StreamReader(PayloadSink())
    data = frame(1, payload[:20], fin=False) + frame(0, payload[20:40], fin=False) + frame(0, payload[40:])
    events = [e for i in range(0, len(data), 7) for e in reader.receive_data(data[i:i + 7], 0)]
    assert [(e.kind, e.data) for e in events] == [(StreamEventKind.MESSAGE, payload)]


def test_the_base_sink_passes_everything_and_a_decoder_takes_its_ticks():
    assert PayloadSink().take_payload(b"{}", 0) is SinkStatus.PASSED
    ring = TickRing(4)
    tick = (b'{"u":1,"s":"%s","b":"1.0","B":"1.0","a":"2.0","A":"1.0"}' % SYMBOLS[0].encode())
    decoder = BookTickerDecoder(SYMBOLS, ring)
    assert decoder.take_payload(tick, 5) is SinkStatus.TAKEN and len(ring) == 1
    assert decoder.take_payload(b'{"result":null,"id":1}', 5) is SinkStatus.PASSED
    assert read_frames(frame(1, b"x" * 200), PayloadSink(), 0, 0, False, 199)[0] is FrameStop.TOO_BIG

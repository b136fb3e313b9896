"""The frame reader and StreamReader against plain wsproto, on random server byte streams."""
from __future__ import annotations

import struct

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection, ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate
from wsproto.frame_protocol import FrameProtocol, Opcode

from dmabot.core.ring import TickRing
from dmabot.core.utf8 import is_valid_utf8
from dmabot.io.frames import ClientFrameWriter, FrameStop, read_frames
from dmabot.io.ws_reader import StreamEventKind, StreamReader
from dmabot.venues.binance.fast.bookticker import BookTickerDecoder, DecodeResult
from tests.references.bookticker import SYMBOLS, payloads

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)
TICK = (b'{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000",'
        b'"a":"25.36520000","A":"40.66000000"}')
REPLY = b'{"result":null,"id":1}'


def frame(opcode, payload=b"", fin=True, rsv=0, mask=None, length_bytes=None):
    """A frame as a server would send it; mask and length_bytes let tests break the rules."""
    n = len(payload)
    if length_bytes is None:
        length_bytes = 0 if n <= 125 else 2 if n <= 0xFFFF else 8
    mask_bit = 0x80 if mask else 0
    header = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    if length_bytes == 0:
        header += bytes([mask_bit | n])
    elif length_bytes == 2:
        header += bytes([mask_bit | 126]) + struct.pack("!H", n)
    else:
        header += bytes([mask_bit | 127]) + struct.pack("!Q", n)
    if mask:
        header += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + payload


def drain(ring):
    ticks = []
    while (tick := ring.pop_tuple()) is not None:
        ticks.append(tick)
    return ticks


# --- read_frames, case by case -------------------------------------------------------------

def run_frames(data, message_open=False):
    ring = TickRing(16)
    return read_frames(data, BookTickerDecoder(SYMBOLS, ring), 1, 0, message_open), drain(ring)


@pytest.mark.parametrize("data, stop", [
    (frame(1, TICK) * 2, FrameStop.END),
    (frame(1, TICK)[:1], FrameStop.INCOMPLETE),
    (frame(1, TICK)[:-1], FrameStop.INCOMPLETE),
    (frame(1, b" " * 200)[:3], FrameStop.INCOMPLETE),            # 16-bit length cut
    (frame(1, b" " * 70000)[:9], FrameStop.INCOMPLETE),          # 64-bit length cut
    (frame(1, REPLY), FrameStop.MESSAGE),
    (frame(9, b"hi"), FrameStop.CONTROL),
    (frame(10), FrameStop.CONTROL),
    (frame(8, struct.pack("!H", 1000)), FrameStop.CONTROL),
    (frame(1, TICK, fin=False), FrameStop.FRAGMENT),
    (frame(0, TICK), FrameStop.FRAGMENT),
    (frame(1, b'"\xff"'), FrameStop.INVALID_UTF8),
    (frame(3, TICK), FrameStop.BAD_OPCODE),
    (frame(9, b"", fin=False), FrameStop.BAD_CONTROL),
    (frame(9, b"x" * 126), FrameStop.BAD_CONTROL),
    (frame(1, TICK, length_bytes=8), FrameStop.BAD_LENGTH),
    (frame(1, b" " * 200, length_bytes=8), FrameStop.BAD_LENGTH),
    (b"\x81\xff" + b"\x80" + b"\x00" * 7, FrameStop.BAD_LENGTH),  # top bit of 64-bit length
    (frame(1, TICK, rsv=4), FrameStop.RESERVED_BITS),
    (frame(1, TICK, mask=b"abcd"), FrameStop.MASKED),
])
def test_stops(data, stop):
    assert run_frames(data)[0][0] == stop


def test_positions_after_a_message_and_before_a_ping():
    data = frame(1, TICK) + frame(1, REPLY) + frame(9, b"p") + frame(1, TICK)
    (stop, consumed, frame_end, payload_start), ticks = run_frames(data)
    first = len(frame(1, TICK))
    assert (stop, consumed, frame_end) == (FrameStop.MESSAGE, first + 2 + len(REPLY),
                                           first + 2 + len(REPLY))
    assert data[payload_start:consumed] == REPLY
    assert len(ticks) == 1
    decoder = BookTickerDecoder(SYMBOLS, TickRing(16))
    assert read_frames(data, decoder, 1, consumed) == (
        FrameStop.CONTROL, consumed, consumed + 3, -1)


def test_message_open_hands_every_data_frame_over():
    assert run_frames(frame(1, TICK), message_open=True)[0][0] == FrameStop.FRAGMENT
    assert run_frames(frame(9, b""), message_open=True)[0][0] == FrameStop.CONTROL


@pytest.mark.parametrize("size", [125, 126, 127, 65535, 65536, 65537])
@pytest.mark.parametrize("opcode", [1, 2])
def test_length_encodings(size, opcode):
    # JSON allows trailing whitespace, so a tick can be padded to any length.
    (stop, consumed, _, _), ticks = run_frames(frame(opcode, TICK.ljust(size)))
    assert stop == FrameStop.END and len(ticks) == 1


def test_every_split_of_a_frame_is_incomplete_and_keeps_nothing():
    data = frame(1, TICK.ljust(300))
    for cut in range(len(data)):
        (stop, consumed, _, _), ticks = run_frames(data[:cut])
        assert (stop, consumed, ticks) == (FrameStop.END if cut == 0 else FrameStop.INCOMPLETE,
                                           0, [])


def test_the_decoder_never_reads_past_the_payload():
    # Each truncated payload is followed in the buffer by the rest of the tick: a scanner
    # that looked past the frame's end would find a whole bookTicker there.
    for cut in range(1, len(TICK)):
        data = frame(2, TICK[:cut]) + TICK[cut:]
        ring = TickRing(4)
        decoder = BookTickerDecoder(SYMBOLS, ring)
        read_frames(data, decoder, 0)
        assert (decoder.counters()["BAD_JSON"], len(ring)) == (1, 0), cut


def test_huge_declared_length_is_just_incomplete():
    data = b"\x82\x7f" + struct.pack("!Q", 2**63 - 1)
    (stop, consumed, frame_end, _), _ = run_frames(data)
    assert (stop, consumed) == (FrameStop.INCOMPLETE, 0) and frame_end > 2**62


def test_read_frames_rejects_a_bad_start():
    with pytest.raises(ValueError):
        read_frames(b"abc", BookTickerDecoder(SYMBOLS, TickRing(2)), 0, 4)


# --- UTF-8 ---------------------------------------------------------------------------------

def python_says_utf8(data):
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@PROPERTY
@given(st.one_of(st.binary(max_size=40),
                 st.text(max_size=20).map(lambda t: t.encode("utf-8", "surrogatepass")),
                 st.tuples(st.text(max_size=12), st.binary(max_size=3), st.text(max_size=12))
                 .map(lambda t: t[0].encode() + t[1] + t[2].encode())))
@example(b"\xed\xa0\x80")           # surrogate
@example(b"\xc0\xaf")               # overlong
@example(b"\xe0\x80\xaf")
@example(b"\xf0\x80\x80\xaf")
@example(b"\xf4\x90\x80\x80")       # above U+10FFFF
@example(b"\xf4\x8f\xbf\xbf")
@example(b"abcdefg\xe2\x82")        # truncated after a full ASCII word
def test_utf8_validator_agrees_with_python(data):
    assert is_valid_utf8(data) == python_says_utf8(data)


# --- StreamReader against wsproto ----------------------------------------------------------

def fragments(opcode, payload, cuts, pings):
    """A message split at `cuts`, with a ping after each fragment listed in `pings`."""
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(payload)}), len(payload)]
    out = b""
    for i, (start, end) in enumerate(zip(bounds, bounds[1:])):
        last = end == len(payload)
        out += frame(opcode if i == 0 else 0, payload[start:end], fin=last)
        if i in pings and not last:
            out += frame(9, b"mid-%d" % i)
    return out


tick_payloads = st.one_of(payloads(valid=True), payloads())
padded_ticks = st.tuples(payloads(valid=True),
                         st.sampled_from([0, 125, 126, 127, 65535, 65536, 65537])).map(
    lambda t: t[0].ljust(t[1]))
control_payloads = st.binary(max_size=125)

good_frames = st.one_of(
    st.builds(frame, st.sampled_from([1, 2]), tick_payloads),
    st.builds(frame, st.sampled_from([1, 2]), padded_ticks),
    st.builds(frame, st.just(1), st.sampled_from([REPLY, b'{"e":"serverShutdown","E":1}',
                                                  b"not json", b""])),
    st.builds(frame, st.just(9), control_payloads),
    st.builds(frame, st.just(10), control_payloads),
    st.builds(fragments, st.sampled_from([1, 2]), tick_payloads,
              st.lists(st.integers(0, 200), max_size=4), st.sets(st.integers(0, 4))),
)

ending_frames = st.sampled_from([
    frame(8, struct.pack("!H", 1000) + b"bye"),
    frame(8),
    frame(8, b"\x03"),                              # 1-byte close payload
    frame(8, struct.pack("!H", 999)),               # invalid close code
    frame(1, TICK, mask=b"\x01\x02\x03\x04"),
    frame(1, TICK, rsv=2),
    frame(7, b""),
    frame(1, TICK, length_bytes=2),
    frame(9, b"", fin=False),
    frame(9, b"x" * 126, length_bytes=2),
    frame(0, TICK),                                 # continuation with nothing to continue
    frame(1, TICK[:10], fin=False) + frame(1, TICK),  # new message inside a fragmented one
    frame(1, b'{"s":"\xff"}'),
    frame(1, "é".encode()[:1], fin=False) + frame(0, "é".encode()[1:] + b"\xff"),
    b"\x82\xff" + struct.pack("!Q", 2**63) + TICK,
])


@st.composite
def server_streams(draw):
    """(chunks, bytes): a server's frames, maybe ending in a close or a violation, cut
    at random points."""
    frames = draw(st.lists(good_frames, max_size=12))
    if draw(st.booleans()):
        frames.append(draw(ending_frames))
        frames += draw(st.lists(good_frames, max_size=2))
    data = b"".join(frames)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)])]


def reference_run(chunks):
    """Plain wsproto, messages decoded after reassembly."""
    connection = Connection(ConnectionType.CLIENT)
    decoder = BookTickerDecoder(SYMBOLS)
    ring = TickRing(1 << 12)
    events, parts = [], []
    for ts, chunk in enumerate(chunks):
        connection.receive_data(chunk)
        for event in connection.events():
            if isinstance(event, (TextMessage, BytesMessage)):
                parts.append(event.data)
                if event.message_finished:
                    payload = ("".join(parts).encode() if isinstance(event, TextMessage)
                               else b"".join(parts))
                    parts.clear()
                    if decoder.decode_into(ring, payload, ts) == DecodeResult.NOT_BOOK_TICKER:
                        events.append((StreamEventKind.MESSAGE, payload))
            elif isinstance(event, Ping):
                events.append((StreamEventKind.PING, event.payload))
            elif isinstance(event, Pong):
                events.append((StreamEventKind.PONG, event.payload))
            elif isinstance(event, CloseConnection):
                kind = (StreamEventKind.CLOSE
                        if connection.state is ConnectionState.REMOTE_CLOSING
                        else StreamEventKind.PROTOCOL_ERROR)
                events.append((kind, event.code, event.reason))
                return events, drain(ring), decoder.counters()
    return events, drain(ring), decoder.counters()


def fast_run(chunks):
    reader = StreamReader(BookTickerDecoder(SYMBOLS, TickRing(1 << 12)))
    events, sent = [], []
    for ts, chunk in enumerate(chunks):
        for event in reader.receive_data(chunk, ts):
            if event.kind in (StreamEventKind.CLOSE, StreamEventKind.PROTOCOL_ERROR):
                events.append((event.kind, event.code, event.reason))
            else:
                events.append((event.kind, event.data))
            sent.append(event.to_send)
    return (events, drain(reader.sink.ring), reader.sink.counters()), sent


def frames_sent(data):
    """What a server reads from the client's bytes (masked, as a client must send)."""
    server = FrameProtocol(client=False, extensions=[])
    server.receive_bytes(data)
    return [(frame.opcode, frame.payload) for frame in server.received_frames()]


def comparable(run):
    # wsproto reports invalid UTF-8 at a position within the bytes it decoded last, which
    # depends on how the frame arrived; the code is what matters.
    events, ticks, counters = run
    events = [e[:2] if e[0] is StreamEventKind.PROTOCOL_ERROR and e[1] == 1007 else e
              for e in events]
    return events, ticks, counters


@PROPERTY
@given(server_streams())
def test_stream_reader_agrees_with_wsproto(chunks):
    fast, sent = fast_run(chunks)
    assert comparable(fast) == comparable(reference_run(chunks))
    for (kind, *rest), to_send in zip(fast[0], sent):
        if kind is StreamEventKind.PING:
            assert frames_sent(to_send) == [(Opcode.PONG, rest[0])]
        elif kind in (StreamEventKind.CLOSE, StreamEventKind.PROTOCOL_ERROR):
            assert frames_sent(to_send)[0][0] is Opcode.CLOSE
        else:
            assert to_send == b""


def test_stream_reader_decodes_into_the_ring_across_splits():
    data = b"".join(frame(1, TICK.replace(b"400900217", b"%d" % u)) for u in range(1, 101))
    reader = StreamReader(BookTickerDecoder(SYMBOLS, TickRing(256)))
    for i in range(0, len(data), 37):
        assert reader.receive_data(memoryview(data)[i:i + 37], i) == []
    assert [t[6] for t in drain(reader.sink.ring)] == list(range(1, 101))
    assert reader.sink.slow_path == 0


def test_close_handshake():
    reader = StreamReader(BookTickerDecoder(SYMBOLS, TickRing(8)))
    [event] = reader.receive_data(frame(8, struct.pack("!H", 1001) + b"going away")
                                  + frame(1, TICK), 0)
    assert (event.kind, event.code, event.reason) == (StreamEventKind.CLOSE, 1001,
                                                      "going away")
    assert frames_sent(event.to_send) == [(Opcode.CLOSE, (1001, "going away"))]
    assert reader.state is ConnectionState.CLOSED
    assert len(reader.sink.ring) == 0
    assert reader.receive_data(frame(1, TICK), 1) == []


def test_close_we_started():
    reader = StreamReader(BookTickerDecoder(SYMBOLS, TickRing(8)))
    assert frames_sent(reader.send(CloseConnection(code=1000)))[0][0] is Opcode.CLOSE
    # Data still flows until the server answers.
    [event] = reader.receive_data(frame(1, TICK) + frame(8, struct.pack("!H", 1000)), 0)
    assert (event.kind, event.to_send) == (StreamEventKind.CLOSE, b"")
    assert len(reader.sink.ring) == 1 and reader.state is ConnectionState.CLOSED


def test_masked_frame_is_a_protocol_error():
    reader = StreamReader(BookTickerDecoder(SYMBOLS, TickRing(8)))
    [event] = reader.receive_data(frame(1, TICK) + frame(1, TICK, mask=b"abcd"), 0)
    assert (event.kind, event.code) == (StreamEventKind.PROTOCOL_ERROR, 1002)
    assert frames_sent(event.to_send)[0] == (Opcode.CLOSE, (1002, event.reason))
    assert len(reader.sink.ring) == 1


def test_connection_lost():
    reader = StreamReader(BookTickerDecoder(SYMBOLS, TickRing(8)))
    assert reader.receive_data(frame(1, TICK)[:5], 0) == []
    [event] = reader.receive_data(None, 1)
    assert (event.kind, event.code) == (StreamEventKind.CONNECTION_LOST, 1006)
    assert reader.receive_data(frame(1, TICK), 2) == []


def test_subscribe_is_sent_masked_through_wsproto():
    reader = StreamReader(BookTickerDecoder(SYMBOLS, TickRing(8)))
    request = '{"method":"SUBSCRIBE","params":["bnbusdt@bookTicker"],"id":1}'
    data = reader.send(TextMessage(data=request))
    assert data[1] & 0x80
    assert frames_sent(data) == [(Opcode.TEXT, request)]


def handshake(extensions=()):
    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="stream.binance.com", target="/ws",
                                            extensions=list(extensions))))
    request = next(server.events())
    accept = AcceptConnection(extensions=[PerMessageDeflate()] if request.extensions else [])
    return client, server, server.send(accept)


def test_after_handshake_takes_the_bytes_that_came_with_the_101():
    client, server, response = handshake()
    frames = b"".join(server.send(TextMessage(data=TICK.decode().replace("400900217", str(u))))
                      for u in (1, 2, 3))
    client.receive_data(response + frames + server.send(Ping(b"hb"))[:1])
    events = client.events()
    assert isinstance(next(events), AcceptConnection)
    reader = StreamReader.after_handshake(client, BookTickerDecoder(SYMBOLS, TickRing(8)))
    assert list(events) == []                      # wsproto has nothing left to deliver
    assert reader.receive_data(b"", 5) == []
    assert [t[6] for t in drain(reader.sink.ring)] == [1, 2, 3]
    [event] = reader.receive_data(server.send(Ping(b"hb"))[1:], 6)
    assert event.kind is StreamEventKind.PING
    server.receive_data(event.to_send)
    assert [type(e) for e in server.events()] == [Pong]


def test_after_handshake_refuses_extensions_and_unfinished_handshakes():
    client, _, response = handshake([PerMessageDeflate()])
    with pytest.raises(ValueError):
        StreamReader.after_handshake(client, BookTickerDecoder(SYMBOLS, TickRing(8)))
    client.receive_data(response)
    list(client.events())
    with pytest.raises(ValueError, match="extensions"):
        StreamReader.after_handshake(client, BookTickerDecoder(SYMBOLS, TickRing(8)))


# --- client frames --------------------------------------------------------------------------


def open_server() -> WSConnection:
    """A wsproto server past the opening handshake, to read what a client sends."""
    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="x", target="/ws-api/v3")))
    next(server.events())
    server.send(AcceptConnection())
    return server


@PROPERTY
@given(st.text(max_size=70_000))
@example("x" * 125)
@example("x" * 126)
@example("x" * 0xFFFF)
@example("x" * 0x10000)
def test_client_frames_are_read_by_wsproto_as_sent(text):
    server = open_server()
    server.receive_data(ClientFrameWriter().text(text.encode()))
    (event,) = server.events()
    assert isinstance(event, TextMessage) and event.data == text and event.message_finished


def test_client_frames_are_masked_with_a_fresh_key_each():
    writer = ClientFrameWriter()
    frames = [writer.text(b"same") for _ in range(3000)]  # past one draw of keys
    assert all(f[1] & 0x80 for f in frames)
    keys = {f[2:6] for f in frames}
    assert len(keys) > 2990  # 32-bit random keys: a handful of repeats at most

"""bookTicker decoding and frame reading: the Cython path against ujson + float() and plain
wsproto, measured in the same run so the ratio survives a noisy machine.

Each round handles N messages; the summary at the end divides the round's median by N.
"""
import random

import pytest
import ujson
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage

from dmabot.core.ring import TickRing
from dmabot.io.ws_reader import StreamReader
from dmabot.venues.binance.fast.bookticker import BookTickerDecoder

N = 10_000
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT"]
MIDS = {"BTCUSDT": 91250.0, "ETHUSDT": 3150.0, "BNBUSDT": 612.5, "SOLUSDT": 142.37}


def book_tickers(combined):
    """N payloads as Binance sends them: 8-decimal strings, ids rising per symbol."""
    rng = random.Random(7)
    payloads = []
    for u in range(1, N + 1):
        symbol = rng.choice(SYMBOLS)
        tick = MIDS[symbol] / 10_000
        bid = MIDS[symbol] + rng.randint(-50, 50) * tick
        data = (f'{{"u":{78451233019 + u},"s":"{symbol}","b":"{bid:.8f}",'
                f'"B":"{rng.uniform(0.001, 20):.8f}","a":"{bid + tick:.8f}",'
                f'"A":"{rng.uniform(0.001, 20):.8f}"}}')
        if combined:
            data = f'{{"stream":"{symbol.lower()}@bookTicker","data":{data}}}'
        payloads.append(data.encode())
    return payloads


PAYLOADS = {layout: book_tickers(layout == "combined") for layout in ("raw", "combined")}
SYMBOL_INDEX = {symbol: i for i, symbol in enumerate(SYMBOLS)}


def ujson_float(payloads):
    """The obvious Python decoder, minus every check the fast one makes."""
    loads = ujson.loads
    index = SYMBOL_INDEX
    for payload in payloads:
        message = loads(payload)
        data = message.get("data", message)
        (index[data["s"]], float(data["b"]), float(data["B"]), float(data["a"]),
         float(data["A"]))


# One ring for every round, warm like the feed's: a fresh one would put first-touch page
# faults into the timing.
RING = TickRing(1 << 14)


def fresh_decoder():
    # A new decoder per round: replaying the same ids into the old one would be all STALE.
    return (BookTickerDecoder(SYMBOLS), RING), {}


@pytest.mark.parametrize("layout", ["raw", "combined"])
def test_decode_fast(benchmark, record_per_message, layout):
    benchmark.group = f"decode-{layout}"
    payloads = PAYLOADS[layout]

    def decode(decoder, ring):
        assert decoder.decode_all_into(ring, payloads, 0) == N

    benchmark.pedantic(decode, setup=fresh_decoder, rounds=200, warmup_rounds=5)
    record_per_message("fast", N)


@pytest.mark.parametrize("layout", ["raw", "combined"])
def test_decode_baseline(benchmark, record_per_message, layout):
    benchmark.group = f"decode-{layout}"
    benchmark.pedantic(ujson_float, args=(PAYLOADS[layout],), rounds=30, warmup_rounds=2)
    record_per_message("baseline", N)


def frames(payloads):
    # A server's unmasked text frames: a client-side FrameProtocol would mask them.
    out = bytearray()
    for payload in payloads:
        out += bytes([0x81, len(payload)]) if len(payload) <= 125 else (
            bytes([0x81, 126]) + len(payload).to_bytes(2, "big"))
        out += payload
    return bytes(out)


STREAM = frames(PAYLOADS["combined"])
RECV_SIZES = {"one-buffer": len(STREAM), "recv-16k": 16384}


@pytest.mark.parametrize("recv", sorted(RECV_SIZES))
def test_stream_reader_fast(benchmark, record_per_message, recv):
    benchmark.group = f"stream-{recv}"
    size = RECV_SIZES[recv]

    def setup():
        return (StreamReader(BookTickerDecoder(SYMBOLS, RING)),), {}

    def read(reader):
        pushed = RING.pushed
        for start in range(0, len(STREAM), size):
            reader.receive_data(STREAM[start:start + size], start)
        assert RING.pushed - pushed == N

    benchmark.pedantic(read, setup=setup, rounds=100, warmup_rounds=3)
    record_per_message("fast", N)


@pytest.mark.parametrize("recv", sorted(RECV_SIZES))
def test_stream_reader_baseline(benchmark, record_per_message, recv):
    benchmark.group = f"stream-{recv}"
    size = RECV_SIZES[recv]

    def read():
        connection = Connection(ConnectionType.CLIENT)
        parts = []
        for start in range(0, len(STREAM), size):
            connection.receive_data(STREAM[start:start + size])
            for event in connection.events():
                if isinstance(event, TextMessage):
                    parts.append(event.data)
                    if event.message_finished:
                        ujson_float(["".join(parts)])
                        parts.clear()

    benchmark.pedantic(read, rounds=10, warmup_rounds=1)
    record_per_message("baseline", N)

"""BookTickerDecoder against the pure-Python reference, the Binance samples, and float()."""
from __future__ import annotations

import decimal

import pytest
import ujson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from dmabot.core.ring import TickRing
from dmabot.core.symbols import SymbolTable
from dmabot.venues.binance.fast.bookticker import STALE_RUN_LIMIT, BookTickerDecoder, DecodeResult
from tests.helpers.paths import TEST_DATA
from tests.references.bookticker import (
    SYMBOLS,
    ReferenceDecoder,
    decimal_text,
    messages,
    payloads,
    venue_decimals,
)

SAMPLES = TEST_DATA / "binance" / "ws_stream"
PROPERTY = settings(max_examples=400, deadline=None, derandomize=True)


def payload(u=1, s="BTCUSDT", b="100.5", B="1.0", a="100.6", A="2.0"):
    return ujson.dumps({"u": u, "s": s, "b": b, "B": B, "a": a, "A": A}).encode()


# --- against the reference -----------------------------------------------------------------

RESET = None    # in a sequence: a new connection, decoder.reset()


@PROPERTY
@given(st.lists(st.one_of(messages, st.just(RESET)), max_size=12),
       st.one_of(st.just(STALE_RUN_LIMIT), st.integers(0, 3)))
@example([b'{"u":5,"s":"BTCUSDT","b":"1","B":"1","a":"1","A":"1"}'] * 2, STALE_RUN_LIMIT)
@example([b'{"stream":"x","data":{"u":1,"s":"ETHUSDT","b":"2","B":"1","a":"1","A":"1"}}'],
         STALE_RUN_LIMIT)
@example([b'{"u":5,"s":"BTCUSDT","b":"1","B":"1","a":"1","A":"1"}', RESET,
          b'{"u":5,"s":"BTCUSDT","b":"1","B":"1","a":"1","A":"1"}'], STALE_RUN_LIMIT)
@example([b'{"u":5,"s":"BTCUSDT","b":"1","B":"1","a":"1","A":"1"}'] * 4, 2)
def test_decoder_matches_reference(sequence, stale_run_limit):
    decoder = BookTickerDecoder(SYMBOLS, stale_run_limit=stale_run_limit)
    reference = ReferenceDecoder(SYMBOLS, stale_run_limit)
    for ts, message in enumerate(sequence):
        if message is RESET:
            decoder.reset()
            reference.reset()
            continue
        assert decoder.decode(message, ts) == reference.decode(message, ts), message
    assert decoder.counters() == dict(reference.counts)
    assert decoder.rebased == reference.rebased
    assert decoder.dropped == sum(n for name, n in reference.counts.items()
                                  if name not in ("OK", "NOT_BOOK_TICKER"))


@settings(PROPERTY, max_examples=150)
@given(st.lists(payloads(valid=True), min_size=1, max_size=8))
def test_venue_layouts_stay_on_the_fast_path(sequence):
    decoder = BookTickerDecoder(SYMBOLS)
    reference = ReferenceDecoder(SYMBOLS)
    for message in sequence:
        assert decoder.decode(message) == reference.decode(message), message
    assert decoder.slow_path == 0


@PROPERTY
@given(venue_decimals.filter(lambda text: float(text) > 0))
@example("91249.99000000")
@example("0.00000001")
@example("9007199254740993")            # 2**53 + 1: not exact, rounds to even
@example("99999999.99999999")           # 16 significant digits above 2**53
@example("123456789012345678901234.5")
def test_prices_are_what_float_reads(text):
    decoder = BookTickerDecoder(SYMBOLS)
    result, tick = decoder.decode(payload(b=text, B=text, a=text, A=text))
    assert result == DecodeResult.OK
    assert tick[2:6] == (float(text),) * 4
    assert decoder.slow_path == 0


@PROPERTY
@given(st.integers(1, 10**15 - 1), st.integers(0, 8))
def test_venue_strings_come_back_with_15_significant_digits(units, decimals):
    text = decimal_text(units, decimals) + "0" * (8 - decimals)
    _, tick = BookTickerDecoder(SYMBOLS).decode(payload(b=text, a=text))
    assert decimal.Decimal("%.15g" % tick[2]) == decimal.Decimal(text)


# --- named cases ---------------------------------------------------------------------------

@pytest.mark.parametrize("message, expected", [
    (b'{"u":400900217,"s":"BNBUSDT","b":"25.35190000","B":"31.21000000",'
     b'"a":"25.36520000","A":"40.66000000"}', DecodeResult.OK),
    (b'{"result":null,"id":1}', DecodeResult.NOT_BOOK_TICKER),
    (b'{"e":"bookTicker","u":1,"s":"BTCUSDT","b":"1","B":"1","a":"1","A":"1"}',
     DecodeResult.NOT_BOOK_TICKER),
    (b'{"u":1,"s":"BTCUSDT"', DecodeResult.BAD_JSON),
    (b'{"u":1,"s":"BTCUSDT","b":"1","B":"1","a":"1"}', DecodeResult.MISSING_FIELD),
    (payload(u=-1), DecodeResult.BAD_UPDATE_ID),
    (payload(u=2**63), DecodeResult.BAD_UPDATE_ID),
    (payload(u="1"), DecodeResult.BAD_UPDATE_ID),
    (payload(s="XRPUSDT"), DecodeResult.UNKNOWN_SYMBOL),
    (payload(s="btcusdt"), DecodeResult.UNKNOWN_SYMBOL),
    (payload(b="abc"), DecodeResult.BAD_NUMBER),
    (payload(b=100.5), DecodeResult.BAD_NUMBER),
    (payload(B="NaN"), DecodeResult.NON_FINITE),
    (payload(a="inf"), DecodeResult.NON_FINITE),
    (payload(A="1e999"), DecodeResult.NON_FINITE),
    (payload(b="-100.5"), DecodeResult.NON_POSITIVE),
    (payload(B="0.00000000"), DecodeResult.NON_POSITIVE),
    (payload(b="100.7"), DecodeResult.CROSSED),
    (payload(b="100.6"), DecodeResult.OK),   # a locked book is not crossed
])
def test_each_result(message, expected):
    assert BookTickerDecoder(SYMBOLS).decode(message)[0] == expected


def test_stale_and_duplicate_updates_are_dropped_per_symbol():
    decoder = BookTickerDecoder(SYMBOLS)
    assert decoder.decode(payload(u=10))[0] == DecodeResult.OK
    assert decoder.decode(payload(u=10))[0] == DecodeResult.STALE
    assert decoder.decode(payload(u=9))[0] == DecodeResult.STALE
    assert decoder.decode(payload(u=5, s="ETHUSDT"))[0] == DecodeResult.OK
    assert decoder.decode(payload(u=11))[0] == DecodeResult.OK
    # A rejected tick does not move the filter.
    assert decoder.decode(payload(u=20, b="200"))[0] == DecodeResult.CROSSED
    assert decoder.decode(payload(u=12))[0] == DecodeResult.OK
    assert decoder.counters()["STALE"] == 2


def test_reset_starts_every_symbol_afresh():
    decoder = BookTickerDecoder(SYMBOLS)
    assert decoder.decode(payload(u=2**63 - 1))[0] == DecodeResult.OK
    assert decoder.decode(payload(u=7, s="ETHUSDT"))[0] == DecodeResult.OK
    assert decoder.decode(payload(u=5))[0] == DecodeResult.STALE
    decoder.reset()                         # a new connection: its first ticks are snapshots
    assert decoder.decode(payload(u=5))[0] == DecodeResult.OK
    assert decoder.decode(payload(u=1, s="ETHUSDT"))[0] == DecodeResult.OK
    assert decoder.decode(payload(u=5))[0] == DecodeResult.STALE
    assert decoder.rebased == 0


def test_a_run_of_stale_ticks_ends_in_a_new_baseline():
    decoder = BookTickerDecoder(SYMBOLS)
    assert decoder.stale_run_limit == STALE_RUN_LIMIT
    assert decoder.decode(payload(u=2**63 - 1))[0] == DecodeResult.OK
    results = [decoder.decode(payload(u=u))[0] for u in range(100, 100 + STALE_RUN_LIMIT + 3)]
    assert results == [DecodeResult.STALE] * STALE_RUN_LIMIT + [DecodeResult.OK] * 3
    assert decoder.rebased == 1
    # one late tick in between an accepted one starts no run: the filter stays strict
    assert decoder.decode(payload(u=100))[0] == DecodeResult.STALE
    assert decoder.decode(payload(u=1000))[0] == DecodeResult.OK
    assert decoder.decode(payload(u=999))[0] == DecodeResult.STALE
    assert decoder.rebased == 1
    with pytest.raises(ValueError):
        BookTickerDecoder(SYMBOLS, stale_run_limit=-1)


def test_whitespace_and_wrapper_in_any_order_are_fast():
    decoder = BookTickerDecoder(SYMBOLS)
    message = (b' {\n "data" : {"A":"2","a" : "3","B":"4" ,"b":"1","s":"ETHUSDT","u":7} ,'
               b'\t"stream":"ethusdt@bookTicker"}\r\n')
    assert decoder.decode(message, 5) == (DecodeResult.OK, (5, 1, 1.0, 4.0, 3.0, 2.0, 7))
    assert decoder.slow_path == 0


def test_escapes_and_extra_keys_take_the_fallback_with_the_same_answer():
    decoder = BookTickerDecoder(SYMBOLS)
    escaped = b'{"u":2,"s":"BTC\\u0055SDT","b":"1","B":"1","a":"1","A":"1"}'
    assert decoder.decode(escaped)[0] == DecodeResult.OK
    extra = b'{"u":3,"s":"BTCUSDT","b":"1","B":"1","a":"1","A":"1","x":[1]}'
    assert decoder.decode(extra)[0] == DecodeResult.OK
    assert decoder.slow_path == 2


def test_non_ascii_symbol_on_the_fast_path():
    decoder = BookTickerDecoder(SYMBOLS)
    result, tick = decoder.decode(payload(s="币安人生USDT").replace(
        ujson.dumps("币安人生USDT").encode(), '"币安人生USDT"'.encode()))
    assert result == DecodeResult.OK and tick[1] == 3
    assert decoder.slow_path == 0


def test_invalid_utf8_in_a_string_is_bad_json():
    decoder = BookTickerDecoder(SYMBOLS)
    assert decoder.decode(payload().replace(b"BTCUSDT", b"BTC\xffUSDT"))[0] \
        == DecodeResult.BAD_JSON


# --- samples -------------------------------------------------------------------------------

SAMPLE_RESULTS = {
    "bookticker_combined_btcusdt.json": DecodeResult.OK,
    "bookticker_combined_ethusdt.json": DecodeResult.OK,
    "bookticker_raw_btcusdt.json": DecodeResult.OK,
    "subscribe_response.json": DecodeResult.NOT_BOOK_TICKER,
    "unsubscribe_response.json": DecodeResult.NOT_BOOK_TICKER,
    "list_subscriptions_response.json": DecodeResult.NOT_BOOK_TICKER,
    "error_invalid_json.json": DecodeResult.NOT_BOOK_TICKER,
    "error_unknown_method.json": DecodeResult.NOT_BOOK_TICKER,
    "server_shutdown_raw.json": DecodeResult.NOT_BOOK_TICKER,
    "server_shutdown_combined.json": DecodeResult.NOT_BOOK_TICKER,
}


@pytest.mark.parametrize("name", sorted(SAMPLE_RESULTS))
def test_samples(name):
    raw = (SAMPLES / name).read_bytes()
    decoder = BookTickerDecoder(SYMBOLS)
    result, tick = decoder.decode(raw, 42)
    assert result == SAMPLE_RESULTS[name]
    assert (result, tick) == ReferenceDecoder(SYMBOLS).decode(raw, 42)
    if result == DecodeResult.OK:
        data = ujson.loads(raw)
        data = data.get("data", data)
        assert tick == (42, SYMBOLS.index(data["s"]), float(data["b"]), float(data["B"]),
                        float(data["a"]), float(data["A"]), data["u"])
        # Pretty-printed, but still the scanner's layout.
        assert decoder.slow_path == 0


def test_sample_files_are_present():
    assert sorted(p.name for p in SAMPLES.glob("*.json")) == sorted(SAMPLE_RESULTS)


# --- ring and symbol table -----------------------------------------------------------------

def test_decode_into_pushes_only_ok_ticks():
    decoder = BookTickerDecoder(SYMBOLS)
    ring = TickRing(8)
    assert decoder.decode_into(ring, payload(u=1), 7) == DecodeResult.OK
    assert decoder.decode_into(ring, payload(u=1), 8) == DecodeResult.STALE
    assert decoder.decode_into(ring, b"garbage", 9) == DecodeResult.BAD_JSON
    assert len(ring) == 1
    assert ring.pop_tuple() == (7, 0, 100.5, 1.0, 100.6, 2.0, 1)
    batch = [payload(u=u) for u in (2, 3, 3, 4)]
    assert decoder.decode_all_into(ring, batch, 10) == 3
    assert [ring.pop_tuple()[6] for _ in range(3)] == [2, 3, 4]


def test_symbol_table():
    table = SymbolTable(SYMBOLS)
    assert len(table) == 4 and table.names == tuple(SYMBOLS)
    assert [table.lookup(name) for name in SYMBOLS] == [0, 1, 2, 3]
    assert table.lookup("币安人生USDT".encode()) == 3
    assert table.lookup("XRPUSDT") == -1 and table.lookup("") == -1
    assert table.lookup("BTCUSDTBTCUSDTBTCUSDTBTCUSDTBTCUSDT") == -1
    big = SymbolTable([f"S{i}USDT" for i in range(1000)])
    assert all(big.lookup(f"S{i}USDT") == i for i in range(1000))
    assert SymbolTable([]).lookup("BTCUSDT") == -1


@pytest.mark.parametrize("names", [["btcusdt"], ["BTCUSDT", "BTCUSDT"], [""], ["X" * 33], [1]])
def test_symbol_table_rejects(names):
    with pytest.raises(ValueError):
        SymbolTable(names)

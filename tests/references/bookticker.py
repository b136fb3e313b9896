"""Pure-Python reference for the bookTicker decoder, and hypothesis strategies for payloads.

The reference is the specification: ujson.loads, then the checks in DecodeResult order. The
strategies write JSON by hand so that layout (key order, whitespace, wrapper, escapes) and
values (numbers as venue strings or as anything else) vary independently.
"""
from __future__ import annotations

import math
from collections import Counter

import ujson
from hypothesis import strategies as st

from dmabot.venues.binance.fast.bookticker import STALE_RUN_LIMIT, DecodeResult

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "币安人生USDT"]
BOOK_KEYS = frozenset("usbBaA")


class ReferenceDecoder:
    """What BookTickerDecoder must answer, written for clarity instead of speed."""

    def __init__(self, names, stale_run_limit=STALE_RUN_LIMIT):
        self.index = {name: i for i, name in enumerate(names)}
        self.stale_run_limit = stale_run_limit
        self.last_update_id = {}
        self.stale_run = {}
        self.rebased = 0
        self.counts = Counter({result.name: 0 for result in DecodeResult})

    def reset(self):
        """A new connection: every symbol's next tick is accepted."""
        self.last_update_id.clear()
        self.stale_run.clear()

    def decode(self, payload, ts=0):
        result, tick = self._decode(payload, ts)
        self.counts[result.name] += 1
        return result, tick

    def _decode(self, payload, ts):
        try:
            message = ujson.loads(payload)
        except ValueError:
            return DecodeResult.BAD_JSON, None
        if isinstance(message, dict) and "stream" in message and "data" in message:
            message = message["data"]
        if not isinstance(message, dict) or "e" in message or not BOOK_KEYS & message.keys():
            return DecodeResult.NOT_BOOK_TICKER, None
        if not BOOK_KEYS <= message.keys():
            return DecodeResult.MISSING_FIELD, None
        update_id, symbol = message["u"], message["s"]
        if type(update_id) is not int or not 0 <= update_id < 2**63:
            return DecodeResult.BAD_UPDATE_ID, None
        if not isinstance(symbol, str) or symbol not in self.index:
            return DecodeResult.UNKNOWN_SYMBOL, None
        sym = self.index[symbol]
        values = []
        for key in "bBaA":
            try:
                values.append(float(message[key]) if isinstance(message[key], str) else None)
            except ValueError:
                values.append(None)
        if None in values:
            return DecodeResult.BAD_NUMBER, None
        if not all(math.isfinite(v) for v in values):
            return DecodeResult.NON_FINITE, None
        if any(v <= 0 for v in values):
            return DecodeResult.NON_POSITIVE, None
        bid, bid_qty, ask, ask_qty = values
        if bid > ask:
            return DecodeResult.CROSSED, None
        if update_id <= self.last_update_id.get(sym, -1):
            # Stale, unless it ends a run of stale_run_limit: then it is the new baseline.
            if self.stale_run.get(sym, 0) < self.stale_run_limit:
                self.stale_run[sym] = self.stale_run.get(sym, 0) + 1
                return DecodeResult.STALE, None
            self.rebased += 1
        self.last_update_id[sym] = update_id
        self.stale_run[sym] = 0
        return DecodeResult.OK, (ts, sym, bid, bid_qty, ask, ask_qty, update_id)


# --- strategies: JSON tokens as text --------------------------------------------------------

whitespace = st.text(alphabet=" \t\n\r", max_size=2)


def decimal_text(units: int, decimals: int) -> str:
    """units / 10**decimals written with exactly `decimals` digits after the point."""
    if decimals == 0:
        return str(units)
    digits = str(units).rjust(decimals + 1, "0")
    return f"{digits[:-decimals]}.{digits[-decimals:]}"


# Decimal strings in the scanner's grammar, from Binance's 8-decimal form to the long ones
# that need dtoa.
venue_decimals = st.one_of(
    st.builds(decimal_text, st.integers(1, 10**16), st.just(8)),
    st.builds(decimal_text, st.integers(0, 10**19), st.integers(0, 24)),
    st.from_regex(r"\A[0-9]{1,30}(\.[0-9]{0,30})?\Z"),
)

# Strings float() may or may not read, which the scanner must leave to the fallback.
odd_number_strings = st.sampled_from([
    "NaN", "nan", "inf", "-inf", "Infinity", "-1.5", "-0", "0", "0.00000000", "abc", "",
    "1e5", "1E-3", ".5", "5.", " 1.5", "1.5 ", "1_000.5", "+2", "1e400", "0x10", "1.2.3",
    "١٢٣", "1" * 400, "0." + "0" * 30 + "1",
])


def json_string(text: str, escape: bool) -> str:
    if escape:
        return ujson.dumps(text, ensure_ascii=True, escape_forward_slashes=True)
    return '"' + text + '"'


price_tokens = st.one_of(
    st.builds(json_string, venue_decimals, st.just(False)),
    st.builds(json_string, odd_number_strings, st.booleans()),
    st.sampled_from(["1.5", "2", "null", "true", "[]", '{"x":1}', '"1\\u002e5"']),
)

update_id_tokens = st.one_of(
    st.integers(0, 60).map(str),                       # small: stale and duplicate ids
    st.integers(0, 2**63 - 1).map(str),
    st.sampled_from(["-1", "01", "1.0", "1e3", '"7"', "true", "null", str(2**63),
                     str(2**64), "9" * 19, "9" * 25, "-0"]),
)

symbol_names = st.one_of(
    st.sampled_from(SYMBOLS),
    st.sampled_from(["btcusdt", "XRPUSDT", "", "BTCUSDT ", "币安人生", "BTCUSD" + "T" * 30]),
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=12),
)

symbol_tokens = st.one_of(
    st.builds(json_string, symbol_names, st.booleans()),
    st.sampled_from(['"BTC\\u0055SDT"', '"BTC\\/USDT"', "7", "null", '["BTCUSDT"]',
                     '"BTC\x01USDT"']),
)

extra_values = st.sampled_from(['1', '"x"', 'null', '[1,{"a":[2,"]"]}]', '{"u":1}', '"\\""'])


@st.composite
def book_object(draw, valid=False):
    """Text of a bookTicker object: a venue-shaped one (valid=True: every token in the
    scanner's subset), else one with a few fields replaced, removed or added."""
    units = draw(st.integers(1, 10**12))
    spread = draw(st.integers(-10, 10**6) if not valid else st.integers(0, 10**6))
    decimals = draw(st.integers(0, 10))
    quantity = venue_decimals.filter(lambda text: text.strip("0.") != "")
    tokens = {
        "u": str(draw(st.one_of(st.integers(0, 60), st.integers(0, 10**18 - 1)))),
        "s": json_string(draw(st.sampled_from(SYMBOLS)), False),
        "b": json_string(decimal_text(units, decimals), False),
        "B": json_string(draw(quantity), False),
        "a": json_string(decimal_text(max(units + spread, 0), decimals), False),
        "A": json_string(draw(quantity), False),
    }
    if not valid:
        odd_tokens = {"u": update_id_tokens, "s": symbol_tokens, "b": price_tokens,
                      "B": price_tokens, "a": price_tokens, "A": price_tokens}
        for key in draw(st.sets(st.sampled_from(sorted(BOOK_KEYS)), max_size=2)):
            tokens[key] = draw(odd_tokens[key])
        if draw(st.integers(0, 9)) == 0:
            for key in draw(st.sets(st.sampled_from(sorted(BOOK_KEYS)), max_size=6)):
                del tokens[key]
    pairs = list(tokens.items())
    if not valid and draw(st.integers(0, 9)) == 0:
        # Extra keys, or a book key twice (ujson keeps the last).
        pairs += [(key, draw(extra_values)) for key in draw(
            st.lists(st.sampled_from(["e", "E", "x", "T", "stream", "u", "b"]), max_size=2))]
    body = ",".join(
        draw(whitespace) + json_string(key, False) + draw(whitespace) + ":"
        + draw(whitespace) + value + draw(whitespace)
        for key, value in draw(st.permutations(pairs)))
    return "{" + (body or draw(whitespace)) + "}"


@st.composite
def payloads(draw, valid=False):
    """bytes of a raw or combined-stream bookTicker message."""
    inner = draw(book_object(valid))
    ws = lambda: draw(whitespace)  # noqa: E731
    if draw(st.booleans()):
        stream = ws() + '"stream"' + ws() + ":" + ws() + '"bnbusdt@bookTicker"' + ws()
        data = ws() + '"data"' + ws() + ":" + ws() + inner + ws()
        parts = [stream, data] if draw(st.booleans()) else [data, stream]
        text = "{" + ",".join(parts) + "}"
    else:
        text = inner
    return (ws() + text + ws()).encode("utf-8")


# Malformed bytes around valid ones: truncation, a flipped byte, trailing garbage, noise.
@st.composite
def damaged_payloads(draw):
    data = draw(payloads())
    how = draw(st.sampled_from(["truncate", "flip", "append", "noise"]))
    if how == "truncate":
        return data[:draw(st.integers(0, max(len(data) - 1, 0)))]
    if how == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        return data[:i] + bytes([draw(st.integers(0, 255))]) + data[i + 1:]
    if how == "append":
        return data + draw(st.sampled_from([b"x", b"}", b",", b"\x00", b"{}", b" \x0b"]))
    return draw(st.binary(max_size=64))


messages = st.one_of(payloads(), payloads(valid=True), damaged_payloads(),
                     st.sampled_from([b'{"result":null,"id":1}', b'{"code":3,"msg":"x"}',
                                      b"[1,2]", b'"BTCUSDT"', b"{}", b"null", b"",
                                      b'{"stream":"x","data":null}']))

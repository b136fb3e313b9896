"""format_number and JsonlBuffer: exact round trips, short decimals on price grids."""
from __future__ import annotations

import json
import math
import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmabot.core.jsonl import JsonlBuffer, format_number

JSON_NUMBER = r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?"


def grid_decimal(units: int, decimals: int) -> str:
    """The shortest decimal of units * 10**-decimals, with at least one fractional digit."""
    sign = "-" if units < 0 else ""
    whole, frac = divmod(abs(units), 10**decimals)
    frac_digits = str(frac).rjust(decimals, "0").rstrip("0") or "0"
    return f"{sign}{whole}.{frac_digits}"


@settings(max_examples=500, deadline=None)
@given(v=st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_double_round_trips(v):
    text = format_number(v)
    assert float(text) == v
    parsed = json.loads(text)
    assert parsed == v and math.isfinite(parsed)
    assert re.fullmatch(JSON_NUMBER, text), text
    if v != 0:
        assert math.copysign(1.0, float(text)) == math.copysign(1.0, v)


@settings(max_examples=300, deadline=None)
@given(bits=st.integers(0, 2**64 - 1))
def test_every_bit_pattern_round_trips(bits):
    """Uniform over bit patterns: subnormals, huge exponents and long mantissas."""
    v = struct.unpack("<d", struct.pack("<Q", bits))[0]
    if not math.isfinite(v):
        assert format_number(v) == "null"
        return
    assert float(format_number(v)) == v


@settings(max_examples=500, deadline=None)
@given(decimals=st.integers(2, 8), data=st.data())
def test_prices_on_decimal_grids_print_as_short_decimals(decimals, data):
    # up to 2**25 (~3.4e7): every price and quantity a venue quotes on a 1e-2..1e-8 grid
    limit = 2**25 * 10**decimals
    units = data.draw(st.one_of(st.integers(-limit, limit), st.integers(-10**6, 10**6)))
    v = units / 10**decimals            # the double nearest to the decimal
    assert format_number(v) == grid_decimal(units, decimals)


@pytest.mark.parametrize("units,decimals", [
    (3_612_035_609, 2),          # 36120356.09
    (8_338_482_268, 2),          # 83384822.68
    (449_248_765_156, 4),        # 44924876.5156
    (8_999_999_999, 2),          # 89999999.99
])
def test_grid_values_up_to_the_fixed_limit_print_short(units, decimals):
    """The module promises short decimals for 1e-8-grid values below FIXED_LIMIT (9e7);
    for 2..4 decimals those points are distinct doubles all the way up to 9e7."""
    v = units / 10**decimals
    assert abs(v) < 9e7
    assert format_number(v) == grid_decimal(units, decimals)


@pytest.mark.parametrize("v,text", [
    (60000.12, "60000.12"),
    (-60000.12, "-60000.12"),
    (0.00001234, "0.00001234"),
    (1e-8, "0.00000001"),
    (0.1, "0.1"),
    (0.29, "0.29"),
    (100.0, "100.0"),
    (1.0, "1.0"),
    (0.0, "0.0"),
    (-0.5, "-0.5"),
    (33_554_431.99, "33554431.99"),
    (12345.6789, "12345.6789"),
])
def test_known_values(v, text):
    assert format_number(v) == text


@pytest.mark.parametrize("v", [0.1 + 0.2, 1 / 3, math.pi * 1e6, 5e-324, 1.7976931348623157e308,
                               -2.2250738585072014e-308, 1e-9, 123456789.0, 9e7, 1e22])
def test_values_off_the_grid_keep_every_digit(v):
    text = format_number(v)
    assert float(text) == v and json.loads(text) == v


@pytest.mark.parametrize("v", [math.nan, -math.nan, math.inf, -math.inf])
def test_non_finite_is_null(v):
    assert format_number(v) == "null"
    assert json.loads(format_number(v)) is None


# -- buffer -------------------------------------------------------------------------------

def test_buffer_lines_parse_and_take_empties():
    buf = JsonlBuffer()
    assert len(buf) == 0 and buf.take() == b""
    prices = [60000.12, 0.1 + 0.2, math.nan, -1e-8, 5e-324]
    for i, px in enumerate(prices):
        buf.append_line(f'{{"i":{i},"px":{format_number(px)}}}'.encode())
    data = buf.take()
    assert len(buf) == 0 and buf.take() == b""
    assert data.endswith(b"\n") and data.count(b"\n") == len(prices)
    records = [json.loads(line) for line in data.splitlines()]
    assert [r["i"] for r in records] == list(range(len(prices)))
    for r, px in zip(records, prices):
        assert r["px"] == px if math.isfinite(px) else r["px"] is None


@settings(max_examples=50, deadline=None)
@given(values=st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=400),
       capacity=st.sampled_from([0, 256, 1000, 1 << 16]))
def test_buffer_grows_and_keeps_whole_lines(values, capacity):
    buf = JsonlBuffer(capacity)
    expected = b""
    for v in values:
        line = f'{{"v":{format_number(v)},"pad":"{"x" * 100}"}}'.encode()
        buf.append_line(line)
        expected += line + b"\n"
        assert len(buf) == len(expected)
    data = buf.take()
    assert data == expected
    assert [json.loads(line)["v"] for line in data.splitlines()] == values


def test_buffer_can_be_reused_after_take():
    buf = JsonlBuffer(256)
    buf.append_line(b'{"a":1}')
    assert buf.take() == b'{"a":1}\n'
    buf.append_line(b'{"b":' + format_number(2.5).encode() + b'}')
    assert buf.take() == b'{"b":2.5}\n'

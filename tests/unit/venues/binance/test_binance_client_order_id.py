"""newClientOrderId: Binance's 36-character rule, round trip to the engine's fields, sessions."""
from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmabot.core.types import Order
from dmabot.venues.binance.protocol.client_order_id import (
    ClientOrderId,
    ClientOrderIdError,
    ClientOrderIdFactory,
    base36,
)

BINANCE_ID = re.compile(r"[A-Za-z0-9_-]{1,36}")   # the set the engine uses, inside Binance's [.A-Z:/a-z0-9_-]{1,36}
SESSION = 1795858200000


def order(order_id=101, signal_id=100, sym=1, strategy=0, worker=1):
    return Order(order_id, signal_id, 0, sym, strategy, worker, 0, 1, 91250.0, 0.002)


def test_layout_and_parse_back():
    text = ClientOrderIdFactory(SESSION).make(order())
    assert text == "mx07lrk0-01-1-2s-2t"
    assert ClientOrderId.parse(text) == ClientOrderId(SESSION, 0, 1, 1, 100, 101)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.integers(0, 35), st.integers(0, 4095), st.integers(0, 1295),
       st.integers(0, 36**6 - 1), st.integers(0, 36**6 - 1))
def test_round_trip_within_binance_rules(strategy, worker, sym, signal_id, order_id):
    text = ClientOrderIdFactory(SESSION).make(order(order_id, signal_id, sym, strategy, worker))
    assert BINANCE_ID.fullmatch(text) and "--" not in text
    assert ClientOrderId.parse(text) == ClientOrderId(SESSION, strategy, worker, sym, signal_id, order_id)
    assert ClientOrderId.parse(text).format() == text


def test_base36():
    for n in (0, 1, 35, 36, 1295, 1296, 36**5, 2**63 - 1):
        assert int(base36(n), 36) == n
    assert base36(1296) == "100"
    with pytest.raises(ClientOrderIdError):
        base36(-1)


def test_too_long_is_refused_not_truncated():
    big = 2**63 - 1
    with pytest.raises(ClientOrderIdError, match="36"):
        ClientOrderIdFactory(SESSION).make(order(big, big))


def test_strategy_must_fit_one_digit():
    with pytest.raises(ClientOrderIdError):
        ClientOrderIdFactory(SESSION).make(order(strategy=36))
    with pytest.raises(ClientOrderIdError):
        ClientOrderId(SESSION, 36, 0, 0, 0, 0).format()


def test_restart_never_reuses_an_id():
    first, restarted = ClientOrderIdFactory(SESSION), ClientOrderIdFactory(SESSION + 1)
    same_order = order()
    assert first.make(same_order) != restarted.make(same_order)
    assert first.owns(first.make(same_order))
    assert not first.owns(restarted.make(same_order))


@pytest.mark.parametrize("foreign", [
    "x-B3AUXNYV827cefbc0c9748448b195b",      # real capture: another client's id
    "eng-20261128-000001", "web_6b1f0c", "", "a-b-c-d-e-f-g",
    "mx07lrk0-01-1-2s-2t" + "0" * 18,       # 37 characters
])
def test_foreign_ids_do_not_parse(foreign):
    assert ClientOrderId.parse(foreign) is None

"""TickRing against collections.deque(maxlen=capacity), which drops the oldest when full."""
from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmabot.core.ring import TickRing

finite = st.floats(allow_nan=False, allow_infinity=False)
ticks = st.tuples(st.integers(-2**63, 2**63 - 1), st.integers(-2**31, 2**31 - 1),
                  finite, finite, finite, finite, st.integers(-2**63, 2**63 - 1))
ops = st.lists(st.one_of(st.tuples(st.just("push"), ticks),
                         st.tuples(st.just("pop"), st.none())), max_size=300)


@settings(max_examples=150, deadline=None)
@given(log2_capacity=st.integers(1, 5), ops=ops)
def test_ring_behaves_like_a_bounded_deque(log2_capacity, ops):
    capacity = 1 << log2_capacity
    ring = TickRing(capacity)
    model = deque(maxlen=capacity)
    pushed = dropped = 0
    for op, tick in ops:
        if op == "push":
            if len(model) == capacity:
                dropped += 1
            model.append(tick)
            pushed += 1
            ring.push(*tick)
        else:
            want = model.popleft() if model else None
            assert ring.pop_tuple() == want
        assert len(ring) == len(model)
        assert (ring.pushed, ring.dropped) == (pushed, dropped)
    # drain: what is left comes out oldest first, then the ring is empty
    while model:
        assert ring.pop_tuple() == model.popleft()
    assert ring.pop_tuple() is None
    assert len(ring) == 0
    assert ring.capacity == capacity


def test_full_ring_overwrites_the_oldest_and_counts_it():
    ring = TickRing(4)
    for i in range(6):
        ring.push(1000 + i, i, 100.0 + i, 1.0, 100.5 + i, 2.0, i)
    assert (len(ring), ring.pushed, ring.dropped) == (4, 6, 2)
    assert [ring.pop_tuple()[0] for _ in range(4)] == [1002, 1003, 1004, 1005]
    assert ring.pop_tuple() is None
    # popping does not touch the counters; the ring is reusable after wrapping many times
    for i in range(4 * 1000 + 3):
        ring.push(i, 0, 1.0, 1.0, 2.0, 1.0)
        assert ring.pop_tuple()[0] == i
    assert (len(ring), ring.pushed, ring.dropped) == (0, 6 + 4003, 2)


def test_fields_round_trip_with_default_update_id():
    ring = TickRing(2)
    ring.push(-5, 7, 60000.12, 0.00123, 60000.13, 1e-8)
    assert ring.pop_tuple() == (-5, 7, 60000.12, 0.00123, 60000.13, 1e-8, 0)


def test_default_capacity():
    assert TickRing().capacity == 4096


@pytest.mark.parametrize("capacity", [0, 1, 3, 5, 6, 12, 100, 4095, 4097])
def test_capacity_must_be_a_power_of_two(capacity):
    with pytest.raises(ValueError):
        TickRing(capacity)


@pytest.mark.parametrize("capacity", [2, 4, 8, 1024, 1 << 16])
def test_power_of_two_capacities_are_accepted(capacity):
    ring = TickRing(capacity)
    assert (ring.capacity, len(ring), ring.pushed, ring.dropped) == (capacity, 0, 0, 0)

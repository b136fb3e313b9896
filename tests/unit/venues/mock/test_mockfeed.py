"""MockFeed: determinism by seed, quotes on the tick grid, sizes on the lot grid."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmabot.core.ring import TickRing
from dmabot.venues.mock.random_walk import MockFeed

LOT = 1e-5


def drain(ring: TickRing) -> list[tuple]:
    out = []
    while (t := ring.pop_tuple()) is not None:
        out.append(t)
    return out


def run(feed: MockFeed, batches: list[tuple[int, int]], capacity: int = 1 << 14) -> list[tuple]:
    """Generate each (ts, n) batch into a fresh ring; all ticks in order."""
    ticks = []
    for ts, n in batches:
        ring = TickRing(capacity)
        assert feed.generate(ring, ts, n) == n
        assert (ring.pushed, ring.dropped) == (n, 0)
        ticks += drain(ring)
    return ticks


def on_grid(x: float, scale: float) -> bool:
    """x is k / scale for an integer k, exactly as the feed computes it."""
    return round(x * scale) / scale == x


def test_same_seed_same_ticks_different_seed_different_ticks():
    prices = [60000.0, 3000.0, 0.5]
    a = run(MockFeed(prices, 0.01, 2.0, 42), [(1, 300), (2, 301)])
    b = run(MockFeed(prices, 0.01, 2.0, 42), [(1, 300), (2, 301)])
    c = run(MockFeed(prices, 0.01, 2.0, 43), [(1, 300), (2, 301)])
    assert a == b
    assert a != c
    # different seeds differ in prices, not just in one size somewhere
    assert sum(x[2] != y[2] for x, y in zip(a, c)) > 300


def test_batching_does_not_change_the_walk():
    one = run(MockFeed([100.0, 200.0], 0.01, 1.0, 7), [(5, 500)])
    many = run(MockFeed([100.0, 200.0], 0.01, 1.0, 7), [(5, 1), (5, 99), (5, 0), (5, 400)])
    assert one == many


def test_symbols_round_robin_and_timestamps():
    feed = MockFeed([10.0, 20.0, 30.0], 0.01, 1.0, 1)
    ticks = run(feed, [(111, 4), (222, 5)])
    assert [t[1] for t in ticks] == [0, 1, 2, 0, 1, 2, 0, 1, 2]
    assert [t[0] for t in ticks] == [111] * 4 + [222] * 5
    assert all(t[6] == 0 for t in ticks)          # no venue update id from the mock
    assert feed.n_symbols == 3


def test_walk_starts_at_the_start_price_and_moves():
    feed = MockFeed([60000.0, 25.0], 0.01, 1.0, 3)
    ticks = run(feed, [(0, 2000)])
    first = {t[1]: (t[2] + t[4]) / 2 for t in ticks[:2]}
    assert first[0] == pytest.approx(60000.0, rel=1e-3)
    assert first[1] == pytest.approx(25.0, rel=1e-2)
    mids_0 = {(t[2] + t[4]) / 2 for t in ticks if t[1] == 0}
    assert len(mids_0) > 100


def test_zero_volatility_keeps_the_mid():
    ticks = run(MockFeed([100.0], 0.01, 0.0, 9), [(0, 200)])
    assert all(t[2] <= 100.0 <= t[4] for t in ticks)
    assert all(99.98 <= t[2] and t[4] <= 100.02 for t in ticks)


def test_full_ring_drops_the_oldest_ticks():
    feed = MockFeed([100.0], 0.01, 1.0, 5)
    ring = TickRing(8)
    assert feed.generate(ring, 0, 20) == 20
    assert (len(ring), ring.pushed, ring.dropped) == (8, 20, 12)
    reference = run(MockFeed([100.0], 0.01, 1.0, 5), [(0, 20)])
    assert drain(ring) == reference[-8:]


@settings(max_examples=40, deadline=None)
@given(start=st.lists(st.one_of(st.floats(0.2, 200_000.0), st.sampled_from([0.11, 0.2, 1.0, 60000.0])),
                      min_size=1, max_size=4),
       tick_size=st.sampled_from([0.01, 0.001, 0.1, 1e-4, 1.0, 0.5, 0.25]),
       vol_bps=st.one_of(st.just(0.0), st.floats(0.0, 300.0)),
       seed=st.integers(0, 2**64 - 1), notional=st.floats(1.0, 1e6))
def test_quotes_on_the_grids(start, tick_size, vol_bps, seed, notional):
    start = [max(p, 10 * tick_size * 1.5) for p in start]
    feed = MockFeed(start, tick_size, vol_bps, seed, notional)
    assert (feed.tick_size, feed.vol, feed.notional) == (tick_size, vol_bps / 1e4, notional)
    scale = round(1 / tick_size)
    for _, sym, bid, bid_qty, ask, ask_qty, _ in run(feed, [(0, 500)]):
        assert 0 <= sym < len(start)
        assert math.isfinite(bid) and math.isfinite(ask)
        assert bid > 0
        assert ask > bid
        assert on_grid(bid, scale) and on_grid(ask, scale), (bid, ask, tick_size)
        assert round((ask - bid) * scale) in (1, 2, 3)
        for size in (bid_qty, ask_qty):
            assert math.isfinite(size) and size >= LOT
            assert on_grid(size, 1e5), size


def test_spreads_cover_one_to_three_ticks():
    ticks = run(MockFeed([100.0, 2000.0], 0.01, 1.0, 11), [(0, 3000)])
    assert {round((t[4] - t[2]) * 100) for t in ticks} == {1, 2, 3}


def test_sizes_are_about_the_notional():
    ticks = run(MockFeed([50.0, 60000.0], 0.01, 1.0, 13, notional=10_000.0), [(0, 4000)])
    for sym in (0, 1):
        notionals = sorted(t[2] * t[3] for t in ticks if t[1] == sym)
        median = notionals[len(notionals) // 2]
        assert median == pytest.approx(10_000.0, rel=0.1)


def test_a_crashing_walk_stays_above_ten_ticks():
    ticks = run(MockFeed([0.11], 0.01, 1000.0, 17), [(0, 3000)])   # 10% a tick, the most allowed
    assert min(t[2] for t in ticks) >= 0.08        # mid clamped at 10 ticks, 1-3 tick spread
    assert min(t[2] for t in ticks) < 0.11


@pytest.mark.parametrize("kwargs", [
    dict(start_prices=[]),
    dict(tick_size=0.0),
    dict(tick_size=-0.01),
    dict(tick_size=math.nan),
    dict(tick_size=math.inf),
    dict(tick_size=0.03),               # 1 / 0.03 is not an integer
    dict(tick_size=0.4),
    dict(tick_size=3.0),
    dict(vol_bps=-1.0),
    dict(vol_bps=math.nan),
    dict(start_prices=[100.0, 0.1]),    # not above 10 ticks of 0.01
    dict(start_prices=[0.05]),
    dict(start_prices=[math.nan]),
    dict(start_prices=[-5.0]),
])
def test_bad_arguments_raise_value_error(kwargs):
    args = dict(start_prices=[100.0], tick_size=0.01, vol_bps=1.0, seed=1, notional=50_000.0)
    args.update(kwargs)
    with pytest.raises(ValueError):
        MockFeed(**args)


@pytest.mark.parametrize("kwargs", [
    dict(notional=0.0),
    dict(notional=-1.0),
    dict(notional=math.nan),
    dict(notional=math.inf),            # gives infinite sizes
    dict(vol_bps=math.inf),             # the walk jumps to the 10-tick floor or infinity
    dict(start_prices=[math.inf]),      # llround(inf) gives bid = -9.2e16
], ids=["notional=0", "notional=-1", "notional=nan", "notional=inf", "vol_bps=inf",
        "start_price=inf"])
def test_non_finite_or_non_positive_arguments_raise_value_error(kwargs):
    args = dict(start_prices=[100.0], tick_size=0.01, vol_bps=1.0, seed=1, notional=50_000.0)
    args.update(kwargs)
    with pytest.raises(ValueError):
        MockFeed(**args)


def test_negative_count_raises_value_error():
    with pytest.raises(ValueError):
        MockFeed([100.0]).generate(TickRing(4), 0, -1)


def test_generate_needs_a_ring():
    with pytest.raises(TypeError):
        MockFeed([100.0]).generate(None, 0, 1)

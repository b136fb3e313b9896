"""Router: venue scoring and order, ties, quantity split, fill-rate feedback."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmabot.core.router import Router

BUY, SELL = 1, -1
ALPHA = 0.1     # weight of the newest outcome in the fill-rate average


def venues(router: Router, sym=0, side=BUY, px=100.0, qty=None) -> list[int]:
    """Every venue, best first (split = n_venues and a quantity of one step per venue)."""
    legs = router.route(sym, side, px, qty if qty is not None else router.qty_step * router.n_venues)
    return [venue for venue, _ in legs]


def ref_score(fee, latency_ms, fill_rate, latency_bps_per_ms, miss_penalty_bps, side, px, quote):
    """Expected cost in bps, in the kernel's order of operations."""
    cost = fee + latency_bps_per_ms * latency_ms
    cost += miss_penalty_bps * (1.0 - fill_rate)
    if quote is not None:
        bid, ask = quote
        venue_px = ask if side == BUY else bid
        if venue_px > 0 and px > 0:
            cost += side * (venue_px - px) / px * 1e4
    return cost


# -- ordering ---------------------------------------------------------------------------

def test_lower_fee_first():
    router = Router(1, [5.0, 1.0, 3.0], [0.0, 0.0, 0.0], split=3)
    assert venues(router) == [1, 2, 0]
    assert venues(router, side=SELL) == [1, 2, 0]


def test_lower_latency_first_weighted_by_bps_per_ms():
    router = Router(1, [1.0, 1.0, 1.0], [10.0, 1.0, 5.0], split=3)
    assert venues(router) == [1, 2, 0]
    # fee 0 + 5 ms vs fee 2 + 0 ms: 0.5 bps/ms makes venue 0 cost 2.5 > 2; 0.3 makes it 1.5
    assert venues(Router(1, [0.0, 2.0], [5.0, 0.0], split=2, latency_bps_per_ms=0.5)) == [1, 0]
    assert venues(Router(1, [0.0, 2.0], [5.0, 0.0], split=2, latency_bps_per_ms=0.3)) == [0, 1]


def test_ties_keep_configuration_order():
    router = Router(1, [2.0, 1.0, 2.0, 1.0, 2.0], [0.0] * 5, split=5)
    assert venues(router) == [1, 3, 0, 2, 4]
    assert venues(Router(1, [0.0] * 6, [3.0] * 6, split=6)) == [0, 1, 2, 3, 4, 5]


def test_venue_quote_is_priced_in_per_side_and_symbol():
    router = Router(2, [1.0, 1.0, 1.0], [0.0, 0.0, 0.0], split=3)
    router.set_venue_quote(1, 0, 99.95, 99.99)    # sells cheaper than the signal's 100
    router.set_venue_quote(2, 0, 100.02, 100.05)  # buys dearer, bids higher
    assert venues(router, sym=0, side=BUY, px=100.0) == [1, 0, 2]
    assert venues(router, sym=0, side=SELL, px=100.0) == [2, 0, 1]
    assert router.score(1, 0, BUY, 100.0) == pytest.approx(1.0 - 1.0, abs=1e-9)
    assert router.score(2, 0, BUY, 100.0) == pytest.approx(1.0 + 5.0, abs=1e-9)
    assert router.score(2, 0, SELL, 100.0) == pytest.approx(1.0 - 2.0, abs=1e-9)
    assert router.score(1, 0, SELL, 100.0) == pytest.approx(1.0 + 5.0, abs=1e-9)
    # symbol 1 has no venue quotes: fees alone, ties in configuration order
    assert venues(router, sym=1) == [0, 1, 2]
    assert router.score(1, 1, BUY, 100.0) == 1.0
    # a zero quote means the venue has no book of its own: not priced in
    router.set_venue_quote(1, 0, 0.0, 0.0)
    assert router.score(1, 0, BUY, 100.0) == 1.0


def test_misses_move_the_choice_and_fills_bring_it_back():
    # venue 0 is 5 bps cheaper; each miss costs up to 20 bps * (1 - fill rate)
    router = Router(1, [1.0, 6.0], [0.0, 0.0], split=1, miss_penalty_bps=20.0)
    assert router.route(0, BUY, 100.0, 0.01)[0][0] == 0
    router.on_outcome(0, False)                      # 0.9: +2 bps
    router.on_outcome(0, False)                      # 0.81: +3.8 bps
    assert router.route(0, BUY, 100.0, 0.01)[0][0] == 0
    router.on_outcome(0, False)                      # 0.729: +5.42 bps > 5
    assert router.route(0, BUY, 100.0, 0.01)[0][0] == 1
    router.on_outcome(0, True)                       # 0.7561: +4.878 bps < 5
    assert router.route(0, BUY, 100.0, 0.01)[0][0] == 0
    assert router.fill_rate(0) == pytest.approx(0.7561, abs=1e-12)
    assert router.fill_rate(1) == 1.0


@settings(max_examples=100, deadline=None)
@given(outcomes=st.lists(st.booleans(), max_size=60))
def test_fill_rate_is_an_ewma_of_outcomes(outcomes):
    router = Router(1, [0.0, 0.0], [0.0, 0.0], split=1)
    rate = 1.0
    for filled in outcomes:
        router.on_outcome(1, filled)
        rate += ALPHA * ((1.0 if filled else 0.0) - rate)
        assert router.fill_rate(1) == pytest.approx(rate, rel=1e-12, abs=1e-15)
    assert router.fill_rate(0) == 1.0
    assert 0.0 <= router.fill_rate(1) <= 1.0


fees = st.sampled_from([0.0, 1.0, 1.0, 2.5, 4.0, 7.5])         # few values: many ties
latencies = st.sampled_from([0.0, 0.0, 1.0, 2.0, 5.0])


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n_venues=st.integers(1, 8), n_symbols=st.integers(1, 3),
       latency_bps_per_ms=st.sampled_from([0.0, 0.5, 1.0]),
       miss_penalty_bps=st.sampled_from([0.0, 20.0, 35.0]))
def test_order_is_a_stable_sort_by_score(data, n_venues, n_symbols, latency_bps_per_ms,
                                         miss_penalty_bps):
    fee = data.draw(st.lists(fees, min_size=n_venues, max_size=n_venues))
    lat = data.draw(st.lists(latencies, min_size=n_venues, max_size=n_venues))
    router = Router(n_symbols, fee, lat, split=n_venues, qty_step=1e-5,
                    latency_bps_per_ms=latency_bps_per_ms, miss_penalty_bps=miss_penalty_bps)
    rates = [1.0] * n_venues
    for venue, filled in data.draw(st.lists(st.tuples(st.integers(0, n_venues - 1), st.booleans()),
                                            max_size=20)):
        router.on_outcome(venue, filled)
        rates[venue] += ALPHA * ((1.0 if filled else 0.0) - rates[venue])
    quotes = {}
    for venue, sym, bid_c, spread in data.draw(st.lists(
            st.tuples(st.integers(0, n_venues - 1), st.integers(0, n_symbols - 1),
                      st.integers(9_900, 10_100), st.integers(0, 3)), max_size=6)):
        quotes[venue, sym] = (bid_c / 100, (bid_c + spread) / 100)
        router.set_venue_quote(venue, sym, *quotes[venue, sym])
    sym = data.draw(st.integers(0, n_symbols - 1))
    side = data.draw(st.sampled_from([BUY, SELL]))
    px = data.draw(st.integers(9_900, 10_100)) / 100
    scores = [ref_score(fee[v], lat[v], rates[v], latency_bps_per_ms, miss_penalty_bps, side,
                        px, quotes.get((v, sym))) for v in range(n_venues)]
    for v in range(n_venues):
        assert router.score(v, sym, side, px) == pytest.approx(scores[v], rel=1e-12, abs=1e-9)
        assert router.fill_rate(v) == pytest.approx(rates[v], rel=1e-12)
    got = venues(router, sym, side, px)
    assert sorted(got) == list(range(n_venues))
    # best first, and equal scores (computed by the router) in configuration order
    router_scores = [router.score(v, sym, side, px) for v in range(n_venues)]
    assert got == sorted(range(n_venues), key=lambda v: router_scores[v])
    split = data.draw(st.integers(1, n_venues))
    router2 = Router(n_symbols, fee, lat, split=split, latency_bps_per_ms=latency_bps_per_ms,
                     miss_penalty_bps=miss_penalty_bps)
    for (venue, s), quote in quotes.items():
        router2.set_venue_quote(venue, s, *quote)
    # with a smaller split, the legs go to the best `split` venues (router2 has no outcomes)
    scores2 = [router2.score(v, sym, side, px) for v in range(n_venues)]
    legs = router2.route(sym, side, px, 1.0)
    assert [v for v, _ in legs] == sorted(range(n_venues), key=lambda v: scores2[v])[:split]


# -- quantity split ---------------------------------------------------------------------

def on_grid(x: float, step: float) -> bool:
    units = x / step
    return abs(units - round(units)) <= 1e-9 * max(1.0, abs(units))


@settings(max_examples=250, deadline=None)
@given(n_venues=st.integers(1, 16), data=st.data(),
       step=st.sampled_from([1e-8, 1e-5, 1e-3, 0.01, 0.1, 1.0, 0.5, 0.25]),
       units=st.one_of(st.integers(1, 40), st.integers(1, 10**9)),
       fraction=st.one_of(st.just(0.0), st.floats(0.0, 0.999)))
def test_split_sums_to_the_order_qty_on_the_step_grid(n_venues, data, step, units, fraction):
    split = data.draw(st.integers(1, n_venues))
    qty = (units + fraction) * step
    router = Router(1, [float(v % 3) for v in range(n_venues)], [0.0] * n_venues, split=split,
                    qty_step=step)
    legs = router.route(0, BUY, 100.0, qty)
    quantities = [leg_qty for _, leg_qty in legs]
    # no quantity lost or invented (up to the rounding of a handful of additions)
    assert math.isclose(math.fsum(quantities), qty, rel_tol=1e-12)
    assert math.isclose(sum(quantities), qty, rel_tol=1e-12)
    # as many legs as the split allows, on distinct venues, none of them empty
    assert len(legs) == min(split, max(1, int(qty / step + 1e-9)))
    assert len({venue for venue, _ in legs}) == len(legs)
    assert all(leg_qty > 0 for leg_qty in quantities)
    # every leg but the first (the remainder leg) is the same whole number of steps
    each = quantities[-1]
    assert all(leg_qty == each for leg_qty in quantities[1:])
    if len(legs) > 1:
        assert on_grid(each, step)
    # the remainder is less than one step per leg: the split is as even as the grid allows
    # (give or take the rounding of subtracting the legs from qty)
    tol = 1e-9 * step + 16 * math.ulp(qty)
    assert -tol <= quantities[0] - each < len(legs) * step + tol
    # and when the order itself is on the grid, so is the remainder leg
    if fraction == 0.0:
        assert on_grid(quantities[0], step)


def test_split_by_hand():
    router = Router(1, [3.0, 1.0, 2.0], [0.0, 0.0, 0.0], split=3, qty_step=0.001)
    legs = router.route(0, BUY, 100.0, 0.010)          # 10 steps over 3 venues: 4 + 3 + 3
    assert [v for v, _ in legs] == [1, 2, 0]
    assert [q for _, q in legs] == pytest.approx([0.004, 0.003, 0.003], abs=1e-15)
    legs = router.route(0, BUY, 100.0, 0.0025)         # 2 whole steps: only two legs
    assert [v for v, _ in legs] == [1, 2]
    assert [q for _, q in legs] == pytest.approx([0.0015, 0.001], abs=1e-15)
    legs = router.route(0, BUY, 100.0, 0.0004)         # less than a step: one leg, all of it
    assert legs == [(1, 0.0004)]


# -- construction and ranges ------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(fee_bps=[1.0, 2.0], latency_ms=[1.0]),
    dict(fee_bps=[], latency_ms=[]),
    dict(fee_bps=[0.0] * 17, latency_ms=[0.0] * 17),
    dict(fee_bps=[1.0, 2.0], latency_ms=[1.0, 1.0], split=0),
    dict(fee_bps=[1.0, 2.0], latency_ms=[1.0, 1.0], split=3),
    dict(fee_bps=[1.0], latency_ms=[1.0], qty_step=0.0),
    dict(fee_bps=[1.0], latency_ms=[1.0], qty_step=-1e-5),
    dict(fee_bps=[1.0], latency_ms=[1.0], qty_step=math.nan),
])
def test_bad_configuration_raises_value_error(kwargs):
    with pytest.raises(ValueError):
        Router(1, **kwargs)


def test_sixteen_venues_are_accepted_and_attributes_readable():
    router = Router(2, [float(16 - v) for v in range(16)], [0.0] * 16, split=16, qty_step=0.01,
                    latency_bps_per_ms=0.25, miss_penalty_bps=10.0)
    assert (router.n_venues, router.n_symbols, router.split, router.qty_step,
            router.latency_bps_per_ms, router.miss_penalty_bps) == (16, 2, 16, 0.01, 0.25, 10.0)
    assert venues(router) == list(range(15, -1, -1))


def test_out_of_range_venue_or_symbol_raises_index_error():
    router = Router(2, [1.0, 2.0], [0.0, 0.0])
    with pytest.raises(IndexError):
        router.route(2, BUY, 100.0, 1.0)
    with pytest.raises(IndexError):
        router.route(-1, BUY, 100.0, 1.0)
    with pytest.raises(IndexError):
        router.score(2, 0, BUY, 100.0)
    with pytest.raises(IndexError):
        router.set_venue_quote(0, 2, 1.0, 2.0)
    with pytest.raises(IndexError):
        router.on_outcome(-1, True)
    with pytest.raises(IndexError):
        router.fill_rate(2)


def test_reinitialising_is_refused():
    router = Router(1, [1.0, 2.0], [0.0, 0.0], split=2)
    with pytest.raises(RuntimeError):
        router.__init__(1, [5.0], [0.0])
    assert router.n_venues == 2 and venues(router) == [0, 1]

"""Strategy kernels: against the plain-Python references and on sequences worked by hand.

Prices are integer cents turned into doubles the way a venue or the mock feed quotes them
(k / 100), so mids, sums and means go through the same rounding as in production.
"""
from __future__ import annotations

import math
import random
from collections import deque

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmabot.core.strategy import StrategyWorker
from dmabot.core.types import Side, StrategyKind
from dmabot.strategies.builtin import MACrossover, MeanReversion, VolBreakout
from tests.references.strategies import MACrossoverRef, MeanReversionRef, VolBreakoutRef

BUY, SELL = int(Side.BUY), int(Side.SELL)
T0 = 1_700_000_000_000_000_000      # a realistic clock origin in ns
MS = 1_000_000

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def q(bid_cents: int, spread_cents: int = 1) -> tuple[float, float]:
    """(bid, ask) for a quote given in integer cents."""
    return bid_cents / 100, (bid_cents + spread_cents) / 100


def at_mid(mid: float, half_spread: float = 0.5) -> tuple[float, float]:
    """(bid, ask) around `mid`; with binary-exact inputs the mid is exact too."""
    return mid - half_spread, mid + half_spread


def feed(strategy, ticks):
    """Run (ts, sym, bid, ask) ticks through a Cython strategy; list of its outputs."""
    return [strategy.on_tick(ts, sym, bid, 1.0, ask, 1.0) for ts, sym, bid, ask in ticks]


# -- random tick streams -----------------------------------------------------------------

moves = st.one_of(
    st.just(0),                         # flat
    st.integers(-3, 3),                 # small walk on the 0.01 grid
    st.integers(-3, 3),
    st.integers(-600, 600),             # jump
)


# time between ticks: often a round number of ms, so signals land exactly on the end of a
# cooldown, or 0 (same timestamp)
gaps = st.one_of(st.sampled_from([0, MS // 2, MS, 2 * MS]), st.integers(0, 3 * MS))


@st.composite
def tick_streams(draw, max_steps=80):
    """(n_symbols, [(ts, sym, bid, ask)]): per-symbol random walks in cents, interleaved,
    with flat stretches (repeated quotes), jumps and a 1-3 cent spread; ts never goes back."""
    n_symbols = draw(st.integers(1, 4))
    cents = [draw(st.integers(1_000, 300_000)) for _ in range(n_symbols)]
    steps = draw(st.lists(
        st.tuples(st.integers(0, n_symbols - 1), moves, st.integers(1, 3), gaps,
                  st.integers(1, 6)),
        min_size=15, max_size=max_steps))
    ts = T0 + draw(st.integers(0, 10**12))
    ticks = []
    for sym, move, spread, dt, repeat in steps:
        cents[sym] = max(100, cents[sym] + move)
        for _ in range(repeat):
            ts += dt
            bid, ask = q(cents[sym], spread)
            ticks.append((ts, sym, bid, ask))
    return n_symbols, ticks


edges = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0, 5.0]),
                  st.floats(0.0, 40.0, allow_nan=False, allow_infinity=False))
cooldowns = st.one_of(st.sampled_from([0.0, 0.0, 1.0, 3.0]),
                      st.floats(0.0, 6.0, allow_nan=False, allow_infinity=False))
qtys = st.one_of(st.sampled_from([0.001, 0.01, 1.0]),
                 st.floats(1e-5, 10.0, allow_nan=False, allow_infinity=False))


def assert_same_signals(strategy, reference, ticks):
    fired = 0
    for i, (ts, sym, bid, ask) in enumerate(ticks):
        got = strategy.on_tick(ts, sym, bid, 1.0, ask, 1.0)
        want = reference.on_tick(ts, sym, bid, ask)
        if want is None:
            assert got is None, f"tick {i} {ticks[i]}: unexpected signal {got}"
            continue
        assert got is not None, f"tick {i} {ticks[i]}: missing signal {want}"
        assert got[:3] == want[:3], f"tick {i} {ticks[i]}: {got} != {want}"
        assert math.isclose(got[3], want[3], rel_tol=1e-9), f"tick {i}: ref {got[3]} != {want[3]}"
        fired += 1
    assert strategy.ticks == len(ticks)
    assert strategy.signals == fired
    return fired


@SETTINGS
@given(stream=tick_streams(), window=st.integers(1, 8), edge=edges, cooldown=cooldowns,
       qty=qtys)
def test_mean_reversion_matches_reference(stream, window, edge, cooldown, qty):
    n_symbols, ticks = stream
    strategy = MeanReversion(n_symbols, 0, qty, edge, cooldown, window=window)
    assert_same_signals(strategy, MeanReversionRef(window, edge, cooldown, qty), ticks)


@SETTINGS
@given(stream=tick_streams(), fast=st.integers(1, 6), extra=st.integers(1, 6), edge=edges,
       cooldown=cooldowns, qty=qtys)
def test_ma_crossover_matches_reference(stream, fast, extra, edge, cooldown, qty):
    n_symbols, ticks = stream
    slow = fast + extra
    strategy = MACrossover(n_symbols, 0, qty, edge, cooldown, fast=fast, slow=slow)
    assert_same_signals(strategy, MACrossoverRef(fast, slow, edge, cooldown, qty), ticks)


@SETTINGS
@given(stream=tick_streams(), window=st.integers(1, 8), edge=edges, cooldown=cooldowns,
       qty=qtys)
def test_vol_breakout_matches_reference(stream, window, edge, cooldown, qty):
    n_symbols, ticks = stream
    strategy = VolBreakout(n_symbols, 0, qty, edge, cooldown, window=window)
    assert_same_signals(strategy, VolBreakoutRef(window, edge, cooldown, qty), ticks)


def test_random_streams_exercise_both_sides():
    """Guard for the property tests above: the generated streams do fire, on both sides."""
    rng = random.Random(7)
    cents, ts, ticks = [500_000, 2_000], T0, []
    for _ in range(3_000):
        s = rng.randrange(2)
        cents[s] = max(100, cents[s] + rng.choice([0, 0, -2, -1, 1, 2, rng.randint(-300, 300)]))
        ts += rng.randint(0, MS)
        ticks.append((ts, s, *q(cents[s], rng.randint(1, 3))))
    for strategy in (MeanReversion(2, 0, 0.01, 1.0, 0.0, window=5),
                     MACrossover(2, 0, 0.01, 0.5, 0.0, fast=2, slow=6),
                     VolBreakout(2, 0, 0.01, 0.5, 0.0, window=5)):
        sides = {out[0] for out in feed(strategy, ticks) if out is not None}
        assert sides == {BUY, SELL}, type(strategy).__name__


def long_stream(n: int, seed: int) -> list[tuple[int, int, float, float]]:
    """n ticks over three symbols: random walks on the 0.01 grid with flat stretches and
    jumps, each symbol switching twice between ~60000 and ~25-40 (the rolling sums carry
    large and small prices through many laps)."""
    rng = random.Random(seed)
    cents = [6_000_000, 300_000, 25_000]
    ts = T0
    ticks = []
    for i in range(n):
        s = i % 3
        if i == n // 3:
            cents = [4_000, 6_000_000, 700_000]
        elif i == 2 * n // 3:
            cents = [3_000_000, 2_500, 6_000_000]
        r = rng.random()
        if r < 0.01:
            cents[s] += rng.randint(-cents[s] // 20, cents[s] // 20)      # jump
        elif r > 0.2:                                                     # else flat
            m = max(1, cents[s] // 5_000)
            cents[s] += rng.randint(-m, m)
        cents[s] = max(100, cents[s])
        ts += rng.randint(0, 2 * MS)
        ticks.append((ts, s, *q(cents[s], 1 + int(r * 1000) % 3)))
    return ticks


def exact_window_refs(ticks, outputs, window, include_current):
    """For each signal: (its ref, the exact mean of the window it was compared with)."""
    history = [deque(maxlen=window) for _ in range(3)]
    pairs = []
    for (_, s, bid, ask), out in zip(ticks, outputs):
        mid = (bid + ask) * 0.5
        if include_current:
            history[s].append(mid)
        if out is not None:
            pairs.append((out[3], math.fsum(history[s]) / window))
        if not include_current:
            history[s].append(mid)
    return pairs


def test_long_run_matches_reference_and_does_not_drift():
    """200k ticks: the kernels agree with the references signal for signal, and every
    signal's ref is the mean of its window to 1e-9 (fsum). Whether the re-sum happens at
    all is checked more sharply by the next test."""
    ticks = long_stream(200_000, seed=20240501)
    mr_w, fast, slow, vb_w = 50, 10, 40, 30
    runs = {}
    for name, kernel, ref in [
            ("mr", MeanReversion(3, 0, 0.01, 1.0, 0.0, window=mr_w), MeanReversionRef(mr_w, 1.0, 0.0, 0.01)),
            ("ma", MACrossover(3, 1, 0.01, 0.5, 0.0, fast=fast, slow=slow),
             MACrossoverRef(fast, slow, 0.5, 0.0, 0.01)),
            ("vb", VolBreakout(3, 2, 0.01, 2.0, 0.0, window=vb_w), VolBreakoutRef(vb_w, 2.0, 0.0, 0.01))]:
        got = [kernel.on_tick(ts, s, bid, 1.0, ask, 1.0) for ts, s, bid, ask in ticks]
        want = [ref.on_tick(ts, s, bid, ask) for ts, s, bid, ask in ticks]
        if got != want:     # exact equality is more than required: then check the tolerance
            for i, (a, b) in enumerate(zip(got, want)):
                assert (a is None) == (b is None), (name, i, ticks[i], a, b)
                assert a is None or (a[:3] == b[:3] and math.isclose(a[3], b[3], rel_tol=1e-9)), \
                    (name, i, a, b)
        assert kernel.ticks == len(ticks)
        assert kernel.signals == sum(out is not None for out in got) > 500, name
        runs[name] = got
    for ref, exact in exact_window_refs(ticks, runs["mr"], mr_w, include_current=False):
        assert math.isclose(ref, exact, rel_tol=1e-9), (ref, exact)
    for ref, exact in exact_window_refs(ticks, runs["ma"], slow, include_current=True):
        assert math.isclose(ref, exact, rel_tol=1e-9), (ref, exact)


@pytest.mark.parametrize("kind", ["mr", "ma"])
def test_rolling_sums_are_exact_again_one_lap_after_huge_prices(kind):
    """Prices of ~1e7 (BTC quoted in a weak currency) leave ~1e-7 of rounding error in a
    rolling sum; once the window has lapped over prices of ~1, the re-summed mean must be
    exact again (to 1e-12), not carry that error for the rest of the run."""
    rng = random.Random(99)
    w = 5
    strategy = (MeanReversion(1, 0, 1.0, 0.0, 0.0, window=w) if kind == "mr"
                else MACrossover(1, 0, 1.0, 0.0, 0.0, fast=2, slow=w))
    ticks = [(T0 + i, 0, *q(rng.randint(10**9, 13 * 10**8), 1)) for i in range(5_000)]
    low = [(T0 + 5_000 + i, 0, *q(rng.randint(90, 110), 1)) for i in range(400)]
    feed(strategy, ticks)
    mids = deque((((b + a) * 0.5) for _, _, b, a in ticks[-w:]), maxlen=w)
    checked = 0
    for i, (ts, sym, bid, ask) in enumerate(low):
        mid = (bid + ask) * 0.5
        if kind == "ma":
            mids.append(mid)
        out = strategy.on_tick(ts, sym, bid, 1.0, ask, 1.0)
        if out is not None and i >= 2 * w:
            exact = math.fsum(mids) / w
            assert math.isclose(out[3], exact, rel_tol=1e-12), (i, out[3], exact)
            checked += 1
        if kind == "mr":
            mids.append(mid)
    assert checked > 10


# -- mean reversion by hand ---------------------------------------------------------------

def test_mean_reversion_dip_buys_at_ask_and_spike_sells_at_bid():
    mr = MeanReversion(1, 0, 0.5, 10.0, 0.0, window=3)      # edge 0.1 %
    flat = [(T0 + i, 0, 99.75, 100.25) for i in range(3)]    # mid 100.0, mean 100.0
    assert feed(mr, flat) == [None, None, None]               # warm-up never fires
    # ask 99.95 is not below 100 * (1 - 0.001) = 99.9: no trade; its mid 99.875 enters
    assert mr.on_tick(T0 + 3, 0, 99.8, 1.0, 99.95, 1.0) is None
    side, px, qty, ref = mr.on_tick(T0 + 4, 0, 99.0, 1.0, 99.5, 1.0)
    assert (side, px, qty) == (BUY, 99.5, 0.5)
    assert ref == pytest.approx((100.0 + 100.0 + 99.875) / 3, rel=1e-12)
    mr = MeanReversion(1, 0, 0.5, 10.0, 0.0, window=3)
    feed(mr, flat)
    side, px, qty, ref = mr.on_tick(T0 + 3, 0, 100.5, 1.0, 101.0, 1.0)
    assert (side, px, qty, ref) == (SELL, 100.5, 0.5, 100.0)
    assert (mr.ticks, mr.signals) == (4, 1)


def test_mean_reversion_compares_with_previous_window_not_itself():
    mr = MeanReversion(1, 0, 1.0, 0.0, 0.0, window=1)
    assert mr.on_tick(T0, 0, 99.75, 1.0, 100.25, 1.0) is None        # warm-up
    # window=1: the mean is the previous mid (100.0); the tick's own mid 90 is not in it
    assert mr.on_tick(T0 + 1, 0, 89.75, 1.0, 90.25, 1.0) == (BUY, 90.25, 1.0, 100.0)
    # the current mid entered after the decision: now the mean is 90.0
    assert mr.on_tick(T0 + 2, 0, 90.25, 1.0, 90.75, 1.0) == (SELL, 90.25, 1.0, 90.0)


def test_mean_reversion_edge_is_strict():
    mr = MeanReversion(1, 0, 1.0, 0.0, 0.0, window=2)
    feed(mr, [(T0, 0, *at_mid(100.0)), (T0 + 1, 0, *at_mid(100.0))])
    # ask exactly at the mean (edge 0): no trade; bid exactly at the mean: no trade
    assert mr.on_tick(T0 + 2, 0, 99.0, 1.0, 100.0, 1.0) is None
    mr = MeanReversion(1, 0, 1.0, 0.0, 0.0, window=2)
    feed(mr, [(T0, 0, *at_mid(100.0)), (T0 + 1, 0, *at_mid(100.0))])
    assert mr.on_tick(T0 + 2, 0, 100.0, 1.0, 101.0, 1.0) is None
    assert mr.on_tick(T0 + 3, 0, 99.0, 1.0, 99.5, 1.0) is not None


def test_mean_reversion_cooldown_is_per_symbol_and_inclusive():
    mr = MeanReversion(2, 0, 1.0, 10.0, 1.0, window=2)      # cooldown 1 ms
    for sym in (0, 1):
        feed(mr, [(T0, sym, *at_mid(100.0)), (T0, sym, *at_mid(100.0))])
    dip = at_mid(90.0)
    assert mr.on_tick(T0 + 10 * MS, 0, dip[0], 1.0, dip[1], 1.0)[0] == BUY
    # 0.5 ms later: symbol 0 is cooling down, symbol 1 is not
    assert mr.on_tick(T0 + 10 * MS + MS // 2, 0, 80.0, 1.0, 80.5, 1.0) is None
    assert mr.on_tick(T0 + 10 * MS + MS // 2, 1, dip[0], 1.0, dip[1], 1.0)[0] == BUY
    # exactly 1 ms after symbol 0's signal: cooled (ts - last >= cooldown)
    assert mr.on_tick(T0 + 11 * MS, 0, 70.0, 1.0, 70.5, 1.0)[0] == BUY
    assert mr.signals == 3


@pytest.mark.parametrize("cooldown_ms", [math.inf, 1e13, 9.3e12])
def test_cooldown_beyond_int64_ns_is_rejected_or_holds(cooldown_ms):
    """A cooldown of inf or of more than 2**63 ns (~9.2e12 ms) must not silently turn into
    *no* cooldown (the double -> int64 cast overflows to INT64_MIN): either the constructor
    refuses it or the cooldown holds."""
    try:
        mr = MeanReversion(1, 0, 1.0, 10.0, cooldown_ms, window=1)
    except (ValueError, OverflowError):
        return
    mr.on_tick(T0, 0, 99.5, 1.0, 100.5, 1.0)
    assert mr.on_tick(T0 + 1, 0, 89.5, 1.0, 90.5, 1.0) is not None     # first signal
    second = mr.on_tick(T0 + 2 * MS, 0, 79.5, 1.0, 80.5, 1.0)
    assert second is None, f"cooldown_ms={cooldown_ms}: cooldown_ns={mr.cooldown_ns}"


# -- MA crossover by hand ------------------------------------------------------------------

def test_ma_crossover_first_regime_is_not_a_cross_then_crosses_down_and_up():
    ma = MACrossover(1, 0, 0.25, 0.0, 0.0, fast=2, slow=4)
    mids = [100, 100, 100, 100,   # full window, fast == slow: no regime yet
            104,                  # fast 102 > slow 101: first regime (+1), not a cross
            106,                  # still +1
            90,                   # [100,104,106,90] fast 98 < slow 100: cross down
            90,                   # still -1
            120]                  # [106,90,90,120] fast 105 > slow 101.5: cross up
    out = feed(ma, [(T0 + i, 0, *at_mid(float(m))) for i, m in enumerate(mids)])
    assert out[:6] == [None] * 6
    assert out[6] == (SELL, 89.5, 0.25, 100.0)
    assert out[7] is None
    assert out[8] == (BUY, 120.5, 0.25, 101.5)
    assert ma.signals == 2


def test_ma_crossover_inside_the_edge_keeps_the_regime():
    ma = MACrossover(1, 0, 1.0, 100.0, 0.0, fast=1, slow=2)   # edge 1 % of the slow SMA
    # [100, 104]: fast 104, slow 102, 2 > 1.02 -> +1 (first, silent)
    # [104, 103]: fast 103, slow 103.5, 0.5 < 1.035 -> inside the edge: regime stays +1
    # [103, 106]: fast 106, slow 104.5, 1.5 > 1.045 -> +1 again: not a cross although
    #             the inside-edge tick came between
    # [106, 100]: fast 100, slow 103, 3 > 1.03 -> -1: cross down
    out = feed(ma, [(T0 + i, 0, *at_mid(float(m))) for i, m in enumerate([100, 104, 103, 106, 100])])
    assert out == [None, None, None, None, (SELL, 99.5, 1.0, 103.0)]


def test_ma_crossover_cross_inside_cooldown_is_dropped_not_delayed():
    ma = MACrossover(1, 0, 1.0, 0.0, 5.0, fast=1, slow=2)    # cooldown 5 ms
    ticks = [(T0, 0, *at_mid(100.0)), (T0 + MS, 0, *at_mid(101.0)),     # +1, silent
             (T0 + 2 * MS, 0, *at_mid(99.0)),                             # cross down: SELL
             (T0 + 3 * MS, 0, *at_mid(101.0)),                            # cross up in cooldown
             (T0 + 10 * MS, 0, *at_mid(102.0)),                           # still +1: nothing
             (T0 + 11 * MS, 0, *at_mid(98.0))]                            # cross down: SELL
    out = feed(ma, ticks)
    assert [o and o[0] for o in out] == [None, None, SELL, None, None, SELL]


def test_ma_crossover_symbols_are_independent():
    ma = MACrossover(2, 0, 1.0, 0.0, 0.0, fast=1, slow=2)
    ticks = [(T0, 0, *at_mid(100.0)), (T0, 1, *at_mid(50.0)), (T0, 0, *at_mid(101.0)),
             (T0, 1, *at_mid(49.0)), (T0, 0, *at_mid(99.0)), (T0, 1, *at_mid(51.0))]
    out = feed(ma, ticks)
    assert out == [None, None, None, None, (SELL, 98.5, 1.0, 100.0), (BUY, 51.5, 1.0, 50.0)]


# -- vol breakout by hand ------------------------------------------------------------------

def test_vol_breakout_above_high_and_below_low_and_expiry():
    vb = VolBreakout(1, 0, 2.0, 0.0, 0.0, window=3)
    mids = [100, 101, 99,   # warm-up
            102,            # > high 101: BUY at the ask, ref 101
            98,             # window [101, 99, 102]: < low 99: SELL at the bid, ref 99
            102,            # window [99, 102, 98]: equal to the high is not a breakout
            100, 100,       # windows [102, 98, 102], [98, 102, 100]
            99]             # window [102, 100, 100]: 98 has expired, low is 100: SELL
    out = feed(vb, [(T0 + i, 0, *at_mid(float(m))) for i, m in enumerate(mids)])
    assert out == [None, None, None, (BUY, 102.5, 2.0, 101.0), (SELL, 97.5, 2.0, 99.0),
                   None, None, None, (SELL, 98.5, 2.0, 100.0)]


def test_vol_breakout_edge_scales_the_band():
    vb = VolBreakout(1, 0, 1.0, 100.0, 0.0, window=2)        # 1 %: high 101 needs > 102.01
    feed(vb, [(T0, 0, *at_mid(100.0)), (T0 + 1, 0, *at_mid(101.0))])
    assert vb.on_tick(T0 + 2, 0, 101.5, 1.0, 102.5, 1.0) is None     # mid 102
    out = vb.on_tick(T0 + 3, 0, 102.0, 1.0, 103.0, 1.0)      # mid 102.5, window [101, 102]
    assert out is None                                        # 102.5 < 102 * 1.01
    out = vb.on_tick(T0 + 4, 0, 104.0, 1.0, 105.0, 1.0)      # window [102, 102.5]
    assert out == (BUY, 105.0, 1.0, 102.5)


def test_vol_breakout_monotonic_window_after_long_runs():
    """Long monotonic runs fill the deques to capacity; the rolling high and low stay
    right (checked against max/min of the previous window on every tick)."""
    w = 7
    vb = VolBreakout(1, 0, 1.0, 0.0, 0.0, window=w)
    mids = list(range(1000, 1040)) + list(range(1040, 990, -1)) + [1000] * 10 + list(range(990, 1020))
    history = []
    for i, m in enumerate(mids):
        out = vb.on_tick(T0 + i, 0, m - 0.5, 1.0, m + 0.5, 1.0)
        if len(history) >= w:
            window = history[-w:]
            if m > max(window):
                assert out == (BUY, m + 0.5, 1.0, float(max(window))), i
            elif m < min(window):
                assert out == (SELL, m - 0.5, 1.0, float(min(window))), i
            else:
                assert out is None, i
        else:
            assert out is None
        history.append(m)


# -- construction -----------------------------------------------------------------------

def test_kind_worker_and_parameters_are_exposed():
    mr = MeanReversion(3, 2, 0.5, 5.0, 1.5, window=10)
    ma = MACrossover(3, 1, 0.5, 5.0, 0.0, fast=2, slow=3)
    vb = VolBreakout(3, 4, 0.5, 5.0, 0.0, window=5)
    assert [s.kind for s in (mr, ma, vb)] == [StrategyKind.MEAN_REVERSION,
                                              StrategyKind.MA_CROSSOVER,
                                              StrategyKind.VOL_BREAKOUT]
    assert (mr.worker, ma.worker, vb.worker) == (2, 1, 4)
    assert (mr.n_symbols, mr.qty, mr.edge, mr.cooldown_ns) == (3, 0.5, 5.0 / 1e4, 1_500_000)
    assert (mr.ticks, mr.signals) == (0, 0)


@pytest.mark.parametrize("make", [
    lambda: MACrossover(1, fast=5, slow=5),
    lambda: MACrossover(1, fast=6, slow=5),
    lambda: MACrossover(1, fast=0, slow=5),
    lambda: MACrossover(1, fast=-1, slow=5),
    lambda: MeanReversion(1, window=0),
    lambda: MeanReversion(1, window=-3),
    lambda: VolBreakout(1, window=0),
    lambda: MeanReversion(1, qty=0.0),
    lambda: MeanReversion(1, qty=-1.0),
    lambda: MeanReversion(1, qty=math.nan),
    lambda: MACrossover(1, qty=0.0),
    lambda: VolBreakout(1, qty=-0.001),
    lambda: MeanReversion(1, edge_bps=-1.0),
    lambda: VolBreakout(1, edge_bps=math.nan),
    lambda: MeanReversion(1, cooldown_ms=-1.0),
    lambda: MACrossover(1, cooldown_ms=math.nan),
    lambda: MeanReversion(0),
    lambda: VolBreakout(-1),
])
def test_bad_parameters_raise_value_error(make):
    with pytest.raises(ValueError):
        make()


@pytest.mark.parametrize("cls", [MeanReversion, MACrossover, VolBreakout])
def test_symbol_out_of_range_raises_index_error(cls):
    strategy = cls(2)
    for sym in (-1, 2):
        with pytest.raises(IndexError):
            strategy.on_tick(T0, sym, 100.0, 1.0, 100.01, 1.0)
    assert strategy.ticks == 0


def test_reinitialising_a_worker_is_refused_and_keeps_its_state():
    mr = MeanReversion(1, 0, 1.0, 0.0, 0.0, window=1)
    mr.on_tick(T0, 0, 99.5, 1.0, 100.5, 1.0)
    with pytest.raises(RuntimeError):
        mr.__init__(1, 0, 2.0, 0.0, 0.0, window=1)
    assert mr.qty == 1.0
    assert mr.on_tick(T0 + 1, 0, 89.5, 1.0, 90.5, 1.0) == (BUY, 90.5, 1.0, 100.0)


def test_the_base_worker_cannot_be_built():
    with pytest.raises(TypeError):
        StrategyWorker(1)

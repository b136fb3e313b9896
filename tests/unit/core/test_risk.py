"""RiskCheck: each denial reason by hand, and random sequences against a tiny reference."""
from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmabot.core.risk import RiskCheck
from dmabot.core.types import RiskReason

OK, PRICE_BAND, NOTIONAL, QPS, BAD_QTY = (RiskReason.RISK_OK, RiskReason.PRICE_BAND,
                                          RiskReason.NOTIONAL, RiskReason.QPS, RiskReason.BAD_QTY)
S = 1_000_000_000
MS = 1_000_000
NAN, INF = math.nan, math.inf


class RiskRef:
    """Checks in the documented order; a token bucket of `burst` tokens refilled at
    max_qps per second of the ns timestamps, one token per accepted order."""

    def __init__(self, px_min, px_max, max_notional, max_qps, burst=0.0):
        self.px_min, self.px_max = px_min, px_max
        self.max_notional, self.max_qps = max_notional, max_qps
        self.burst = burst if burst > 0 else max(1.0, max_qps)
        self.tokens = self.burst
        self.last = 0
        self.counts = {reason: 0 for reason in RiskReason}

    def check(self, ts, px, qty):
        if not (math.isfinite(qty) and qty > 0):
            reason = BAD_QTY
        elif not (self.px_min <= px <= self.px_max):
            reason = PRICE_BAND
        elif px * qty > self.max_notional:
            reason = NOTIONAL
        else:
            if ts > self.last:
                self.tokens = min(self.burst, self.tokens + (ts - self.last) * 1e-9 * self.max_qps)
                self.last = ts
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                reason = OK
            else:
                reason = QPS
        self.counts[reason] += 1
        return reason


# prices as a fraction of the band (mostly inside it) or a special value
prices = st.one_of(st.floats(0.0, 1.0), st.floats(0.0, 1.0),
                   st.sampled_from(["min", "max", "below", "above", NAN, INF, -INF, -1.0]))
qtys = st.one_of(st.floats(1e-6, 1.0), st.floats(0.0, 20.0),
                 st.sampled_from([NAN, INF, -INF, -1.0, 0.0, -0.0, 1e-9]))
# bursts at one timestamp, steady flow, idle gaps long enough to refill any bucket
gaps = st.one_of(st.just(0), st.just(0), st.integers(0, 50 * MS), st.integers(0, 2 * S),
                 st.integers(0, 600 * S))
orders = st.lists(st.tuples(gaps, prices, qtys), min_size=10, max_size=100)


def band_price(spec, px_min, px_max):
    if isinstance(spec, str):
        return {"min": px_min, "max": px_max, "below": px_min - 1.0, "above": px_max + 1.0}[spec]
    if isinstance(spec, float) and 0.0 <= spec <= 1.0:
        return px_min + spec * (px_max - px_min)
    return spec


@settings(max_examples=120, deadline=None)
@given(px_min=st.floats(0.0, 50.0), width=st.floats(1e-3, 100.0), max_notional=st.floats(1.0, 2000.0),
       max_qps=st.one_of(st.floats(0.1, 100.0), st.sampled_from([1.0, 2.0, 10.0])),
       burst=st.one_of(st.just(0.0), st.floats(1.0, 20.0)), t0=st.integers(0, 10**18),
       orders=orders)
def test_random_sequences_match_reference(px_min, width, max_notional, max_qps, burst, t0, orders):
    px_max = px_min + width
    risk = RiskCheck(px_min, px_max, max_notional, max_qps, burst)
    ref = RiskRef(px_min, px_max, max_notional, max_qps, burst)
    ts = t0
    for dt, spec, qty in orders:
        ts += dt
        px = band_price(spec, px_min, px_max)
        assert risk.check(ts, px, qty) == ref.check(ts, px, qty), (ts, px, qty)
    assert risk.counts() == ref.counts


def test_price_band_is_inclusive_and_nan_is_outside():
    risk = RiskCheck(10.0, 100.0, 1e9, 1e6)
    assert risk.check(0, 10.0, 1.0) == OK
    assert risk.check(0, 100.0, 1.0) == OK
    for px in (9.999, 100.001, 0.0, -50.0, NAN, INF, -INF):
        assert risk.check(0, px, 1.0) == PRICE_BAND, px
    assert risk.counts()[PRICE_BAND] == 7


def test_notional_cap_is_inclusive():
    risk = RiskCheck(1.0, 1e6, 1000.0, 1e6)
    assert risk.check(0, 100.0, 10.0) == OK           # exactly 1000
    assert risk.check(0, 100.0, 10.5) == NOTIONAL
    assert risk.check(0, 50_000.0, 0.03) == NOTIONAL   # 1500
    assert risk.check(0, 50_000.0, 0.02) == OK


@pytest.mark.parametrize("qty", [0.0, -0.0, -1.0, NAN, INF, -INF])
def test_bad_quantity(qty):
    risk = RiskCheck(1.0, 100.0, 1e9, 1e6)
    assert risk.check(0, 50.0, qty) == BAD_QTY


def test_reason_precedence():
    risk = RiskCheck(10.0, 100.0, 100.0, 1.0, burst=1.0)
    assert risk.check(0, NAN, NAN) == BAD_QTY           # bad qty before the price band
    assert risk.check(0, 1e9, 1.0) == PRICE_BAND         # band before notional
    assert risk.check(0, 99.0, 2.0) == NOTIONAL
    # none of the denials took the only token
    assert risk.check(0, 50.0, 1.0) == OK
    assert risk.check(0, 1e9, 0.0) == BAD_QTY            # a bad order is not a QPS denial
    assert risk.check(0, 50.0, 1.0) == QPS


def test_token_bucket_burst_and_refill():
    risk = RiskCheck(1.0, 1000.0, 1e9, max_qps=10.0)   # default burst: 10 orders
    t = 5 * S
    assert [risk.check(t, 100.0, 1.0) for _ in range(11)] == [OK] * 10 + [QPS]
    assert risk.check(t + 99 * MS, 100.0, 1.0) == QPS    # 0.99 token
    assert risk.check(t + 101 * MS, 100.0, 1.0) == OK    # 1.01 tokens
    assert risk.check(t + 101 * MS, 100.0, 1.0) == QPS
    # a long idle time refills to the burst, not beyond
    t += 3600 * S
    assert [risk.check(t, 100.0, 1.0) for _ in range(11)] == [OK] * 10 + [QPS]
    # a timestamp from the past does not refill (or drain) the bucket
    assert risk.check(t - S, 100.0, 1.0) == QPS
    assert risk.check(t + 100 * MS + MS, 100.0, 1.0) == OK


def test_slow_rate_default_burst_is_one_order():
    risk = RiskCheck(1.0, 1000.0, 1e9, max_qps=0.5)
    assert risk.check(10 * S, 100.0, 1.0) == OK
    assert risk.check(10 * S, 100.0, 1.0) == QPS
    assert risk.check(11 * S, 100.0, 1.0) == QPS          # half a token
    assert risk.check(12 * S - MS, 100.0, 1.0) == QPS
    assert risk.check(12 * S + MS, 100.0, 1.0) == OK


def test_explicit_burst():
    risk = RiskCheck(1.0, 1000.0, 1e9, max_qps=1.0, burst=5.0)
    assert [risk.check(S, 100.0, 1.0) for _ in range(6)] == [OK] * 5 + [QPS]
    assert risk.check(2 * S + MS, 100.0, 1.0) == OK
    assert risk.check(2 * S + MS, 100.0, 1.0) == QPS
    assert [risk.check(100 * S, 100.0, 1.0) for _ in range(6)] == [OK] * 5 + [QPS]


def test_burst_below_one_order_is_rejected_or_still_lets_orders_through():
    """A bucket that can never hold a whole token denies every order forever; a burst in
    (0, 1) must be refused at construction (or treated as at least one order)."""
    try:
        risk = RiskCheck(1.0, 1000.0, 1e9, max_qps=10.0, burst=0.5)
    except ValueError:
        return
    assert risk.check(3600 * S, 100.0, 1.0) == OK


def test_counts_every_decision():
    risk = RiskCheck(10.0, 100.0, 1000.0, max_qps=1.0)
    decisions = [risk.check(0, 50.0, 1.0), risk.check(0, 50.0, 1.0), risk.check(0, 5.0, 1.0),
                 risk.check(0, 99.0, 20.0), risk.check(0, 50.0, -1.0), risk.check(0, 50.0, NAN)]
    assert decisions == [OK, QPS, PRICE_BAND, NOTIONAL, BAD_QTY, BAD_QTY]
    counts = risk.counts()
    assert counts == {OK: 1, PRICE_BAND: 1, NOTIONAL: 1, QPS: 1, BAD_QTY: 2}
    assert all(isinstance(reason, RiskReason) for reason in counts)
    assert isinstance(risk.check(0, 50.0, 1.0), RiskReason)


def test_fresh_counts_are_zero_and_limits_are_readable():
    risk = RiskCheck(1.5, 2.5, 300.0, 4.0)
    assert risk.counts() == {reason: 0 for reason in RiskReason}
    assert (risk.px_min, risk.px_max, risk.max_notional, risk.max_qps) == (1.5, 2.5, 300.0, 4.0)


@pytest.mark.parametrize("args", [
    (-1.0, 100.0, 1e3, 1.0),
    (100.0, 100.0, 1e3, 1.0),
    (200.0, 100.0, 1e3, 1.0),
    (NAN, 100.0, 1e3, 1.0),
    (1.0, INF, 1e3, 1.0),
    (1.0, NAN, 1e3, 1.0),
    (1.0, 100.0, 0.0, 1.0),
    (1.0, 100.0, -5.0, 1.0),
    (1.0, 100.0, INF, 1.0),
    (1.0, 100.0, NAN, 1.0),
    (1.0, 100.0, 1e3, 0.0),
    (1.0, 100.0, 1e3, -1.0),
    (1.0, 100.0, 1e3, INF),
    (1.0, 100.0, 1e3, NAN),
])
def test_bad_limits_raise_value_error(args):
    with pytest.raises(ValueError):
        RiskCheck(*args)

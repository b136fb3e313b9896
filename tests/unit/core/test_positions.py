"""PositionBook: average-cost positions worked by hand, and against an exact reference."""
from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmabot.core.positions import PositionBook

BUY, SELL = 1, -1


def snapshot(book, sym=0, venue=0, *keys):
    pos = book.get(sym, venue)
    return tuple(pos[k] for k in keys)


def test_worked_example_long_then_flip_short_then_flat():
    book = PositionBook(1, 1)
    book.fill(0, 0, BUY, 100.0, 2.0, fee=0.25)
    assert snapshot(book, 0, 0, "qty", "avg_px", "realized") == (2.0, 100.0, 0.0)
    book.fill(0, 0, BUY, 110.0, 2.0, fee=0.25)             # add: avg (200 + 220) / 4
    assert snapshot(book, 0, 0, "qty", "avg_px", "realized") == (4.0, 105.0, 0.0)
    book.fill(0, 0, SELL, 120.0, 1.0, fee=0.5)             # partial close: +15, avg unchanged
    assert snapshot(book, 0, 0, "qty", "avg_px", "realized") == (3.0, 105.0, 15.0)
    book.fill(0, 0, SELL, 100.0, 5.0, fee=0.5)             # close 3 at -5 each, open 2 short
    assert snapshot(book, 0, 0, "qty", "avg_px", "realized") == (-2.0, 100.0, 0.0)
    book.mark(0, 90.0)
    assert book.get(0, 0)["unrealized"] == 20.0             # short 2 from 100, marked at 90
    book.fill(0, 0, BUY, 95.0, 2.0, fee=0.25)              # close the short: +10
    pos = book.get(0, 0)
    assert (pos["qty"], pos["avg_px"], pos["realized"], pos["unrealized"]) == (0.0, 0.0, 10.0, 0.0)
    assert (pos["fees"], pos["bought"], pos["sold"], pos["fills"], pos["mark"]) == (1.75, 6.0, 6.0, 5, 90.0)


def test_short_first_then_partial_cover():
    book = PositionBook(1, 1)
    book.fill(0, 0, SELL, 50.0, 1.0)
    book.fill(0, 0, SELL, 60.0, 1.0)
    assert snapshot(book, 0, 0, "qty", "avg_px") == (-2.0, 55.0)
    book.fill(0, 0, BUY, 40.0, 0.5)                        # covering lower is a gain
    assert snapshot(book, 0, 0, "qty", "avg_px", "realized") == (-1.5, 55.0, 7.5)
    book.mark(0, 65.0)
    assert book.get(0, 0)["unrealized"] == -15.0
    book.fill(0, 0, BUY, 70.0, 3.5)                        # cover 1.5 at a loss, flip long 2
    assert snapshot(book, 0, 0, "qty", "avg_px", "realized") == (2.0, 70.0, 7.5 - 22.5)
    assert book.get(0, 0)["unrealized"] == -10.0


def test_unrealized_uses_the_latest_mark_and_is_zero_before_any():
    book = PositionBook(2, 2)
    book.fill(1, 1, BUY, 200.0, 0.5)
    assert book.get(1, 1)["unrealized"] == 0.0 and book.get(1, 1)["mark"] == 0.0
    book.mark(1, 210.0)
    assert book.get(1, 1)["unrealized"] == 5.0
    book.mark(1, 190.0)
    assert book.get(1, 1)["unrealized"] == -5.0
    book.mark(0, 1000.0)                                    # another symbol's mark
    assert book.get(1, 1)["unrealized"] == -5.0


def test_symbols_and_venues_are_separate_books_sharing_the_symbol_mark():
    book = PositionBook(2, 3)
    book.fill(0, 0, BUY, 100.0, 1.0, fee=0.1)
    book.fill(0, 2, SELL, 101.0, 2.0, fee=0.2)
    book.fill(1, 0, BUY, 5.0, 10.0)
    book.mark(0, 102.0)
    assert snapshot(book, 0, 0, "qty", "avg_px", "unrealized", "fees") == (1.0, 100.0, 2.0, 0.1)
    assert snapshot(book, 0, 2, "qty", "avg_px", "unrealized", "fees") == (-2.0, 101.0, -2.0, 0.2)
    assert snapshot(book, 0, 1, "qty", "avg_px", "fills") == (0.0, 0.0, 0)
    assert snapshot(book, 1, 0, "qty", "avg_px", "mark") == (10.0, 5.0, 0.0)


def test_fees_accumulate_separately_from_realized():
    book = PositionBook(1, 1)
    for i in range(10):
        book.fill(0, 0, BUY if i % 2 == 0 else SELL, 100.0, 1.0, fee=0.125)
    pos = book.get(0, 0)
    assert (pos["qty"], pos["realized"], pos["fees"], pos["fills"]) == (0.0, 0.0, 1.25, 10)


def test_opening_fill_sets_avg_to_the_fill_price_exactly():
    """A position opened by one fill has an average cost equal to that fill's price (not
    px * qty / qty, which gives 60000.119999999995 for 60000.12 x 0.003)."""
    book = PositionBook(1, 1)
    mismatches = []
    for px_cents, qty_units in [(6_000_012, 300), (5_476_020, 568_083), (1_627_865, 106_789),
                                (333_044, 550_465), (6_000_001, 7)]:
        px, qty = px_cents / 100, qty_units / 1e5
        book.fill(0, 0, BUY, px, qty)
        if book.get(0, 0)["avg_px"] != px:
            mismatches.append((px, qty, book.get(0, 0)["avg_px"]))
        book.fill(0, 0, SELL, px, qty)                      # back to flat
        assert book.get(0, 0)["qty"] == 0.0
    assert mismatches == []


def test_full_close_of_large_quantities_returns_to_flat():
    """Buying 12468.9717 and 16829.4835 then selling 29298.4552 closes the position: qty
    and avg_px are 0 whatever the rounding of the sum (an absolute 1e-12 threshold is below
    the rounding of quantities of ~1e4)."""
    book = PositionBook(1, 1)
    book.fill(0, 0, BUY, 100.0, 12468.9717)
    book.fill(0, 0, BUY, 101.0, 16829.4835)
    book.fill(0, 0, SELL, 102.0, 29298.4552)
    pos = book.get(0, 0)
    assert (pos["qty"], pos["avg_px"]) == (0.0, 0.0), pos


@pytest.mark.parametrize("side,qty", [(0, 1.0), (2, 1.0), (-2, 1.0), (BUY, 0.0), (BUY, -1.0),
                                      (SELL, math.nan)])
def test_bad_fill_raises_value_error(side, qty):
    book = PositionBook(1, 1)
    with pytest.raises(ValueError):
        book.fill(0, 0, side, 100.0, qty)
    assert book.get(0, 0)["fills"] == 0


def test_out_of_range_raises_index_error():
    book = PositionBook(2, 3)
    for sym, venue in [(2, 0), (-1, 0), (0, 3), (0, -1)]:
        with pytest.raises(IndexError):
            book.fill(sym, venue, BUY, 1.0, 1.0)
        with pytest.raises(IndexError):
            book.get(sym, venue)
    with pytest.raises(IndexError):
        book.mark(2, 1.0)


@pytest.mark.parametrize("n_symbols,n_venues", [(0, 1), (1, 0), (-1, 2)])
def test_empty_book_raises_value_error(n_symbols, n_venues):
    with pytest.raises(ValueError):
        PositionBook(n_symbols, n_venues)


# -- against an exact reference -----------------------------------------------------------

class ExactBook:
    """Average-cost position in exact rational arithmetic."""

    def __init__(self):
        self.qty = self.avg = self.realized = self.fees = Fraction(0)
        self.notional = Fraction(0)     # scale for absolute tolerances

    def fill(self, side, px, qty, fee):
        px, qty = Fraction(px), Fraction(qty)
        self.fees += Fraction(fee)
        self.notional += px * qty
        if self.qty == 0 or (self.qty > 0) == (side > 0):
            self.avg = (self.avg * abs(self.qty) + px * qty) / (abs(self.qty) + qty)
            self.qty += side * qty
            return
        closing = min(qty, abs(self.qty))
        self.realized += closing * (px - self.avg) * (1 if self.qty > 0 else -1)
        self.qty += side * qty
        if self.qty == 0:
            self.avg = Fraction(0)
        elif (self.qty > 0) == (side > 0):
            self.avg = px


fills = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1), st.sampled_from([BUY, SELL]),
                           st.integers(1, 10_000_000),           # price in cents
                           st.one_of(st.integers(1, 1_000_000),  # qty in 1e-5 units, <= 10
                                     st.sampled_from([10_000, 50_000, 100_000])),
                           st.integers(0, 1_000)),               # fee in 1e-4 units
                 min_size=1, max_size=60)


def close(a, b, scale):
    return math.isclose(a, float(b), rel_tol=1e-9, abs_tol=1e-9 * float(scale))


@settings(max_examples=150, deadline=None)
@given(fills=fills, marks=st.lists(st.integers(1, 10_000_000), min_size=2, max_size=2))
def test_random_fills_match_exact_average_cost_book(fills, marks):
    book = PositionBook(2, 2)
    ref = {(s, v): ExactBook() for s in range(2) for v in range(2)}
    for sym, venue, side, px_c, qty_u, fee_u in fills:
        px, qty, fee = px_c / 100, qty_u / 1e5, fee_u / 1e4
        book.fill(sym, venue, side, px, qty, fee)
        r = ref[sym, venue]
        r.fill(side, px, qty, fee)
        pos = book.get(sym, venue)
        assert close(pos["qty"], r.qty, 1), (pos, r.qty)
        assert (pos["qty"] == 0) == (r.qty == 0)
        assert close(pos["avg_px"], r.avg, 0), (pos, r.avg)
        assert close(pos["realized"], r.realized, r.notional), (pos, r.realized)
        assert close(pos["fees"], r.fees, 0)
    for sym in range(2):
        book.mark(sym, marks[sym] / 100)
    for (sym, venue), r in ref.items():
        pos = book.get(sym, venue)
        unrealized = (Fraction(marks[sym] / 100) - r.avg) * r.qty
        assert close(pos["unrealized"], unrealized, r.notional), (pos, unrealized)
        side_fills = [f for f in fills if f[:2] == (sym, venue)]
        assert pos["fills"] == len(side_fills)
        assert math.isclose(pos["bought"] - pos["sold"], pos["qty"], rel_tol=1e-9, abs_tol=1e-9)

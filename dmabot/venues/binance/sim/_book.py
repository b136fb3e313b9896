"""The liquidity an order meets on the simulated venue, from the simulator's own top of book.

A symbol's book is its `BookTickerWalk`: the touch with its shown quantity, then a synthetic
depth of `DEPTH_LEVELS` more levels, each one tick worse with the same size. Quantity taken
from a level stays taken until the walk publishes its next update.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from dmabot.venues.binance.sim._market import BookTickerWalk
from dmabot.venues.binance.sim._orders import OrderSide
from dmabot.venues.binance.sim._symbols import SCALE, SymbolSpec

DEPTH_LEVELS = 20  # levels behind the touch; an order needing more ends EXPIRED


@dataclass
class BookFill:
    """Quantity an order can take (or took) at one price."""

    price: int
    qty: int


def quote_of(price: int, qty: int) -> int:
    """price * qty in units of 1e-8, rounded down (exact on the listed symbols' grids)."""
    return price * qty // SCALE


class BookLiquidity:
    """What orders can take from each symbol's walk, and what they already took from it."""

    def __init__(self, books: Mapping[str, BookTickerWalk]) -> None:
        self.books = dict(books)
        # (symbol, side taken) -> (walk update id, quantity already taken from that update)
        self._taken: dict[tuple[str, OrderSide], tuple[int, int]] = {}

    def mid(self, symbol: str) -> Decimal:
        walk = self.books[symbol]
        mid2 = (2 * walk.bid_ticks + walk.spread_ticks) * walk.spec.tick_units
        return Decimal(mid2) / (2 * SCALE)

    def touch(self, symbol: str) -> tuple[int, int, dict[OrderSide, int]]:
        """(bid, ask, shown quantity each side can take) of the walk now."""
        walk = self.books[symbol]
        spec = walk.spec
        bid = walk.bid_ticks * spec.tick_units
        ask = (walk.bid_ticks + walk.spread_ticks) * spec.tick_units
        available = {
            OrderSide.BUY: walk.ask_qty_steps * spec.step_units,
            OrderSide.SELL: walk.bid_qty_steps * spec.step_units,
        }
        return bid, ask, available

    def for_qty(self, spec: SymbolSpec, side: OrderSide, qty: int, limit: int | None) -> list[BookFill]:
        """What `qty` of `side` would take now, at prices no worse than `limit`."""
        fills: list[BookFill] = []
        for level in self._levels(spec, side):
            if qty == 0:
                break
            if limit is not None and (level.price > limit if side is OrderSide.BUY else level.price < limit):
                break
            take = min(qty, level.qty)
            fills.append(BookFill(level.price, take))
            qty -= take
        return fills

    def for_quote(self, spec: SymbolSpec, side: OrderSide, quote: int) -> list[BookFill]:
        """MARKET by quoteOrderQty: the most whole steps whose cost (BUY) or proceeds (SELL)
        stay within `quote`."""
        fills: list[BookFill] = []
        for level in self._levels(spec, side):
            steps = quote * SCALE // level.price // spec.step_units
            take = min(level.qty, steps * spec.step_units)
            if take == 0:
                break
            fills.append(BookFill(level.price, take))
            quote -= quote_of(level.price, take)
        return fills

    def consume(self, spec: SymbolSpec, side: OrderSide, qty: int) -> None:
        """`qty` of `side` was taken from the walk's current update."""
        if not qty:
            return
        update_id = self.books[spec.symbol].update_id
        taken_u, taken = self._taken.get((spec.symbol, side), (-1, 0))
        self._taken[(spec.symbol, side)] = (update_id, (taken if taken_u == update_id else 0) + qty)

    def _levels(self, spec: SymbolSpec, side: OrderSide) -> Iterable[BookFill]:
        """What an order of `side` can take now, best first (shown touch, then synthetic)."""
        walk = self.books[spec.symbol]
        if side is OrderSide.BUY:
            touch = (walk.bid_ticks + walk.spread_ticks) * spec.tick_units
            size = walk.ask_qty_steps * spec.step_units
            direction = 1
        else:
            touch = walk.bid_ticks * spec.tick_units
            size = walk.bid_qty_steps * spec.step_units
            direction = -1
        taken_u, taken = self._taken.get((spec.symbol, side), (-1, 0))
        if taken_u != walk.update_id:
            taken = 0
        for level in range(DEPTH_LEVELS + 1):
            price = touch + direction * level * spec.tick_units
            if price <= 0:
                return
            left = size - min(size, taken)
            taken -= size - left
            if left:
                yield BookFill(price, left)

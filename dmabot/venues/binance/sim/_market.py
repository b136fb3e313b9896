"""A seeded random walk of one symbol's best bid and ask, rendered as Binance bookTicker."""

from __future__ import annotations

import random

from dmabot.venues.binance.sim._symbols import SymbolSpec, format_units

# mid-price moves per update, in ticks, and how often each happens
_MOVES = (-2, -1, 0, 1, 2)
_MOVE_WEIGHTS = (1, 4, 10, 4, 1)
_SPREADS = (1, 2, 3)
_SPREAD_WEIGHTS = (8, 2, 1)


class BookTickerWalk:
    """Best bid/ask of one symbol; `advance()` moves it and returns the raw stream payload.

    The same seed and symbol give the same sequence of payloads. Prices stay on the tick
    grid, quantities on the step grid, and `u` strictly increases.
    """

    def __init__(self, spec: SymbolSpec, seed: int) -> None:
        self.spec = spec
        self.stream = f"{spec.stream_prefix}@bookTicker"
        self._rng = random.Random(f"{seed}:{spec.symbol}")
        self.update_id = self._rng.randrange(10**9, 10**11)
        self.bid_ticks = spec.start_price_units // spec.tick_units
        self.spread_ticks = 1
        # a book of typical size before the first move (the venue may trade against it)
        self.bid_qty_steps = spec.mean_level_steps
        self.ask_qty_steps = spec.mean_level_steps

    def advance(self) -> str:
        rng = self._rng
        self.update_id += rng.randint(1, 20)  # other book updates happened in between
        self.bid_ticks = max(1, self.bid_ticks + rng.choices(_MOVES, _MOVE_WEIGHTS)[0])
        self.spread_ticks = rng.choices(_SPREADS, _SPREAD_WEIGHTS)[0]
        self.bid_qty_steps = self._level_steps()
        self.ask_qty_steps = self._level_steps()
        return self.payload()

    def _level_steps(self) -> int:
        return 1 + int(self._rng.expovariate(1.0 / self.spec.mean_level_steps))

    def payload(self) -> str:
        spec = self.spec
        bid = self.bid_ticks * spec.tick_units
        ask = (self.bid_ticks + self.spread_ticks) * spec.tick_units
        return (
            f'{{"u":{self.update_id},"s":"{spec.symbol}",'
            f'"b":"{format_units(bid)}","B":"{format_units(self.bid_qty_steps * spec.step_units)}",'
            f'"a":"{format_units(ask)}","A":"{format_units(self.ask_qty_steps * spec.step_units)}"}}'
        )

from collections.abc import Sequence
from typing import final

from dmabot.core.ring import TickRing

@final
class MockFeed:
    def __init__(
        self,
        start_prices: Sequence[float],
        tick_size: float = 0.01,
        vol_bps: float = 1.0,
        seed: int = 1,
        notional: float = 50000.0,
    ) -> None: ...
    @property
    def n_symbols(self) -> int: ...
    @property
    def tick_size(self) -> float: ...
    @property
    def vol(self) -> float: ...
    @property
    def notional(self) -> float: ...
    def generate(self, ring: TickRing, ts: int, n: int) -> int: ...

from typing_extensions import Self, disjoint_base

from dmabot.venues.binance.protocol.filters import SymbolRules

GRID_INTEGER_LIMIT: int
MAX_EXPONENT: int

@disjoint_base
class LimitOrderGrid:
    @property
    def symbol(self) -> str: ...
    def __new__(cls, rules: SymbolRules) -> Self: ...
    def prepare(self, side: int, px: float, qty: float, reference: float | None = None) -> tuple[str, str] | None: ...

from dmabot.venues.binance.protocol.filters import SymbolRules

GRID_INTEGER_LIMIT: int
MAX_EXPONENT: int

class LimitOrderGrid:
    @property
    def symbol(self) -> str: ...
    def __init__(self, rules: SymbolRules) -> None: ...
    def prepare(self, side: int, px: float, qty: float, reference: float | None = None) -> tuple[str, str] | None: ...

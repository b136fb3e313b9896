from typing_extensions import disjoint_base

@disjoint_base
class StrategyWorker:
    # The base of the three strategies: constructing it directly raises TypeError.
    def __init__(self, n_symbols: int, *args: object, **kwargs: object) -> None: ...
    @property
    def kind(self) -> int: ...
    @property
    def worker(self) -> int: ...
    @property
    def n_symbols(self) -> int: ...
    @property
    def qty(self) -> float: ...
    @property
    def edge(self) -> float: ...
    @property
    def cooldown_ns(self) -> int: ...
    @property
    def ticks(self) -> int: ...
    @property
    def signals(self) -> int: ...
    def on_tick(
        self, ts: int, sym: int, bid: float, bid_qty: float, ask: float, ask_qty: float
    ) -> tuple[int, float, float, float] | None: ...

@disjoint_base
class MeanReversion(StrategyWorker):
    def __init__(
        self,
        n_symbols: int,
        worker: int = 0,
        qty: float = 0.001,
        edge_bps: float = 5.0,
        cooldown_ms: float = 0.0,
        window: int = 50,
    ) -> None: ...

@disjoint_base
class MACrossover(StrategyWorker):
    def __init__(
        self,
        n_symbols: int,
        worker: int = 0,
        qty: float = 0.001,
        edge_bps: float = 1.0,
        cooldown_ms: float = 0.0,
        fast: int = 10,
        slow: int = 40,
    ) -> None: ...

@disjoint_base
class VolBreakout(StrategyWorker):
    def __init__(
        self,
        n_symbols: int,
        worker: int = 0,
        qty: float = 0.001,
        edge_bps: float = 2.0,
        cooldown_ms: float = 0.0,
        window: int = 100,
    ) -> None: ...

from typing_extensions import disjoint_base

from dmabot.core.strategy import StrategyWorker

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

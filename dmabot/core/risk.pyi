from typing_extensions import disjoint_base

from .types import RiskReason

@disjoint_base
class RiskCheck:
    def __init__(
        self,
        px_min: float,
        px_max: float,
        max_notional: float,
        max_qps: float,
        burst: float = 0.0,
    ) -> None: ...
    @property
    def px_min(self) -> float: ...
    @property
    def px_max(self) -> float: ...
    @property
    def max_notional(self) -> float: ...
    @property
    def max_qps(self) -> float: ...
    def check(self, ts: int, px: float, qty: float) -> RiskReason: ...
    def counts(self) -> dict[RiskReason, int]: ...

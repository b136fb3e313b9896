import enum

from typing_extensions import disjoint_base

class Side(enum.IntEnum):
    BUY = 1
    SELL = -1

class ExecStatus(enum.IntEnum):
    ACK = 0
    PARTIALLY_FILLED = 1
    FILLED = 2
    CANCELED = 3
    REJECTED = 4
    EXPIRED = 5

class RiskReason(enum.IntEnum):
    RISK_OK = 0
    PRICE_BAND = 1
    NOTIONAL = 2
    QPS = 3
    BAD_QTY = 4

class StrategyKind(enum.IntEnum):
    MEAN_REVERSION = 0
    MA_CROSSOVER = 1
    VOL_BREAKOUT = 2

@disjoint_base
class Order:
    def __init__(
        self,
        order_id: int,
        signal_id: int,
        ts: int,
        sym: int,
        strategy: int,
        worker: int,
        venue: int,
        side: int,
        px: float,
        qty: float,
        t_signal_wall: int = 0,
    ) -> None: ...
    @property
    def order_id(self) -> int: ...
    @property
    def signal_id(self) -> int: ...
    @property
    def ts(self) -> int: ...
    @property
    def sym(self) -> int: ...
    @property
    def strategy(self) -> int: ...
    @property
    def worker(self) -> int: ...
    @property
    def venue(self) -> int: ...
    @property
    def side(self) -> int: ...
    @property
    def px(self) -> float: ...
    @property
    def qty(self) -> float: ...
    @property
    def t_signal_wall(self) -> int: ...

@disjoint_base
class ExecReport:
    def __init__(
        self,
        order: Order,
        ts: int,
        status: int,
        fill_px: float = 0.0,
        fill_qty: float = 0.0,
        fee: float = 0.0,
        trade_id: int = 0,
    ) -> None: ...
    @property
    def order(self) -> Order: ...
    @property
    def ts(self) -> int: ...
    @property
    def status(self) -> int: ...
    @property
    def fill_px(self) -> float: ...
    @property
    def fill_qty(self) -> float: ...
    @property
    def fee(self) -> float: ...
    @property
    def trade_id(self) -> int: ...

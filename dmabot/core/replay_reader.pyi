import enum

from typing_extensions import disjoint_base

from dmabot.core.symbols import SymbolTable

from .pipeline import Pipeline

class ReadStop(enum.IntEnum):
    END = 0
    TIMER = 1
    ORDERS = 2
    OTHER = 3

@disjoint_base
class MdLineReader:
    def __init__(self, pipeline: Pipeline, symbols: SymbolTable) -> None: ...
    @property
    def pipeline(self) -> Pipeline: ...
    @property
    def symbols(self) -> SymbolTable: ...
    @property
    def lines(self) -> int: ...
    @property
    def ticks(self) -> int: ...
    def feed(self, buf: bytes, pos: int, stop_ts: int = ...) -> tuple[ReadStop, int, int]: ...

import enum
from collections.abc import Iterable

from typing_extensions import Self, disjoint_base

from dmabot.core.ring import TickRing
from dmabot.core.symbols import SymbolTable
from dmabot.io.frames import PayloadSink

class DecodeResult(enum.IntEnum):
    OK = 0
    NOT_BOOK_TICKER = 1
    BAD_JSON = 2
    MISSING_FIELD = 3
    BAD_UPDATE_ID = 4
    UNKNOWN_SYMBOL = 5
    BAD_NUMBER = 6
    NON_FINITE = 7
    NON_POSITIVE = 8
    CROSSED = 9
    STALE = 10

STALE_RUN_LIMIT: int

# (ts, sym, bid, bid_qty, ask, ask_qty, update_id), as TickRing.pop_tuple()
_Tick = tuple[int, int, float, float, float, float, int]

@disjoint_base
class BookTickerDecoder(PayloadSink):
    @property
    def symbols(self) -> SymbolTable: ...
    @property
    def ring(self) -> TickRing | None: ...
    @property
    def slow_path(self) -> int: ...
    @property
    def stale_run_limit(self) -> int: ...
    @property
    def rebased(self) -> int: ...
    def __new__(cls, symbols: SymbolTable | Iterable[str], ring: TickRing | None = None,
                stale_run_limit: int = ...) -> Self: ...
    def reset(self) -> None: ...
    def decode(self, payload: bytes, ts: int = 0) -> tuple[DecodeResult, _Tick | None]: ...
    def decode_into(self, ring: TickRing, payload: bytes, ts: int) -> DecodeResult: ...
    def decode_all_into(self, ring: TickRing, payloads: list[bytes], ts: int) -> int: ...
    @property
    def dropped(self) -> int: ...
    def counters(self) -> dict[str, int]: ...

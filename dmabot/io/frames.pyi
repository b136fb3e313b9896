import enum

from dmabot.core.ring import TickRing
from dmabot.venues.binance.fast.bookticker import BookTickerDecoder

class FrameStop(enum.IntEnum):
    END = 0
    INCOMPLETE = 1
    MESSAGE = 2
    CONTROL = 3
    FRAGMENT = 4
    INVALID_UTF8 = 5
    BAD_OPCODE = 6
    BAD_CONTROL = 7
    BAD_LENGTH = 8
    RESERVED_BITS = 9
    MASKED = 10

def read_frames(
    data: bytes | bytearray | memoryview,
    decoder: BookTickerDecoder,
    ring: TickRing,
    ts: int,
    start: int = 0,
    message_open: bool = False,
) -> tuple[FrameStop, int, int, int]: ...

class ClientFrameWriter:
    def text(self, payload: bytes) -> bytes: ...

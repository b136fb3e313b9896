import enum

from typing_extensions import disjoint_base

class SinkStatus(enum.IntEnum):
    TAKEN = 0
    PASSED = 1

@disjoint_base
class PayloadSink:
    def take_payload(self, payload: bytes | bytearray | memoryview, ts: int) -> SinkStatus: ...

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
    TOO_BIG = 11

def read_frames(
    data: bytes | bytearray | memoryview,
    sink: PayloadSink,
    ts: int,
    start: int = 0,
    message_open: bool = False,
    max_payload: int = 2**64 - 1,
) -> tuple[FrameStop, int, int, int]: ...

@disjoint_base
class ClientFrameWriter:
    def text(self, payload: bytes) -> bytes: ...

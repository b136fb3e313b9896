"""Fault switches: misbehaviour a test can order from a running simulator.

Over HTTP, on the simulator's own port (parameters in the query string or a form body):

    POST /sim/fault?action=drop_clients         close every WebSocket connection's TCP
                                                socket at once, without a close frame
    POST /sim/fault?action=stall&seconds=N      publish no market data for N seconds
                                                (control replies and pings go on)
    POST /sim/fault?action=malformed_frame      send every WebSocket client bytes that are
                                                not a valid frame (reserved opcode 0x3)
    POST /sim/fault?action=malformed_payload    send every WebSocket client a text frame
                                                holding truncated JSON
    POST /sim/fault?action=ping                 send every WebSocket client a ping now
    POST /sim/fault?action=close&code=N         start a WebSocket close handshake with
                                                code N (1000-4999) on every connection

The reply is `{"action":"stall","connections":2}`: how many connections the fault hit
(for stall, the number of stream connections that will miss data). Plain HTTP
connections, such as the one carrying the fault request, are never affected. In-process,
call `Simulator.apply_fault(Fault(...))` or the named methods on `Simulator`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

MAX_STALL_SECONDS = 3600.0


class FaultAction(Enum):
    DROP_CLIENTS = "drop_clients"
    STALL = "stall"
    MALFORMED_FRAME = "malformed_frame"
    MALFORMED_PAYLOAD = "malformed_payload"
    PING = "ping"
    CLOSE = "close"


@dataclass(frozen=True)
class Fault:
    action: FaultAction
    seconds: float = 0.0  # STALL only
    code: int = 1000  # CLOSE only

    def __str__(self) -> str:
        if self.action is FaultAction.STALL:
            return f"stall seconds={self.seconds:g}"
        if self.action is FaultAction.CLOSE:
            return f"close code={self.code}"
        return self.action.value


class FaultError(ValueError):
    """A fault request named an unknown action or lacked a valid parameter."""


class FaultSwitch(Protocol):
    def apply_fault(self, fault: Fault) -> int:
        """Apply `fault`; return how many connections it affects."""


def parse_fault(params: Mapping[str, str]) -> Fault:
    try:
        action = FaultAction(params.get("action", ""))
    except ValueError:
        choices = "|".join(a.value for a in FaultAction)
        raise FaultError(f"Parameter 'action' must be one of {choices}.") from None
    if action is FaultAction.STALL:
        return Fault(action, seconds=_bounded(params, "seconds", 0.0, MAX_STALL_SECONDS))
    if action is FaultAction.CLOSE:
        code = _bounded(params, "code", 1000, 4999)
        if not code.is_integer():
            raise FaultError("Parameter 'code' must be an integer.")
        return Fault(action, code=int(code))
    return Fault(action)


def _bounded(params: Mapping[str, str], name: str, low: float, high: float) -> float:
    try:
        value = float(params[name])
    except (KeyError, ValueError):
        raise FaultError(f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.") from None
    if not low <= value <= high:  # also rejects nan
        raise FaultError(f"Parameter '{name}' must be between {low:g} and {high:g}.")
    return value

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
    POST /sim/fault?action=server_shutdown      send every stream client Binance's
                                                serverShutdown notice
    POST /sim/fault?action=close&code=N         start a WebSocket close handshake with
                                                code N (1000-4999) on every connection
    POST /sim/fault?action=drop_user_stream     close the TCP socket of every WebSocket API
                                                connection holding a user-data subscription
    POST /sim/fault?action=delay_reply&seconds=N[&count=K]
                                                the next K (default 1) trading REST replies
                                                (POST/DELETE order, DELETE openOrders) are
                                                sent N seconds late; the request executes now
    POST /sim/fault?action=lose_reply[&count=K] the next K trading requests (REST, or WebSocket
                                                API order.place/order.cancel) execute but get
                                                no reply: the connection is closed instead
    POST /sim/fault?action=http_5xx[&code=503][&count=K]
                                                the next K trading requests execute, then get
                                                an empty HTTP 5xx (500-599) reply
    POST /sim/fault?action=force_1021[&count=K] the next K signed REST requests are refused
                                                with -1021 "outside of the recvWindow"
    POST /sim/fault?action=force_429[&count=K][&seconds=N][&code=-1003|-1015]
                                                the next K weighted REST requests get 429 -1003
                                                (too much request weight) with Retry-After N
                                                seconds (default: until the weight's minute
                                                ends); with code=-1015 the next K new REST
                                                orders get 429 -1015 (too many new orders)
                                                instead, Retry-After by default until the
                                                10-second window ends
    POST /sim/fault?action=force_418&seconds=N  ban "the IP" for N seconds: REST and the
                                                WebSocket API answer 418 -1003 until then

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
MAX_COUNT = 1000
TOO_MUCH_WEIGHT = -1003  # the codes a forced 429 can carry
TOO_MANY_ORDERS = -1015


class FaultAction(Enum):
    DROP_CLIENTS = "drop_clients"
    STALL = "stall"
    MALFORMED_FRAME = "malformed_frame"
    MALFORMED_PAYLOAD = "malformed_payload"
    PING = "ping"
    SERVER_SHUTDOWN = "server_shutdown"
    CLOSE = "close"
    DROP_USER_STREAM = "drop_user_stream"
    DELAY_REPLY = "delay_reply"
    LOSE_REPLY = "lose_reply"
    HTTP_5XX = "http_5xx"
    FORCE_1021 = "force_1021"
    FORCE_429 = "force_429"
    FORCE_418 = "force_418"


_COUNTED = frozenset(
    {
        FaultAction.DELAY_REPLY,
        FaultAction.LOSE_REPLY,
        FaultAction.HTTP_5XX,
        FaultAction.FORCE_1021,
        FaultAction.FORCE_429,
    }
)


@dataclass(frozen=True)
class Fault:
    action: FaultAction
    seconds: float = 0.0  # STALL, DELAY_REPLY, FORCE_418
    code: int = 1000  # CLOSE (WebSocket close code), HTTP_5XX (HTTP status), FORCE_429 (-1015: the order count)
    count: int = 1  # DELAY_REPLY, LOSE_REPLY, HTTP_5XX, FORCE_1021, FORCE_429
    retry_after_s: float | None = None  # FORCE_429; None: until the minute's end, as the weight limit's

    def __str__(self) -> str:
        if self.action in (FaultAction.STALL, FaultAction.FORCE_418):
            return f"{self.action.value} seconds={self.seconds:g}"
        if self.action is FaultAction.CLOSE:
            return f"close code={self.code}"
        if self.action is FaultAction.DELAY_REPLY:
            return f"delay_reply seconds={self.seconds:g} count={self.count}"
        if self.action is FaultAction.HTTP_5XX:
            return f"http_5xx code={self.code} count={self.count}"
        if self.action is FaultAction.FORCE_429:
            seconds = "" if self.retry_after_s is None else f" seconds={self.retry_after_s:g}"
            code = f" code={TOO_MANY_ORDERS}" if self.code == TOO_MANY_ORDERS else ""
            return f"force_429 count={self.count}{seconds}{code}"
        if self.action in _COUNTED:
            return f"{self.action.value} count={self.count}"
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
    if action in (FaultAction.STALL, FaultAction.FORCE_418):
        return Fault(action, seconds=_bounded(params, "seconds", 0.0, MAX_STALL_SECONDS))
    if action is FaultAction.CLOSE:
        return Fault(action, code=_integer(params, "code", 1000, 4999))
    count = _integer({"count": "1", **params}, "count", 1, MAX_COUNT) if action in _COUNTED else 1
    if action is FaultAction.DELAY_REPLY:
        return Fault(action, seconds=_bounded(params, "seconds", 0.0, MAX_STALL_SECONDS), count=count)
    if action is FaultAction.HTTP_5XX:
        return Fault(action, code=_integer({"code": "503", **params}, "code", 500, 599), count=count)
    if action is FaultAction.FORCE_429:
        retry_after_s = _bounded(params, "seconds", 0.0, MAX_STALL_SECONDS) if "seconds" in params else None
        code = params.get("code", str(TOO_MUCH_WEIGHT))
        if code not in (str(TOO_MUCH_WEIGHT), str(TOO_MANY_ORDERS)):
            raise FaultError(f"Parameter 'code' must be {TOO_MUCH_WEIGHT} or {TOO_MANY_ORDERS}.")
        if code == str(TOO_MANY_ORDERS):
            return Fault(action, count=count, retry_after_s=retry_after_s, code=TOO_MANY_ORDERS)
        return Fault(action, count=count, retry_after_s=retry_after_s)
    return Fault(action, count=count)


def _integer(params: Mapping[str, str], name: str, low: int, high: int) -> int:
    value = _bounded(params, name, low, high)
    if not value.is_integer():
        raise FaultError(f"Parameter '{name}' must be an integer.")
    return int(value)


def _bounded(params: Mapping[str, str], name: str, low: float, high: float) -> float:
    try:
        value = float(params[name])
    except (KeyError, ValueError):
        raise FaultError(f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.") from None
    if not low <= value <= high:  # also rejects nan
        raise FaultError(f"Parameter '{name}' must be between {low:g} and {high:g}.")
    return value

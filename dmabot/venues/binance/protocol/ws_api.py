"""Sans-IO client session of the Binance WebSocket API (`/ws-api/v3`): requests out, replies
and user-data events in, as text. No socket, no clock: timestamps are given.

`parse_ws_api_message` reads one frame's JSON: a `WsApiResponse` (the reply to a request) or
a pushed user-data event (`user_events`).

It keeps what a user data subscription needs across a connection's life: which requests
await a reply (by id), whether `userDataStream.subscribe.signature` is in force, and when it
must be made again (after `eventStreamTerminated`, a failed subscribe, or a new connection).
"""
from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ujson

from dmabot.venues.binance.protocol.signing import Credentials, ws_api_params
from dmabot.venues.binance.protocol.user_events import (
    EventStreamTerminated,
    ServerShutdown,
    UserEvent,
    parse_user_event,
)
from dmabot.venues.binance.protocol.wire import (
    ApiError,
    FieldReader,
    ParseError,
    RateLimit,
    parse_api_error,
    parse_rate_limits,
)

SUBSCRIBE_METHOD = "userDataStream.subscribe.signature"
ORDER_PLACE_METHOD = "order.place"


@dataclass(frozen=True, slots=True)
class WsApiResponse:
    """``{"id","status","result"|"error","rateLimits"}``: the reply to one WS API request."""

    id: str | int | None
    status: int
    result: Any
    error: ApiError | None
    rate_limits: tuple[RateLimit, ...]

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_ws_api_message(msg: Any) -> WsApiResponse | UserEvent | ServerShutdown:
    """Any JSON text frame of a WebSocket API connection: a reply or a pushed event."""
    if isinstance(msg, Mapping) and "event" in msg:
        return parse_user_event(msg)
    return parse_ws_api_response(msg)


def parse_ws_api_response(msg: Any) -> WsApiResponse:
    """``{"id","status","result","rateLimits"}`` or ``{"id","status","error",..}``."""
    r = FieldReader(msg, "WS API response")
    status = r.integer("status")
    request_id = r.get("id")
    if request_id is not None and (isinstance(request_id, bool) or not isinstance(request_id, str | int)):
        raise r.fail("id", "expected a string, an integer or null")
    error = parse_api_error(r.get("error"), status) if r.has("error") else None
    if error is None and not r.has("result"):
        raise ParseError("WS API response: neither 'result' nor 'error'")
    limits = parse_rate_limits(r.get("rateLimits")) if r.has("rateLimits") else ()
    return WsApiResponse(request_id, status, msg.get("result"), error, limits)


class Subscription(enum.Enum):
    NONE = "none"              # no subscription on this connection: subscribe
    PENDING = "pending"        # the subscribe request awaits its reply
    ACTIVE = "active"          # events flow under `subscription_id`


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply matched to the request that asked for it."""

    method: str
    response: WsApiResponse


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A reply whose id we never sent, or text that is not a WS API message."""

    text: str
    why: str


WsApiEvent = Reply | UserEvent | ServerShutdown | Unmatched


class WsApiSession:
    """One connection's worth of WebSocket API state. Start a new one per connection."""

    def __init__(self, credentials: Credentials, recv_window_ms: int | None = None, id_prefix: str = "d") -> None:
        self.credentials = credentials
        self.recv_window_ms = recv_window_ms
        self.id_prefix = id_prefix
        self.subscription = Subscription.NONE
        self.subscription_id: int | None = None
        self._next_id = 1
        self._pending: dict[str, str] = {}        # request id -> method

    def request(self, method: str, params: dict[str, Any] | None = None, *,
                signed_at_ms: int | None = None) -> tuple[str, str]:
        """(request id, JSON text) of a request; signed when `signed_at_ms` is given."""
        request_id = f"{self.id_prefix}{self._next_id}"
        self._next_id += 1
        body: dict[str, Any] = {"id": request_id, "method": method}
        if signed_at_ms is not None:
            body["params"] = ws_api_params(params or {}, self.credentials, signed_at_ms, self.recv_window_ms)
        elif params:
            body["params"] = params
        self._pending[request_id] = method
        return request_id, ujson.dumps(body, ensure_ascii=False)

    def subscribe_user_data(self, now_ms: int) -> str:
        """The signed subscribe request (any key type, no logon); call when `needs_subscribe`."""
        self.subscription = Subscription.PENDING
        return self.request(SUBSCRIBE_METHOD, signed_at_ms=now_ms)[1]

    @property
    def needs_subscribe(self) -> bool:
        return self.subscription is Subscription.NONE

    @property
    def pending_requests(self) -> dict[str, str]:
        return dict(self._pending)

    def receive_text(self, text: str) -> WsApiEvent:
        """One text frame: a reply (matched to its request) or a pushed event."""
        try:
            message = parse_ws_api_message(ujson.loads(text))
        except ValueError as exc:      # bad JSON (ujson) or a bad message (ParseError)
            return Unmatched(text, f"not a WS API message: {exc}")
        if isinstance(message, WsApiResponse):
            return self._reply(message, text)
        if isinstance(message, EventStreamTerminated):
            self.subscription, self.subscription_id = Subscription.NONE, None
        return message

    def _reply(self, response: WsApiResponse, text: str) -> WsApiEvent:
        method = self._pending.pop(str(response.id), None) if response.id is not None else None
        if method is None:
            return Unmatched(text, f"reply to unknown request id {response.id!r}")
        if method == SUBSCRIBE_METHOD:
            if response.ok and isinstance(response.result, dict):
                self.subscription = Subscription.ACTIVE
                self.subscription_id = response.result.get("subscriptionId")
            else:
                self.subscription = Subscription.NONE
        return Reply(method, response)

    def expect_reply(self, request_id: str, method: str) -> None:
        """Track a request built elsewhere (an `OrderPlaceWriter` order, whose id is its
        client order id) so its reply is matched like any other."""
        self._pending[request_id] = method

    def connection_lost(self) -> dict[str, str]:
        """The connection ended: the subscription is gone with it, and every request still
        awaiting a reply has an unknown outcome. Returns those (id -> method), for the caller
        to reconcile (an order request among them must be looked up, never resent blindly)."""
        lost = dict(self._pending)
        self._pending.clear()
        self.subscription, self.subscription_id = Subscription.NONE, None
        return lost


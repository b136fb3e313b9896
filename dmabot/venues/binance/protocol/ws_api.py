"""Sans-IO client session of the Binance WebSocket API (`/ws-api/v3`): requests out, replies
and user-data events in, as text. No socket, no clock: timestamps are given.

It keeps what a user data subscription needs across a connection's life: which requests
await a reply (by id), whether `userDataStream.subscribe.signature` is in force, and when it
must be made again (after `eventStreamTerminated`, a failed subscribe, or a new connection).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import ujson

from dmabot.venues.binance.protocol.events import (
    EventStreamTerminated,
    ServerShutdown,
    UserEvent,
    WsApiResponse,
    parse_ws_api_message,
)
from dmabot.venues.binance.protocol.signing import Credentials, ws_api_params

SUBSCRIBE_METHOD = "userDataStream.subscribe.signature"
ORDER_PLACE_METHOD = "order.place"


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


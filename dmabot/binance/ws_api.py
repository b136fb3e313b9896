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

from dmabot.binance.events import (
    EventStreamTerminated,
    OrderType,
    RespType,
    ServerShutdown,
    Side,
    TimeInForce,
    UserEvent,
    WsApiResponse,
    parse_ws_api_message,
)
from dmabot.binance.signing import MAX_RECV_WINDOW_MS, Credentials, ws_api_params

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
        """Track a request built elsewhere (an `OrderPlaceTemplate` order, whose id is its
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


class OrderPlaceTemplate:
    """Prepared ``order.place`` requests for one symbol and key: the WS API's `OrderTemplate`.

    The signature covers the params sorted by name (SPOT_API.md 4.3), so everything between
    the per-order values is fixed text, written once here; an order joins in its client id,
    price, quantity and timestamp, signs, and is done. The request id is the client order
    id: unique per order, so the reply names the order it answers without a lookup table.
    What it returns equals, as JSON, what `WsApiSession.request` signs for the same params
    (a test holds them equal), so this is an optimisation, not a second signing scheme.

    Values go in as given: quantity and price are `filters.format_decimal` text, client ids
    `client_order_id` text, so none needs JSON escaping (`rest_request` checks both rules).
    """

    __slots__ = ("symbol", "_credentials", "_combos", "_sign_head", "_sign_resp", "_json_head", "_json_resp")

    def __init__(self, symbol: str, credentials: Credentials, resp_type: RespType = RespType.RESULT,
                 recv_window_ms: int = 5000) -> None:
        if not symbol.isascii() or not symbol.isalnum():
            raise ValueError(f"symbol {symbol!r} is not plain ASCII letters and digits")
        if isinstance(recv_window_ms, bool) or not 0 < recv_window_ms <= MAX_RECV_WINDOW_MS:
            raise ValueError(f"recv_window_ms must be in (0, {MAX_RECV_WINDOW_MS}], got {recv_window_ms}")
        self.symbol = symbol
        self._credentials = credentials
        key = credentials.api_key
        resp = RespType(resp_type).value
        # (side, type, tif) -> the fixed texts around the per-order values, in sorted-name order:
        # apiKey newClientOrderId newOrderRespType [price] quantity recvWindow side symbol
        # [timeInForce] timestamp type
        self._combos: dict[tuple[Side, OrderType, TimeInForce | None], tuple[bool, str, str, str, str]] = {}
        for side in Side:
            for order_type, needs_tif, needs_price in ((OrderType.LIMIT, True, True),
                                                       (OrderType.LIMIT_MAKER, False, True),
                                                       (OrderType.MARKET, False, False)):
                for tif in TimeInForce if needs_tif else (None,):
                    tif_sign = f"&timeInForce={tif.value}" if tif else ""
                    tif_json = f',"timeInForce":"{tif.value}"' if tif else ""
                    self._combos[side, order_type, tif] = (
                        needs_price,
                        f"&recvWindow={recv_window_ms}&side={side.value}&symbol={symbol}{tif_sign}&timestamp=",
                        f"&type={order_type.value}",
                        f'","recvWindow":{recv_window_ms},"side":"{side.value}","symbol":"{symbol}"{tif_json}'
                        ',"timestamp":',
                        f',"type":"{order_type.value}","signature":"',
                    )
        self._sign_head = f"apiKey={key}&newClientOrderId="
        self._sign_resp = f"&newOrderRespType={resp}"
        self._json_head = '","method":"order.place","params":{"apiKey":' + ujson.dumps(key) + ',"newClientOrderId":"'
        self._json_resp = f'","newOrderRespType":"{resp}'

    def build(self, side: Side, order_type: OrderType, time_in_force: TimeInForce | None, quantity: str,
              price: str | None, client_order_id: str, timestamp_ms: int) -> bytes:
        """The request's JSON text, UTF-8, ready to go into one text frame."""
        try:
            needs_price, sign_mid, sign_tail, json_mid, json_tail = self._combos[side, order_type, time_in_force]
        except KeyError:
            raise ValueError(f"no {side} {order_type} order with timeInForce={time_in_force}") from None
        if needs_price != (price is not None):
            raise ValueError(f"a {order_type} order {'needs' if needs_price else 'takes no'} price")
        if needs_price:
            sign_px, json_px = f"&price={price}", f'","price":"{price}'
        else:
            sign_px = json_px = ""
        payload = (f"{self._sign_head}{client_order_id}{self._sign_resp}{sign_px}&quantity={quantity}"
                   f"{sign_mid}{timestamp_ms}{sign_tail}")
        signature = self._credentials.sign(payload.encode("ascii"))
        return (f'{{"id":"{client_order_id}{self._json_head}{client_order_id}{self._json_resp}{json_px}'
                f'","quantity":"{quantity}{json_mid}{timestamp_ms}{json_tail}{signature}"}}}}').encode("ascii")

"""WebSocket API methods of the venue: the user-data subscription and order entry.

    userDataStream.subscribe.signature   signed (apiKey, timestamp[, recvWindow], signature);
                                         -> {"subscriptionId":N}, then every account event as
                                         {"subscriptionId":N,"event":{..}} (docs/binance.md,
                                         "User data stream")
    userDataStream.unsubscribe           optional subscriptionId; none ends them all; each
                                         ended subscription sends eventStreamTerminated
    session.subscriptions                -> [{"subscriptionId":N}, ..]
    order.place / order.cancel           signed; the params and replies of POST/DELETE
    order.status / openOrders.status     /api/v3/order, GET /api/v3/order and openOrders

One subscription per connection (a second one: -2035), as Binance allows one per account
per connection.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from dmabot.venues.binance.sim._auth import Authenticator
from dmabot.venues.binance.sim._errors import VenueError
from dmabot.venues.binance.sim._limits import RequestWeight
from dmabot.venues.binance.sim._orders import Event
from dmabot.venues.binance.sim._venue import Venue
from dmabot.venues.binance.sim._ws_api import ORDER_PLACE, Method, RequestContext

_SIGNING_PARAMS = frozenset({"apiKey", "signature", "timestamp", "recvWindow"})


def trading_methods(venue: Venue, auth: Authenticator, weight: RequestWeight) -> Mapping[str, Method]:
    def subscribe(params: Mapping[str, Any], ctx: RequestContext) -> dict[str, Any]:
        auth.check_ws(params, ctx.now_ms)
        session = ctx.session
        if session.subscriptions:
            raise VenueError(400, -2035, "User Data Stream subscription already active.")
        subscription_id = session.next_subscription_id
        session.next_subscription_id += 1

        def listener(event: Event) -> None:
            session.send({"subscriptionId": subscription_id, "event": event})

        def end() -> None:
            if listener in venue.listeners:
                venue.listeners.remove(listener)

        venue.listeners.append(listener)
        session.subscriptions[subscription_id] = end
        return {"subscriptionId": subscription_id}

    def unsubscribe(params: Mapping[str, Any], ctx: RequestContext) -> dict[str, Any]:
        session = ctx.session
        wanted = params.get("subscriptionId")
        if wanted is None:
            ids = list(session.subscriptions)
        elif isinstance(wanted, int) and not isinstance(wanted, bool) and wanted in session.subscriptions:
            ids = [wanted]
        else:
            raise VenueError(400, -2036, "User Data Stream subscription not active.")
        for subscription_id in ids:
            session.subscriptions.pop(subscription_id)()
            session.send({"subscriptionId": subscription_id, "event": {"e": "eventStreamTerminated", "E": ctx.now_ms}})
        return {}

    def subscriptions(params: Mapping[str, Any], ctx: RequestContext) -> list[dict[str, int]]:
        return [{"subscriptionId": i} for i in ctx.session.subscriptions]

    def signed(call: Callable[[Mapping[str, str], int], Any], places_order: bool = False) -> Callable[..., Any]:
        def handler(params: Mapping[str, Any], ctx: RequestContext) -> Any:
            auth.check_ws(params, ctx.now_ms)
            if not places_order:
                return call({k: _text(v) for k, v in params.items() if k not in _SIGNING_PARAMS}, ctx.now_ms)
            weight.admit_order(ctx.now_ms)
            weight.add_order(ctx.now_ms)  # before it runs: its own fills give the count back
            try:
                return call({k: _text(v) for k, v in params.items() if k not in _SIGNING_PARAMS}, ctx.now_ms)
            except VenueError:
                weight.add_order(ctx.now_ms, -1)
                raise

        return handler

    return {
        "userDataStream.subscribe.signature": Method(2, subscribe),
        "userDataStream.unsubscribe": Method(2, unsubscribe),
        "session.subscriptions": Method(2, subscriptions),
        ORDER_PLACE: Method(1, signed(venue.new_order, places_order=True), free_if_ok=True),
        "order.cancel": Method(1, signed(venue.cancel_order), free_if_ok=True),
        "order.status": Method(4, signed(venue.query_order)),
        "openOrders.status": Method(6, signed(venue.open_orders)),
    }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)

"""The Binance feed's and gateway's metric families, read at scrape time from the counters
they keep (nothing here runs per tick)."""
from __future__ import annotations

from typing import Iterator

from prometheus_client.core import Metric

from dmabot.venues.base import counter, gauge
from dmabot.venues.binance.gateway import BinanceGateway
from dmabot.venues.binance.market_feed import BinanceFeed
from dmabot.venues.binance.protocol.clock import ClockState
from dmabot.venues.binance.user_data import UserDataStream


def feed_metrics(feed: BinanceFeed) -> Iterator[Metric]:
    venue = ["binance"]
    age = (feed.reactor.refresh_now() - feed.last_event_ns) / 1e9 if feed.last_event_ns else -1.0
    yield gauge("binance_ws_connected", "1 while the market data WebSocket is streaming.", ["venue"],
                [(venue, 1 if feed.connected else 0)])
    yield gauge("binance_ws_last_event_age_seconds", "Seconds since the stream's last tick, or since "
                "the connection opened if later (-1 before the first connection).", ["venue"], [(venue, age)])
    yield counter("binance_ws_reconnects", "Reconnect attempts of the market data WebSocket.", ["venue"],
                  [(venue, feed.reconnects)])
    yield counter("binance_ws_stale_disconnects", "Connections dropped for silence (WS_STALE_S).",
                  ["venue"], [(venue, feed.stale_disconnects)])
    yield counter("binance_ws_bytes_received", "Bytes received on the market data WebSocket.", ["venue"],
                  [(venue, feed.bytes_received)])
    yield counter("binance_ws_messages", "Messages decoded (ticks, bad ones and replies).", ["venue"],
                  [(venue, feed.messages)])
    yield counter("binance_ws_bad_messages", "Market data messages dropped, by reason.", ["venue", "reason"],
                  [(venue + [reason], n) for reason, n in sorted(feed.bad_message_counts().items())])
    yield counter("binance_ws_non_market_messages", "Valid JSON messages that are no market data, by kind.",
                  ["venue", "kind"], [(venue + [kind], n) for kind, n in sorted(feed.non_market_counts().items())])
    yield counter("binance_ws_stale_rebases", "Ticks taken as a symbol's new update-id baseline after a run "
                  "of stale ones.", ["venue"], [(venue, feed.rebased)])
    yield _disconnects("binance_ws_disconnects", "Market data connections ended", venue, feed.disconnects)


def gateway_metrics(gw: BinanceGateway) -> Iterator[Metric]:
    venue = [gw.name]
    yield gauge("binance_rest_connected", "1 while the order-entry REST connection is open.", ["venue"],
                [(venue, 1 if gw.connected else 0)])
    yield gauge("binance_rest_ready", "1 while the gateway accepts orders (clock and rules loaded).",
                ["venue"], [(venue, 1 if gw.ready else 0)])
    used = gw.rate_limits.used_weight_1m
    yield gauge("binance_rest_used_weight_1m", "X-MBX-USED-WEIGHT-1M of the last reply (-1 before one).",
                ["venue"], [(venue, -1 if used is None else used)])
    yield counter("binance_rest_reconnects", "Reconnect attempts of the REST connection.", ["venue"],
                  [(venue, gw.reconnects)])
    yield from _limits(gw, venue)
    yield counter("binance_local_rejections", "Orders refused by the gateway without sending, by reason "
                  "(a filter name, not_ready, disconnected, rate_limited, slowing_down, invalid).",
                  ["venue", "reason"],
                  [(venue + [reason], n) for reason, n in sorted(gw.local_rejections.items())])
    yield counter("binance_orders_sent", "Order requests written, by transport (rest, ws_api); a -1021 "
                  "resend counts again.", ["venue", "transport"],
                  [(venue + [gw.settings.order_transport.value], gw.orders_sent)])
    yield counter("binance_venue_rejections", "Orders the venue answered with an error.", ["venue"],
                  [(venue, gw.venue_rejections)])
    yield gauge("account_balance", "The account's amount of each asset, free or locked (in orders), as the "
                "venue last stated it.", ["venue", "asset", "kind"],
                [(venue + [b.asset, kind], float(amount)) for b in gw.balances.balances()
                 for kind, amount in (("free", b.free), ("locked", b.locked))])
    if gw.user_stream is not None:
        yield from user_stream_metrics(venue, gw.user_stream)


def user_stream_metrics(venue: list[str], stream: UserDataStream) -> Iterator[Metric]:
    yield gauge("binance_user_stream_subscribed", "1 while the user data subscription is in force.",
                ["venue"], [(venue, 1 if stream.subscribed else 0)])
    yield counter("binance_user_stream_reconnects", "Reconnects of the user data stream.", ["venue"],
                  [(venue, stream.reconnects)])
    yield counter("binance_user_stream_events", "User data events received.", ["venue"],
                  [(venue, stream.events)])
    yield _disconnects("binance_user_stream_disconnects", "WebSocket API connections ended", venue,
                       stream.disconnects)


def _disconnects(name: str, what: str, venue: list[str], by_cause: dict[str, int]) -> Metric:
    return counter(name, f"{what}, by cause (connect_failed, handshake_timeout, handshake_failed, "
                   "handshake_rejected, too_big, protocol_error, silent, closed_by_peer, connection_lost, "
                   "local).", ["venue", "cause"], [(venue + [cause], n) for cause, n in sorted(by_cause.items())])


def _limits(gw: BinanceGateway, venue: list[str]) -> Iterator[Metric]:
    """The venue's clock and what it counts of our usage: what signs requests and paces orders."""
    now, limits = gw.reactor.now(), gw.rate_limits
    synced = gw.clock.state(now) is not ClockState.UNSYNCED
    offset_s = gw.wall_clock_offset_ms() / 1e3 if synced else None
    yield gauge("binance_clock_offset_seconds", "Venue time minus this host's wall clock, from the best GET "
                "/api/v3/time round trip (absent before one).", ["venue"],
                [] if offset_s is None else [(venue, offset_s)])
    yield gauge("binance_clock_uncertainty_seconds", "Half that round trip: how far the offset can be off.",
                ["venue"], [(venue, gw.clock.uncertainty_ms / 1e3)] if synced else [])
    yield gauge("binance_unfilled_orders", "X-MBX-ORDER-COUNT-* (or the WS API's ORDERS count) of the last reply, "
                "by window (10s, 1d): orders placed minus those that traded, against the ORDERS limits.",
                ["venue", "window"],
                [(venue + [window], n) for window, n in sorted(limits.order_count.items())])
    yield gauge("binance_rate_limit_wait_seconds", "Seconds until order entry may resume after a 429 (request "
                "weight, or the order count) or 418 (ban); 0 when open.", ["venue"],
                [(venue, limits.orders_resume_in_ns(now) / 1e9)])
    yield counter("binance_rate_limit_backoffs", "HTTP 429 replies (too much weight or too many orders).", ["venue"],
                  [(venue, limits.backoffs)])
    yield counter("binance_rate_limit_bans", "HTTP 418 replies: the IP banned.", ["venue"], [(venue, limits.bans)])

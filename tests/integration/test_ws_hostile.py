"""The WebSocket client against hostile servers (tests/helpers/hostile_peer.py), in-process over
loopback: each misbehaviour ends the connection with a counted cause, the owner reconnects,
nothing escapes the reactor, memory stays bounded; a fragmented WebSocket API message is
parsed whole."""
from __future__ import annotations

import resource
import time

import pytest

from dmabot.io.reactor import Reactor
from dmabot.io.websocket import WebSocketSettings
from dmabot.venues.binance.market_feed import BinanceFeed
from dmabot.venues.binance.metrics import feed_metrics, user_stream_metrics
from dmabot.venues.binance.protocol.user_events import ExecutionReport
from dmabot.venues.binance.user_data import UserDataStream
from tests.helpers.hostile_peer import HostilePeer, feed_against
from tests.helpers.sim_clients import run_until
from tests.helpers.sim_venue import CREDS

MS = 1_000_000
FAST = WebSocketSettings(handshake_timeout_ns=500 * MS, liveness_timeout_ns=400 * MS)


def user_stream(reactor: Reactor, peer: HostilePeer, events: list | None = None) -> UserDataStream:
    stream = UserDataStream(reactor, f"{peer.url}/ws-api/v3", CREDS,
                            server_ms=lambda: time.time_ns() // 1_000_000,
                            on_event=(events if events is not None else []).append,
                            on_subscribed=lambda: None,
                            backoff_initial_ns=20 * MS, backoff_max_ns=50 * MS, websocket=FAST)
    stream.start()
    return stream


def market_feed(reactor: Reactor, peer: HostilePeer) -> BinanceFeed:
    return feed_against(reactor, peer, FAST)


OWNERS = {"feed": market_feed, "user_stream": user_stream}
DISCONNECT_FAMILIES = ("binance_ws_disconnects", "binance_user_stream_disconnects")
METRICS = {"feed": feed_metrics, "user_stream": lambda stream: user_stream_metrics(["binance"], stream)}


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize(("behaviour", "cause"), [
    ("bad_accept", "handshake_failed"),
    ("no_upgrade", "handshake_failed"),
    ("unrequested_extension", "handshake_failed"),
    ("not_http", "handshake_failed"),
    ("huge_headers", "handshake_failed"),
    ("never_answer", "handshake_timeout"),
    ("drip", "handshake_timeout"),
    ("huge_frame", "too_big"),
    ("endless_fragments", "too_big"),
    ("silent", "silent"),
])
@pytest.mark.parametrize("owner", sorted(OWNERS))
def test_hostile_server_is_left_with_a_counted_cause_and_reconnected(reactor, owner, behaviour, cause):
    rss_before = max_rss_mb()
    with HostilePeer(behaviour) as peer:
        stream = OWNERS[owner](reactor, peer)
        # run_until steps the reactor: an exception out of any callback fails the test here
        run_until(reactor, lambda: stream.disconnects.get(cause, 0) >= 2 and stream.reconnects >= 2,
                  timeout_s=10)
        causes = set(stream.disconnects)
        exported = {m.name: {s.labels["cause"]: s.value for s in m.samples}
                    for m in METRICS[owner](stream) if m.name in DISCONNECT_FAMILIES}
        stream.stop()
        assert peer.connections >= 2
    assert causes == {cause}
    (by_cause,) = exported.values()        # what a scrape shows, by the same cause
    assert by_cause[cause] >= 2
    assert max_rss_mb() - rss_before < 64       # a 2**63-byte frame is refused, not buffered


def test_fragmented_execution_report_is_parsed_whole(reactor):
    events: list = []
    with HostilePeer("fragmented_execution_report") as peer:
        stream = user_stream(reactor, peer, events)
        run_until(reactor, lambda: events)
        stream.stop()
    (report,) = events
    assert isinstance(report, ExecutionReport)
    assert (report.client_order_id, report.exec_type, report.trade_id) == \
        ("eng-20261128-000001", "TRADE", 5290011350)

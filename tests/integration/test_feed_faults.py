"""The Binance market feed against market-data faults, in-process over loopback
(tests/helpers/hostile_peer.py): an absurd update id or a venue that resets its ids never
freezes a symbol, a stream of valid JSON without ticks is left as stale, and a flood of error
replies is counted and logged rate-limited."""
from __future__ import annotations

import logging
import time

from dmabot.io.reactor import Reactor
from dmabot.io.websocket import WebSocketSettings
from dmabot.venues.binance.fast.bookticker import STALE_RUN_LIMIT
from dmabot.venues.binance.market_feed import BinanceFeed
from dmabot.venues.binance.metrics import feed_metrics
from tests.helpers.hostile_peer import HostilePeer, feed_against
from tests.helpers.sim_clients import run_until

MS = 1_000_000
FAST = WebSocketSettings(handshake_timeout_ns=500 * MS, liveness_timeout_ns=2_000 * MS)


def market_feed(reactor: Reactor, peer: HostilePeer, stale_ns: int = 10_000 * MS) -> BinanceFeed:
    return feed_against(reactor, peer, FAST, stale_ns)


def ticks(feed: BinanceFeed) -> int:
    return feed.pipeline.ring.pushed


def scrape(feed: BinanceFeed) -> dict[tuple[str, tuple[str, ...]], float]:
    """What a scrape shows: {(sample name, label values): value}."""
    return {(s.name, tuple(s.labels.values())): s.value for m in feed_metrics(feed) for s in m.samples}


def test_absurd_update_id_freezes_the_symbol_neither_in_its_connection_nor_after_a_reconnect(reactor):
    with HostilePeer("absurd_update_id_then_ticks") as peer:
        feed = market_feed(reactor, peer)
        # connection 1: the u = 2**63 - 1 tick, 50 more of which the first STALE_RUN_LIMIT are
        # stale and the rest accepted from a new baseline; connection 2: 50, all accepted
        expected = 1 + (50 - STALE_RUN_LIMIT) + 50
        run_until(reactor, lambda: ticks(feed) >= expected, timeout_s=10)
        feed.stop()
    assert ticks(feed) == expected
    assert feed.reconnects >= 1
    assert feed.decoder.rebased == 1
    assert feed.decoder.counters()["STALE"] == STALE_RUN_LIMIT
    assert scrape(feed)[("binance_ws_stale_rebases_total", ("binance",))] == 1


def test_venue_that_resets_its_ids_keeps_ticks_flowing(reactor):
    with HostilePeer("id_reset") as peer:
        feed = market_feed(reactor, peer)
        run_until(reactor, lambda: ticks(feed) >= 100, timeout_s=10)
        feed.stop()
    assert ticks(feed) == 100           # every tick of both connections
    assert feed.decoder.counters()["STALE"] == 0 and feed.decoder.rebased == 0


def test_replies_without_ticks_are_no_sign_of_life(reactor):
    stale_ns = 500 * MS
    with HostilePeer("result_replies_only") as peer:
        feed = market_feed(reactor, peer, stale_ns=stale_ns)
        run_until(reactor, lambda: feed.connected, timeout_s=5)
        opened = time.monotonic()
        # the stale check runs every stale_ns / 2: stale within 1.5 * stale_ns, plus a margin
        run_until(reactor, lambda: feed.stale_disconnects >= 1, timeout_s=stale_ns * 1.5 / 1e9 + 1.0)
        waited = time.monotonic() - opened
        run_until(reactor, lambda: feed.reconnects >= 1 and feed.connected, timeout_s=5)
        feed.stop()
    assert waited < stale_ns * 1.5 / 1e9 + 1.0
    assert ticks(feed) == 0
    assert feed.disconnects.get("local", 0) >= 1
    assert feed.non_market_counts()["reply"] > 0


def test_error_replies_are_counted_and_logged_rate_limited(reactor, caplog):
    caplog.set_level(logging.DEBUG, logger="dmabot.feed.binance")
    with HostilePeer("error_replies") as peer:
        feed = market_feed(reactor, peer)
        run_until(reactor, lambda: ticks(feed) >= 5, timeout_s=10)
        feed.stop()
    assert feed.non_market_counts()["error_reply"] == 2000
    assert scrape(feed)[("binance_ws_non_market_messages_total", ("binance", "error_reply"))] == 2000
    lines = [r for r in caplog.records if "code" in r.getMessage()]
    assert 1 <= len(lines) <= 3, [r.getMessage() for r in lines]
    assert len(caplog.records) <= 10

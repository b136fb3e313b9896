"""Server clock: offset from round trips, the smallest round trip wins, -1021 retries once."""
from __future__ import annotations

import json

import pytest

from dmabot.venues.binance.protocol import ParseError
from dmabot.venues.binance.protocol.clock import ClockState, RetryDecision, ServerClock, parse_server_time
from tests.helpers.paths import TEST_DATA

SAMPLES = TEST_DATA / "binance"
MS = 1_000_000
SERVER_MS = 1795858200000   # rest/time.json


def test_offset_from_the_sample_reply():
    server_ms = parse_server_time(json.loads((SAMPLES / "rest" / "time.json").read_text()))
    assert server_ms == SERVER_MS
    clock = ServerClock()
    # reactor clock at 1000 ms sends, reply at 1020 ms: the server stamped ~1010 ms
    clock.on_time_response(1000 * MS, 1020 * MS, server_ms)
    assert clock.offset_ms == SERVER_MS - 1010
    assert clock.uncertainty_ms == 10
    assert clock.timestamp_ms(1010 * MS) == SERVER_MS
    assert clock.timestamp_ms(2010 * MS + MS // 2) == SERVER_MS + 1000   # truncated, never ahead


def test_smallest_round_trip_wins_among_the_last_few():
    clock = ServerClock(max_samples=3)
    clock.on_time_response(0, 50 * MS, SERVER_MS)              # rtt 50, offset S-25
    clock.on_time_response(100 * MS, 104 * MS, SERVER_MS + 103)  # rtt 4, offset S+1
    clock.on_time_response(200 * MS, 230 * MS, SERVER_MS + 214)  # rtt 30
    assert clock.offset_ms == SERVER_MS + 1
    clock.on_time_response(300 * MS, 320 * MS, SERVER_MS + 311)  # rtt 20
    assert clock.offset_ms == SERVER_MS + 1                     # rtt 4 still among the last 3
    clock.on_time_response(400 * MS, 440 * MS, SERVER_MS + 421)
    clock.on_time_response(500 * MS, 540 * MS, SERVER_MS + 521)
    assert clock.offset_ms == SERVER_MS + 1 + 0                 # rtt 4 aged out; rtt 20 wins
    assert clock.uncertainty_ms == 10


def test_states_and_resync_interval():
    clock = ServerClock(resync_ns=60_000 * MS)
    assert clock.state(0) is ClockState.UNSYNCED
    with pytest.raises(RuntimeError):
        clock.timestamp_ms(0)
    clock.on_time_response(0, 10 * MS, SERVER_MS)
    assert clock.state(59_000 * MS) is ClockState.SYNCED
    assert clock.state(60_010 * MS) is ClockState.RESYNC_DUE


def test_invalid_timestamp_resyncs_and_retries_once():
    clock = ServerClock()
    clock.on_time_response(0, 10 * MS, SERVER_MS)
    assert clock.on_invalid_timestamp("cid-1") is RetryDecision.RESYNC_AND_RETRY
    assert clock.state(20 * MS) is ClockState.RESYNC_DUE
    clock.on_time_response(30 * MS, 36 * MS, SERVER_MS + 1500)   # the clock was 1.5 s off
    assert clock.state(40 * MS) is ClockState.SYNCED
    assert clock.on_invalid_timestamp("cid-1") is RetryDecision.GIVE_UP
    # another request still gets its own retry; a request answered otherwise forgets its try
    assert clock.on_invalid_timestamp("cid-2") is RetryDecision.RESYNC_AND_RETRY
    clock.on_request_done("cid-2")
    assert clock.on_invalid_timestamp("cid-2") is RetryDecision.RESYNC_AND_RETRY


def test_bad_samples():
    clock = ServerClock()
    with pytest.raises(ValueError):
        clock.on_time_response(10, 5, SERVER_MS)
    with pytest.raises(ParseError):
        parse_server_time({"serverTime": "1795858200000"})

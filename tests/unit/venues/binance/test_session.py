"""BinanceSession with plain events and no driver: the commands it answers with."""
from __future__ import annotations

import json
import random

import pytest

from dmabot.venues.binance.protocol.signing import Credentials
from dmabot.venues.binance.session import (
    TRANSITIONS,
    BinanceSession,
    Connect,
    InvalidTransition,
    ReconnectDue,
    RestConnected,
    RestData,
    RestLost,
    ScheduleReconnect,
    SendRest,
    SessionState,
    SetRestDeadline,
    Start,
    Stop,
    Tick,
    UserSubscribed,
)
from dmabot.venues.binance.settings import GatewaySettings, rest_target

T0 = 1_000_000_000_000


def session(**settings_given) -> BinanceSession:
    settings = GatewaySettings("https://api.test", None, Credentials("key", "secret"), **settings_given)
    return BinanceSession(("BTCUSDT",), settings, rest_target(settings.rest_url), 1_795_858_200_000,
                          touch=lambda sym: (0.0, 0.0), write_ws_order=lambda client_id, frame: False,
                          rng=random.Random(1))


def http(status: int, body) -> bytes:
    data = json.dumps(body).encode()
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data


def sent(commands) -> list[bytes]:
    return [c.data for c in commands if isinstance(c, SendRest)]


def test_start_connects_then_asks_the_clock_first():
    s = session()
    assert s.handle(Start(T0)) == [Connect(0)] and s.state is SessionState.CONNECTING
    commands = s.handle(RestConnected(T0))
    assert s.state is SessionState.SYNCING
    (request,) = sent(commands)
    assert request.startswith(b"GET /api/v3/time ")
    assert SetRestDeadline(T0 + s.settings.request_timeout_ns) in commands


def test_the_clock_then_exchange_info():
    s = session()
    s.handle(Start(T0)), s.handle(RestConnected(T0))
    (request,) = sent(s.handle(RestData(http(200, {"serverTime": 1_795_858_200_000}), T0 + 1000)))
    assert request.startswith(b"GET /api/v3/exchangeInfo?symbols=")


def test_a_lost_connection_backs_off_with_jitter_under_the_settings_cap():
    s = session(backoff_initial_ns=1_000_000_000, backoff_max_ns=4_000_000_000)
    s.handle(Start(T0))
    delays = []
    for attempt in range(6):
        (reconnect,) = [c for c in s.handle(RestLost("reset", T0)) if isinstance(c, ScheduleReconnect)]
        delays.append(reconnect.delay_ns)
        assert s.state is SessionState.WAITING
        assert s.handle(ReconnectDue(T0)) == [Connect(attempt + 1)]
    assert all(500_000_000 <= d <= 4_000_000_000 for d in delays) and delays[-1] >= 2_000_000_000
    assert s.reconnects == 6
    s.handle(RestConnected(T0))
    assert s.backoff.attempts == 0           # a connection worked: from the initial delay again


def test_an_event_a_state_does_not_expect_raises():
    s = session()
    with pytest.raises(InvalidTransition, match="RestData in state IDLE"):
        s.handle(RestData(b"", T0))
    s.handle(Start(T0))
    with pytest.raises(InvalidTransition, match="Start in state CONNECTING"):
        s.handle(Start(T0))


def test_after_stop_late_callbacks_are_explicitly_ignored():
    s = session()
    s.handle(Start(T0)), s.handle(RestConnected(T0))
    s.handle(Stop(T0))
    assert s.state is SessionState.STOPPED
    for event in (RestData(b"x", T0), RestLost("closed", T0), Tick(T0), UserSubscribed(T0)):
        assert TRANSITIONS[(SessionState.STOPPED, type(event))] is BinanceSession._ignore
        assert not sent(s.handle(event))


def test_every_state_lists_stop():
    assert all((state, Stop) in TRANSITIONS for state in SessionState)

"""A connection that closed is freed by reference counting: no cancelled timer, no cycle keeps
its Transport or TLS state alive until a full collection (300 reconnects once held 290 of
them and ~86 MB)."""
from __future__ import annotations

import gc
import ssl
import time

import pytest

from dmabot.io.reactor import Reactor
from dmabot.io.transport import Transport
from dmabot.venues.binance.user_data import UserDataStream
from tests.helpers.hostile_peer import HostilePeer
from tests.helpers.processes import tls_files
from tests.helpers.sim_clients import run_until
from tests.helpers.sim_venue import CREDS

RECONNECTS = 300


def alive(kind: type) -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, kind))


@pytest.fixture
def tls_peer(tmp_path):
    ca, cert, key = tls_files(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with HostilePeer("close_at_once", tls=context) as peer:
        yield peer, ca


def test_closed_connections_are_not_kept_alive(tls_peer):
    peer, ca = tls_peer
    reactor = Reactor()
    stream = UserDataStream(reactor, f"{peer.url}/ws-api/v3", CREDS,
                            server_ms=lambda: time.time_ns() // 1_000_000, on_event=lambda e: None,
                            on_subscribed=lambda: None, ca_file=ca,
                            backoff_initial_ns=200_000, backoff_max_ns=400_000)
    gc.collect()
    transports, tls_objects = alive(Transport), alive(ssl.SSLObject)
    gc.disable()
    try:
        stream.start()
        run_until(reactor, lambda: stream.reconnects >= RECONNECTS, timeout_s=60)
        # what is left: the connection in flight, and the one whose end is being delivered
        assert alive(Transport) - transports <= 2
        assert alive(ssl.SSLObject) - tls_objects <= 2
    finally:
        gc.enable()
        stream.stop()
        reactor.close()

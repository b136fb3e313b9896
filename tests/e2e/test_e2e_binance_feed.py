"""The engine's Binance feed against the simulator, over real sockets (TLS and plain TCP).

The simulator runs as `python -m dmabot sim`; the engine as `python -m dmabot` with
FEED_MODE=binance_sandbox; everything is observed through the engine's /metrics page and
its log, and faults are switched on through the simulator's HTTP. Market-data faults the
simulator does not make come from tests/helpers/hostile_peer.py.
"""
from __future__ import annotations

import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import trustme

from tests.helpers.hostile_peer import HostilePeer
from tests.helpers.processes import EngineProcess, start_sim, stop_process, tls_files

SYMBOLS = "BTCUSDT,ETHUSDT"


@dataclass
class Sim:
    port: int
    scheme: str
    ca: str | None
    other_ca: str | None

    def fault(self, query: str) -> None:
        context = ssl.create_default_context(cafile=self.ca) if self.ca else None
        http = "https" if self.scheme == "wss" else "http"
        req = urllib.request.Request(f"{http}://127.0.0.1:{self.port}/sim/fault?{query}", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=5, context=context) as resp:
            assert resp.status == 200


def launch_sim(folder: Path, tls: bool):
    args = ["--rate", "200", "--seed", "3", "--symbols", SYMBOLS, "--ping-interval", "0.5", "--pong-timeout", "1.5"]
    ca = other = None
    if tls:
        ca, cert, key = tls_files(folder)
        other = str(folder / "other_ca.pem")
        trustme.CA().cert_pem.write_to_path(other)
        args += ["--tls-cert", cert, "--tls-key", key]
    proc, scheme, port = start_sim(args, folder / "sim.log")
    return proc, Sim(port, scheme, ca, other)


@pytest.fixture(scope="module", params=["tls", "tcp"])
def sim(request, tmp_path_factory):
    proc, sim = launch_sim(tmp_path_factory.mktemp("sim"), request.param == "tls")
    yield sim
    stop_process(proc)


def engine(sim: Sim, folder: Path, port: int, ca: str | None = None, **env: str) -> EngineProcess:
    return EngineProcess(folder, port, dict(
        FEED_MODE="binance_sandbox", SYMBOLS=SYMBOLS, BINANCE_WS_URL=f"{sim.scheme}://127.0.0.1:{sim.port}/ws",
        BINANCE_CA_FILE=ca if ca is not None else (sim.ca or ""), WS_STALE_S="1", WS_BACKOFF_MAX_S="0.3",
        MAX_QPS="20", **env))


@pytest.fixture
def engine_factory(tmp_path, free_port):
    started = []

    def make(sim: Sim, **kwargs) -> EngineProcess:
        e = engine(sim, tmp_path, free_port, **kwargs)
        started.append(e)
        return e

    yield make
    for e in started:
        e.kill()


def ticks(m, symbol):
    return m.get(f"ticks_total_by_symbol{{symbol={symbol}}}", 0)


def test_ticks_arrive_for_every_symbol_and_pings_are_answered(sim, engine_factory, tmp_path):
    record = tmp_path / "binance.jsonl"
    engine = engine_factory(sim, RECORD_FILE=str(record), MR_COOLDOWN_MS="20", MR_EDGE_BPS="0")
    first = engine.wait(lambda m: ticks(m, "BTCUSDT") > 0 and ticks(m, "ETHUSDT") > 0, "ticks for both symbols")
    assert first["binance_ws_connected{venue=binance}"] == 1
    # the simulator pings every 0.5 s and drops a client silent for 1.5 s: 3 s later the
    # same connection still streams, so every ping was answered
    time.sleep(3)
    later = engine.wait(lambda m: ticks(m, "BTCUSDT") > ticks(first, "BTCUSDT") + 300, "more ticks")
    assert later["binance_ws_reconnects_total{venue=binance}"] == 0
    assert 0 <= later["binance_ws_last_event_age_seconds{venue=binance}"] < 1
    assert later["binance_ws_bytes_received_total{venue=binance}"] > 0
    log = engine.stop()
    assert "stream open url=" in log and "summary ticks=" in log
    # the recording replays exactly, with the venue's update ids
    assert b'"u":0}' not in record.read_bytes().split(b"\n", 2)[1]
    assert record.read_bytes().count(b'{"Ord"') > 0
    replay = subprocess.run([sys.executable, "-m", "dmabot", "replay", str(record), "--verify"],
                            capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0 and "verify: OK" in replay.stdout, replay.stdout + replay.stderr


def test_dropped_connection_reconnects_and_ticks_resume(sim, engine_factory):
    engine = engine_factory(sim)
    before = engine.wait(lambda m: ticks(m, "ETHUSDT") > 0, "first ticks")
    sim.fault("action=drop_clients")
    after = engine.wait(lambda m: m["binance_ws_reconnects_total{venue=binance}"] >= 1
                        and m["binance_ws_connected{venue=binance}"] == 1, "a reconnect")
    engine.wait(lambda m: ticks(m, "ETHUSDT") > ticks(after, "ETHUSDT") + 20, "ticks after the reconnect")
    assert ticks(after, "ETHUSDT") >= ticks(before, "ETHUSDT")
    assert "stream disconnected reason=" in engine.stop()


def test_stalled_stream_is_detected_and_left(sim, engine_factory):
    engine = engine_factory(sim)
    engine.wait(lambda m: ticks(m, "BTCUSDT") > 0, "first ticks")
    # the simulator keeps pinging during a stall: only market data counts as alive
    sim.fault("action=stall&seconds=2.5")
    stalled = engine.wait(lambda m: m["binance_ws_stale_disconnects_total{venue=binance}"] >= 1, "stale detection")
    resumed = engine.wait(lambda m: ticks(m, "BTCUSDT") > ticks(stalled, "BTCUSDT") + 50
                          and m["binance_ws_connected{venue=binance}"] == 1, "ticks after the stall", 20)
    assert resumed["binance_ws_reconnects_total{venue=binance}"] >= 1
    assert "stream stale: no tick for" in engine.stop()


def test_malformed_payload_is_counted_and_skipped(sim, engine_factory):
    engine = engine_factory(sim)
    engine.wait(lambda m: ticks(m, "BTCUSDT") > 0, "first ticks")
    sim.fault("action=malformed_payload")
    m = engine.wait(lambda m: m.get("binance_ws_bad_messages_total{reason=bad_json,venue=binance}", 0) >= 1,
                    "the bad message counted")
    engine.wait(lambda x: ticks(x, "BTCUSDT") > ticks(m, "BTCUSDT") + 20, "ticks after it")
    assert m["binance_ws_reconnects_total{venue=binance}"] == 0     # a bad payload is no reason to drop
    log = engine.stop()
    assert log.count("bad market data dropped reason=bad_json") == 1


def test_malformed_frame_is_a_protocol_error_then_reconnect(sim, engine_factory):
    engine = engine_factory(sim)
    engine.wait(lambda m: ticks(m, "BTCUSDT") > 0, "first ticks")
    sim.fault("action=malformed_frame")
    m = engine.wait(lambda m: m["binance_ws_reconnects_total{venue=binance}"] >= 1, "a reconnect")
    engine.wait(lambda x: ticks(x, "BTCUSDT") > ticks(m, "BTCUSDT") + 20, "ticks after it")
    assert "stream disconnected reason=protocol_error detail=protocol error code=1002" in engine.stop()


def test_close_with_a_code_reconnects(sim, engine_factory):
    engine = engine_factory(sim)
    engine.wait(lambda m: ticks(m, "BTCUSDT") > 0, "first ticks")
    sim.fault("action=close&code=1001")
    engine.wait(lambda m: m["binance_ws_reconnects_total{venue=binance}"] >= 1
                and m["binance_ws_connected{venue=binance}"] == 1, "a reconnect")
    assert "stream disconnected reason=closed_by_peer detail=closed by the server code=1001" in engine.stop()


def test_server_shutdown_notice_reconnects_at_once(sim, engine_factory):
    engine = engine_factory(sim)
    engine.wait(lambda m: ticks(m, "BTCUSDT") > 0, "first ticks")
    sim.fault("action=server_shutdown")
    m = engine.wait(lambda m: m["binance_ws_reconnects_total{venue=binance}"] >= 1
                    and m["binance_ws_connected{venue=binance}"] == 1, "a reconnect")
    engine.wait(lambda x: ticks(x, "BTCUSDT") > ticks(m, "BTCUSDT") + 20, "ticks after it")
    assert "serverShutdown from the venue: reconnecting now" in engine.stop()


def test_raw_stream_form_subscribes_the_other_symbols(sim, engine_factory):
    engine = engine_factory(sim, BINANCE_STREAM_FORM="raw")
    engine.wait(lambda m: ticks(m, "BTCUSDT") > 10 and ticks(m, "ETHUSDT") > 10, "ticks for both symbols")
    engine.stop()


@pytest.mark.parametrize("sim", ["tls"], indirect=True)
def test_certificate_verification_failure_is_refused_clearly(sim, engine_factory):
    engine = engine_factory(sim, ca=sim.other_ca)
    engine.wait(lambda m: m["binance_ws_reconnects_total{venue=binance}"] >= 2, "retries")
    m = engine.metrics()
    assert m["binance_ws_connected{venue=binance}"] == 0 and m["ticks_total"] == 0
    assert "TLS certificate verification failed for 127.0.0.1" in engine.stop()


def peer_engine(peer: HostilePeer, folder: Path, port: int) -> EngineProcess:
    return EngineProcess(folder, port, dict(
        FEED_MODE="binance_sandbox", SYMBOLS="BTCUSDT", BINANCE_WS_URL=f"{peer.url}/ws", BINANCE_CA_FILE="",
        WS_STALE_S="1", WS_BACKOFF_MAX_S="0.1", MAX_QPS="20", RECORD_FILE=""))


def test_absurd_update_id_does_not_freeze_the_symbol_across_reconnects(tmp_path, free_port):
    # the first connection brings a tick with u = 2**63 - 1; every later one ticks with
    # ordinary ids, then falls silent and is left as stale after WS_STALE_S
    with HostilePeer("absurd_update_id_then_ticks") as peer:
        engine = peer_engine(peer, tmp_path, free_port)
        try:
            m = engine.wait(lambda m: m["binance_ws_reconnects_total{venue=binance}"] >= 4
                            and ticks(m, "BTCUSDT") >= 1 + 34 + 3 * 50, "ticks after four reconnects")
            log = engine.stop()
        finally:
            engine.kill()
    assert m["binance_ws_stale_rebases_total{venue=binance}"] == 1
    assert "update ids jumped back" in log


def test_error_replies_are_counted_and_logged_rate_limited(tmp_path, free_port):
    with HostilePeer("error_replies") as peer:
        engine = peer_engine(peer, tmp_path, free_port)
        try:
            m = engine.wait(lambda m: ticks(m, "BTCUSDT") >= 5, "the ticks after the replies")
            log = engine.stop()
        finally:
            engine.kill()
    assert m["binance_ws_non_market_messages_total{kind=error_reply,venue=binance}"] == 2000
    assert 1 <= log.count("kind=error_reply") <= 3
    assert len(log) < 20_000

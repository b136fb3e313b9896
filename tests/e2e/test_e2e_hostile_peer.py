"""The engine process (`python -m dmabot`) with BINANCE_WS_URL pointing at a hostile server
(tests/helpers/hostile_peer.py): it keeps running, leaves each bad connection with a logged
cause and reconnects, exits 0 on SIGTERM, and its memory stays flat over hundreds of
reconnects."""
from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from tests.helpers.hostile_peer import HostilePeer, rotating
from tests.helpers.processes import EngineProcess, tls_files

RECONNECTS = "binance_ws_reconnects_total{venue=binance}"
# One of each, in turn: handshakes no client may accept, then frames it must refuse.
MISBEHAVIOURS = ["bad_accept", "no_upgrade", "unrequested_extension", "not_http", "huge_headers",
                 "huge_frame", "endless_fragments"]


def engine(folder: Path, port: int, peer: HostilePeer, ca: str = "") -> EngineProcess:
    return EngineProcess(folder, port, dict(
        FEED_MODE="binance_sandbox", SYMBOLS="BTCUSDT", BINANCE_WS_URL=f"{peer.url}/ws",
        BINANCE_CA_FILE=ca, WS_STALE_S="5", WS_BACKOFF_MAX_S="0.1", MAX_QPS="20", RECORD_FILE=""))


def rss_kb(process: EngineProcess) -> int:
    for line in Path(f"/proc/{process.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def started(tmp_path, free_port):
    processes: list[EngineProcess] = []

    def start(peer: HostilePeer, ca: str = "") -> EngineProcess:
        processes.append(engine(tmp_path, free_port, peer, ca))
        return processes[-1]

    yield start
    for process in processes:
        process.kill()


def test_engine_survives_a_hostile_stream_server_and_exits_cleanly(started):
    with HostilePeer(rotating(MISBEHAVIOURS)) as peer:
        process = started(peer)
        process.wait(lambda m: m[RECONNECTS] >= 2 * len(MISBEHAVIOURS), "a reconnect after each misbehaviour",
                     timeout=30)
        log = process.stop()                # exit code 0: no exception left the reactor
    assert "Traceback" not in log
    for cause in ("handshake_failed", "too_big"):
        assert f"stream disconnected reason={cause} " in log
    assert "Sec-WebSocket-Accept" in log or "accept token" in log


def test_memory_is_flat_over_hundreds_of_tls_reconnects(started, tmp_path):
    ca, cert, key = tls_files(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with HostilePeer("close_at_once", tls=context) as peer:
        process = started(peer, ca)
        process.wait(lambda m: m[RECONNECTS] >= 50, "50 reconnects", timeout=30)
        warm = rss_kb(process)
        process.wait(lambda m: m[RECONNECTS] >= 300, "300 reconnects", timeout=90)
        grown_mb = (rss_kb(process) - warm) / 1024
        process.stop()
    # 250 reconnects held ~72 MB when closed connections waited for a full collection
    assert grown_mb < 16, f"RSS grew {grown_mb:.1f} MB over 250 reconnects"

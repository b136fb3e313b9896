"""The engine and the simulator as subprocesses, as a user runs them, for end-to-end tests."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.paths import REPO_ROOT


def start_sim(args: list[str], log: Path) -> tuple[subprocess.Popen, str, int]:
    """`python -m dmabot sim ARGS --port 0`; waits for its `sim listening on` line and
    returns (process, scheme, port)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dmabot", "sim", "--port", "0", *args],
                                stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = re.search(r"sim listening on (wss?)://127\.0\.0\.1:(\d+)", log.read_text())
        if found:
            return proc, found.group(1), int(found.group(2))
        assert proc.poll() is None, log.read_text()
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("simulator did not start:\n" + log.read_text())


def stop_process(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


class EngineProcess:
    """`python -m dmabot` with `env` over the process environment, watched through /metrics."""

    def __init__(self, folder: Path, port: int, env: dict[str, str]) -> None:
        self.port = port
        self.log = folder / "engine.log"
        full = dict(os.environ, METRICS_PORT=str(port), METRICS_HOST="127.0.0.1", **env)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "dmabot"], cwd=folder, env=full,
                                         stdout=out, stderr=subprocess.STDOUT)

    def page(self) -> str:
        """The /metrics page as served; "" while not serving."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as resp:
                return resp.read().decode()
        except OSError:
            return ""

    def metrics(self) -> dict[str, float]:
        """Samples keyed `name{label=value,...}` (labels sorted); {} while not serving."""
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(self.page()):
            for s in family.samples:
                labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
        return out

    def wait(self, predicate: Callable[[dict[str, float]], bool], what: str,
             timeout: float = 20.0) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = self.metrics()
            if m and predicate(m):
                return m
            assert self.proc.poll() is None, self.log.read_text()
            time.sleep(0.1)
        shown = {k: v for k, v in self.metrics().items() if "binance" in k or "ticks" in k}
        pytest.fail(f"timed out waiting for {what}; last metrics: {shown}\n" + self.log.read_text()[-3000:])

    def stop(self) -> str:
        """SIGTERM; the engine must exit 0. Returns its log."""
        self.proc.send_signal(signal.SIGTERM)
        assert self.proc.wait(timeout=15) == 0, self.log.read_text()
        return self.log.read_text()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def tls_files(folder: Path) -> tuple[str, str, str]:
    """A trustme CA and a certificate for 127.0.0.1 it signed: (ca.pem, cert.pem, key.pem)."""
    import trustme

    authority = trustme.CA()
    ca, cert_file, key_file = (str(folder / n) for n in ("ca.pem", "cert.pem", "key.pem"))
    authority.cert_pem.write_to_path(ca)
    cert = authority.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(key_file)
    for blob in cert.cert_chain_pems:
        blob.write_to_path(cert_file, append=True)
    return ca, cert_file, key_file


PROBE_KEY = "probe-key"
PROBE_SECRET = "probe-s3cret-never-logged"


def run_tick_to_trade(folder: Path, ticks: int, warmup: int, order_transport: str = "rest",
                      timeout_s: float = 120.0) -> dict[str, Any]:
    """The simulator in tick-to-trade probe mode (TLS) and the engine trading it, until the probe
    has measured `ticks` ticks after `warmup` orders; returns its report (dmabot/sim/_probe.py)."""
    def engine(port: int, ca: str) -> tuple[subprocess.Popen, Path]:
        process = EngineProcess(folder, 0, {  # metrics on any free port: not watched here
            "FEED_MODE": "binance_sandbox", "VENUE_MODE": "binance_sandbox", "SYMBOLS": "BTCUSDT",
            "BINANCE_WS_URL": f"wss://127.0.0.1:{port}/ws", "BINANCE_REST_URL": f"https://127.0.0.1:{port}",
            "BINANCE_WS_API_URL": f"wss://127.0.0.1:{port}/ws-api/v3", "BINANCE_CA_FILE": ca,
            "BINANCE_API_KEY": PROBE_KEY, "BINANCE_API_SECRET": PROBE_SECRET, "ORDER_TRANSPORT": order_transport,
            # what the probe's ticks make fire on every tick (dmabot/sim/_probe.py)
            "STRATEGIES": "mean_reversion", "STRATEGY_WORKERS": "1", "MR_WINDOW": "2", "MR_EDGE_BPS": "1",
            "MR_COOLDOWN_MS": "0", "ORDER_QTY": "0.001", "MAX_QPS": "1000000", "RECORD_FILE": "",
        })
        return process.proc, process.log

    return _probe(folder, ticks, warmup, timeout_s, engine)


def run_tick_to_trade_floor(folder: Path, ticks: int, warmup: int, timeout_s: float = 120.0) -> dict[str, Any]:
    """The same probe answered by bench/wire_floor_client.py, which writes a ready-made order
    for each tick: the wire's and the simulator's share of the engine's numbers."""
    client = REPO_ROOT / "bench" / "wire_floor_client.py"

    def floor(port: int, ca: str) -> tuple[subprocess.Popen, Path]:
        log = folder / "floor.log"
        with open(log, "wb") as out:
            return subprocess.Popen([sys.executable, str(client), str(port), ca, PROBE_KEY],
                                    stdout=out, stderr=subprocess.STDOUT), log

    return _probe(folder, ticks, warmup, timeout_s, floor)


def _probe(folder: Path, ticks: int, warmup: int, timeout_s: float,
           start_client: Callable[[int, str], tuple[subprocess.Popen, Path]]) -> dict[str, Any]:
    ca, cert, key = tls_files(folder)
    out = folder / "tick_to_trade.json"
    sim, _, port = start_sim([
        "--symbols", "BTCUSDT", "--tls-cert", cert, "--tls-key", key,
        "--api-key", PROBE_KEY, "--api-secret", PROBE_SECRET,
        # far above what the probe sends: past half of a limit the engine paces its orders
        "--weight-limit", "1000000000", "--order-limit-10s", "1000000000",
        "--probe-tick-to-trade", str(ticks), "--probe-warmup", str(warmup), "--probe-out", str(out),
    ], folder / "sim.log")
    client, client_log = start_client(port, ca)
    try:
        deadline = time.monotonic() + timeout_s
        while not out.exists():
            assert client.poll() is None, client_log.read_text()[-3000:]
            assert sim.poll() is None, (folder / "sim.log").read_text()[-3000:]
            if time.monotonic() > deadline:
                pytest.fail(f"no probe report after {timeout_s:g} s\n" + (folder / "sim.log").read_text()[-3000:])
            time.sleep(0.1)
        client.send_signal(signal.SIGTERM)
        assert client.wait(timeout=15) == 0, client_log.read_text()[-3000:]
        stop_process(sim)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
        if sim.poll() is None:
            sim.kill()
            sim.wait()
    return json.loads(out.read_text())

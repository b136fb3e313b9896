"""`python -m dmabot presets/mock.env` under a flood of pipelined scrapes from several
sockets: the engine keeps ticking, an ordinary scrape is still answered, SIGTERM exits 0."""

from __future__ import annotations

import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.paths import REPO_ROOT

FLOOD_SOCKETS = 5
PIPELINED = 1000  # GETs per burst, sent in one send
FLOOD_SECONDS = 4.0
# A scrape behind the flood waited for every burst before it to be rendered (seconds per burst).
SCRAPE_TIMEOUT_S = 3.0


def start_engine(folder: Path) -> tuple[subprocess.Popen[bytes], Path, int]:
    log = folder / "engine.log"
    env = dict(os.environ, METRICS_PORT="0", METRICS_HOST="127.0.0.1", RECORD_FILE="")
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dmabot", str(REPO_ROOT / "presets" / "mock.env")],
                                cwd=folder, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = re.search(r"metrics listening on http://127\.0\.0\.1:(\d+)/", log.read_text())
        if found:
            return proc, log, int(found.group(1))
        assert proc.poll() is None, log.read_text()
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("engine did not start:\n" + log.read_text())


def ticks(port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=SCRAPE_TIMEOUT_S) as resp:
        text = resp.read().decode()
    [total] = [s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == "ticks_total"]
    return total


class Flooder:
    """One socket sending bursts of pipelined GETs, the next once every answer has come."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setblocking(False)
        self.answered = 0
        self._pending = 0
        self._received = bytearray()

    def send_burst(self) -> None:
        self.sock.setblocking(True)
        self.sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: flood\r\n\r\n" * PIPELINED)
        self.sock.setblocking(False)
        self._pending = PIPELINED

    def on_readable(self) -> None:
        data = self.sock.recv(1 << 20)
        assert data, "the engine closed a flood connection"
        self._received += data
        while (head_end := self._received.find(b"\r\n\r\n")) >= 0:
            length = re.search(rb"(?i)content-length: *(\d+)", self._received[:head_end])
            assert length is not None and self._received.startswith(b"HTTP/1.1 200 "), bytes(self._received[:200])
            end = head_end + 4 + int(length.group(1))
            if len(self._received) < end:
                break
            del self._received[:end]
            self.answered += 1
            self._pending -= 1
        if self._pending == 0:
            self.send_burst()


def test_pipelined_scrape_floods_do_not_stop_the_ticks(tmp_path: Path) -> None:
    proc, log, port = start_engine(tmp_path)
    try:
        before = ticks(port)
        flooders = [Flooder(port) for _ in range(FLOOD_SOCKETS)]
        selector = selectors.DefaultSelector()
        for flooder in flooders:
            selector.register(flooder.sock, selectors.EVENT_READ, flooder)
            flooder.send_burst()
        samples = [before]
        end = time.monotonic() + FLOOD_SECONDS
        next_sample = time.monotonic() + 0.25
        while time.monotonic() < end:
            for key, _ in selector.select(0.05):
                key.data.on_readable()
            if time.monotonic() >= next_sample:
                samples.append(ticks(port))  # an ordinary scrape, answered amid the flood
                next_sample = time.monotonic() + 0.25
        for flooder in flooders:
            selector.unregister(flooder.sock)
            flooder.sock.close()
        assert all(f.answered > 0 for f in flooders), [f.answered for f in flooders]  # every flood socket served
        steps = [b - a for a, b in zip(samples, samples[1:])]
        assert len(steps) >= 4 and all(step > 0 for step in steps), steps  # ticks advanced all along
        assert proc.poll() is None, log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
    assert code == 0, log.read_text()

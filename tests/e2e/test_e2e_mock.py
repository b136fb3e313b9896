
"""`python -m dmabot presets/mock.env` as a user runs it: scraped over HTTP, stopped by
SIGTERM, its recording parsed."""
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import ujson
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.paths import REPO_ROOT

ROOT = REPO_ROOT


def scrape(port: int) -> dict[str, float]:
    """Totals per sample name (labels summed), e.g. {'ticks_total': 1200.0, ...}."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.status == 200
        text = resp.read().decode()
    totals: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = sample.name
            if sample.name == "exec_reports_total":
                key = f"exec_reports_total:{sample.labels['status']}"
            totals[key] = totals.get(key, 0.0) + sample.value
    return totals


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture
def engine(tmp_path, free_port):
    record = tmp_path / "events.jsonl"
    env = dict(os.environ, METRICS_PORT=str(free_port), RECORD_FILE=str(record))
    proc = subprocess.Popen([sys.executable, "-m", "dmabot", "presets/mock.env"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield proc, free_port, record
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def try_scrape(port):
    try:
        return scrape(port)
    except OSError:
        return None


RISING = ("ticks_total", "signals_total_by", "exec_reports_total:ack", "exec_reports_total:filled")


def test_mock_engine_runs_scrapes_and_stops_cleanly(engine):
    proc, port, record = engine
    first = wait_for(lambda: try_scrape(port), 20, "the metrics endpoint")
    later = wait_for(lambda: (m := scrape(port)) and all(m.get(k, 0) > first.get(k, 0) for k in RISING) and m,
                     30, "ticks, signals, acks and fills to rise")
    assert later["config_feed_mode"] == 1
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
        assert b"ticks_total" in resp.read()
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/nope", timeout=5)
    assert err.value.code == 404

    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 0, stderr
    assert "startup config feed_mode=mock venue_mode=mock symbols=[BTCUSDT,ETHUSDT,SOLUSDT]" in stderr
    assert f"metrics listening on http://0.0.0.0:{port}/ (and /metrics)" in stderr
    assert f"recorder enabled path={record}" in stderr
    summary = [line for line in stderr.splitlines() if " summary ticks=" in line]
    assert len(summary) == 1
    for field in ("signals=", "orders=", "fills=", "realized_pnl=", "unrealized_pnl="):
        assert field in summary[0]

    data = record.read_bytes()
    assert data.endswith(b"\n")
    lines = data.splitlines()
    tags = [next(iter(ujson.loads(line))) for line in lines]   # every line parses
    assert tags[0] == "Header"
    assert {"Md", "Sig", "Ord", "Exec"} <= set(tags)
    ticks = int(summary[0].split("ticks=")[1].split()[0])
    assert tags.count("Md") == ticks


def test_bad_config_refuses_to_start_naming_the_key(tmp_path):
    env = dict(os.environ, MAX_QPS="fast")
    proc = subprocess.run([sys.executable, "-m", "dmabot", "presets/mock.env"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["dmabot: config error: MAX_QPS='fast' is not valid: "
                                                "expected a finite number > 0 and <= 1e+06"]


def test_unwritable_record_file_and_busy_port_refuse_to_start(tmp_path, free_port):
    env = dict(os.environ, RECORD_FILE=str(tmp_path / "no" / "such" / "dir.jsonl"), METRICS_PORT="0")
    proc = subprocess.run([sys.executable, "-m", "dmabot", "presets/mock.env"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "config error: RECORD_FILE=" in proc.stderr and "cannot be opened" in proc.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port))
        busy.listen()
        env = dict(os.environ, RECORD_FILE="", METRICS_HOST="127.0.0.1", METRICS_PORT=str(free_port))
        proc = subprocess.run([sys.executable, "-m", "dmabot", "presets/mock.env"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert f"config error: METRICS_PORT={free_port} cannot be served on 127.0.0.1" in proc.stderr

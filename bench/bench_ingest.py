"""Ingest throughput over loopback: the engine's Binance feed against picows + ujson.

A separate process (bench/ingest_blaster.py) sends N bookTicker frames, combined-stream form,
as fast as the kernel takes them; its CPU is not counted. This process receives:

    fast      the real engine: Engine(load_config(...)) with FEED_MODE=binance_sandbox, so
              Reactor -> Transport (TLS over MemoryBIO) -> StreamReader (Cython frames and
              decode) -> TickRing -> Pipeline.drain (the strategies), until it has N ticks
    baseline  picows' client (ws_connect, a WSListener) on asyncio, each frame parsed with
              ujson.loads and s, b, B, a, A taken out as floats; nothing further. picows as
              it comes: since 2.0 its TLS runs through aiofastnet (OpenSSL called from
              Cython) when that is installed, as it is with picows' own dependencies

Scenarios: plain TCP; TLS with many frames per record (64 KiB per write, so 16 KiB
records); TLS with each message its own record, as exchanges send them.

A round is timed from the `go` sent to the blaster, after the TCP, TLS and WebSocket
handshakes (done in the round's setup), to the N-th message handled. extra_info has the
median messages/s and the CPU seconds per message of this process (time.process_time).
Run: pytest bench/bench_ingest.py --benchmark-only. The picows tests need the bench extra:
pip install -e ".[bench]".
"""
from __future__ import annotations

import asyncio
import ssl
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trustme
import ujson

from dmabot.app.config import load_config
from dmabot.app.engine import Engine
from dmabot.venues.binance.market_feed import FeedState

try:
    import picows
except ImportError:     # a bench-only extra
    picows = None
try:
    import aiofastnet  # picows >= 2 runs its TLS through this, when installed, by default
except ImportError:
    aiofastnet = None

BLASTER = Path(__file__).with_name("ingest_blaster.py")
SYMBOLS = "BTCUSDT,ETHUSDT"
# Messages per round: ours takes 0.2-1 s a round, picows 1-2.5 s; a test stays near 10 s.
COUNT = {"tcp": 600_000, "tls-packed": 500_000, "tls-per-message": 300_000}
COUNT_DISABLED = 2_000       # --benchmark-disable (CI): does it still work, quickly
ROUNDS = 3
ROUND_TIMEOUT_S = 120.0
SCENARIOS = {"tcp": "plain", "tls-packed": "packed", "tls-per-message": "per-message"}


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ingest-tls")
    authority = trustme.CA()
    cert = authority.issue_cert("127.0.0.1")
    files = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    authority.cert_pem.write_to_path(str(files["ca"]))
    cert.private_key_pem.write_to_path(str(files["key"]))
    for blob in cert.cert_chain_pems:
        blob.write_to_path(str(files["cert"]), append=True)
    return {name: str(path) for name, path in files.items()}


class Blaster:
    """The sender process: serves one connection per round, sends on `go()`."""

    def __init__(self, scenario: str, count: int, tls_files: dict[str, str]) -> None:
        mode = SCENARIOS[scenario]
        args = [sys.executable, str(BLASTER), "--count", str(count), "--mode", mode]
        self.tls = mode != "plain"
        if self.tls:
            args += ["--cert", tls_files["cert"], "--key", tls_files["key"]]
        self.ca_file = tls_files["ca"] if self.tls else None
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self._line("port").split()[1])

    def _line(self, expected: str) -> str:
        line = self.proc.stdout.readline()
        if not line.startswith(expected):
            raise AssertionError(f"ingest_blaster said {line!r}, expected {expected!r} "
                                 f"(exit code {self.proc.poll()})")
        return line

    def wait_ready(self) -> None:
        """Block until the blaster has the round's bytes ready to send."""
        self._line("ready")

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def url(self, path: str) -> str:
        return f"{'wss' if self.tls else 'ws'}://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.proc.stdin.close()
        self.proc.stdout.close()


@pytest.fixture(params=list(SCENARIOS))
def scenario(request, benchmark, tls_files):
    """(group name, messages per round, Blaster) for each scenario."""
    name = request.param
    benchmark.group = f"ingest-{name}"
    count = COUNT_DISABLED if benchmark.disabled else COUNT[name]
    blaster = Blaster(name, count, tls_files)
    yield name, count, blaster
    blaster.close()


def measure(benchmark, record_per_message, role, count, setup):
    """Run ROUNDS rounds of `setup()` -> round; report per-message time and CPU."""
    rounds = []

    def make():
        r = setup()
        rounds.append(r)
        return (r,), {}

    try:
        benchmark.pedantic(lambda r: r.run(), setup=make, teardown=lambda r: r.close(),
                           rounds=ROUNDS, iterations=1)
    finally:
        for r in rounds:        # teardown is not called with --benchmark-disable
            r.close()
    for r in rounds:
        assert r.handled == count, f"{r.handled} of {count} messages handled"
    record_per_message(role, count)
    cpu = statistics.median(r.cpu_s for r in rounds) / count
    wall = statistics.median(r.wall_s for r in rounds)
    benchmark.extra_info["messages"] = count
    benchmark.extra_info["messages_per_s"] = round(count / wall)
    benchmark.extra_info["cpu_s_per_message"] = cpu
    benchmark.extra_info["cpu_us_per_message"] = round(cpu * 1e6, 3)


# -- ours ----------------------------------------------------------------------------------

class EngineRound:
    """One connection of the real engine to the blaster, handshakes done in __init__."""

    def __init__(self, blaster: Blaster, count: int, env_file: Path) -> None:
        env = {
            "FEED_MODE": "binance_sandbox", "SYMBOLS": SYMBOLS,
            "BINANCE_WS_URL": blaster.url("/ws"), "BINANCE_STREAM_FORM": "combined",
            "BINANCE_CA_FILE": blaster.ca_file or "", "METRICS_PORT": "0", "RECORD_FILE": "",
            "WS_STALE_S": "3600",     # the stream is silent while the blaster encrypts it
        }
        self.blaster = blaster
        self.count = count
        self.engine = Engine(load_config(env_file, env))
        self.reactor = self.engine.reactor
        self.feed = self.engine.feed
        self.pipeline = self.engine.pipeline
        self.handled = self.cpu_s = self.wall_s = 0
        self.closed = False
        try:
            self.engine.start(serve_metrics=False)
            self._run_until(lambda: self.feed.state is FeedState.STREAMING, "WebSocket open")
            blaster.wait_ready()
        except BaseException:
            self.close()
            raise
        after_data = self.feed.after_data

        def after_data_then_check():
            after_data()
            if self.pipeline.ticks >= count:
                self.reactor.stop()

        self.feed.after_data = after_data_then_check

    def _run_until(self, done, what: str) -> None:
        deadline = time.monotonic() + ROUND_TIMEOUT_S

        def check():
            if done() or time.monotonic() > deadline:
                self.reactor.stop()
            else:
                self.reactor.call_later(1_000_000, check)

        self.reactor.call_soon(check)
        self.reactor.run()
        if not done():
            raise AssertionError(f"{what}: not reached in {ROUND_TIMEOUT_S:g} s, feed {self.feed.state}")

    def run(self) -> None:
        timeout = self.reactor.call_later(int(ROUND_TIMEOUT_S * 1e9), self.reactor.stop)
        cpu, wall = time.process_time(), time.perf_counter()
        self.blaster.go()
        self.reactor.run()
        self.cpu_s, self.wall_s = time.process_time() - cpu, time.perf_counter() - wall
        timeout.cancel()
        self.handled = self.pipeline.ticks
        assert self.pipeline.ring.dropped == 0

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.engine.shutdown()
            self.reactor.close()


def test_ingest_ours(benchmark, record_per_message, scenario, tmp_path):
    _, count, blaster = scenario
    env_file = tmp_path / "empty.env"     # not ./.env: only the keys given here
    env_file.write_text("")
    measure(benchmark, record_per_message, "fast", count,
            lambda: EngineRound(blaster, count, env_file))


# -- picows ----------------------------------------------------------------------------------

def make_listener(count: int, done: asyncio.Future):
    """A picows WSListener doing what a Python bookTicker client must: JSON, then floats."""
    text = picows.WSMsgType.TEXT
    loads = ujson.loads

    class Listener(picows.WSListener):
        def __init__(self) -> None:
            self.handled = 0
            self.last = None

        def on_ws_frame(self, transport, frame) -> None:
            if frame.msg_type != text:
                return
            data = loads(frame.get_payload_as_bytes())["data"]
            self.last = (data["s"], float(data["b"]), float(data["B"]), float(data["a"]),
                         float(data["A"]))
            self.handled += 1
            if self.handled == count:
                done.set_result(None)

        def on_ws_disconnected(self, transport) -> None:
            if not done.done():
                done.set_exception(ConnectionError(f"disconnected after {self.handled} messages"))

    return Listener


class PicowsRound:
    """One picows connection to the blaster, handshakes done in __init__."""

    def __init__(self, blaster: Blaster, count: int) -> None:
        self.blaster = blaster
        self.count = count
        self.handled = self.cpu_s = self.wall_s = 0
        self.closed = False
        self.loop = asyncio.new_event_loop()
        self.done = self.loop.create_future()
        context = ssl.create_default_context(cafile=blaster.ca_file) if blaster.tls else None
        self.transport = None
        try:
            self.transport, self.listener = self.loop.run_until_complete(picows.ws_connect(
                make_listener(count, self.done), blaster.url("/stream?streams=btcusdt@bookTicker/"
                                                              "ethusdt@bookTicker"),
                ssl_context=context))
            blaster.wait_ready()
        except BaseException:
            self.close()
            raise

    def run(self) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        self.blaster.go()
        self.loop.run_until_complete(asyncio.wait_for(self.done, ROUND_TIMEOUT_S))
        self.cpu_s, self.wall_s = time.process_time() - cpu, time.perf_counter() - wall
        self.handled = self.listener.handled

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.disconnect()
                self.loop.run_until_complete(self.transport.wait_disconnected())
            self.loop.close()


@pytest.mark.skipif(picows is None, reason="picows is not installed: it is the baseline of this "
                    "benchmark, a bench-only extra (pip install -e '.[bench]')")
def test_ingest_picows(benchmark, record_per_message, scenario):
    _, count, blaster = scenario
    benchmark.extra_info["picows"] = picows.__version__
    benchmark.extra_info["aiofastnet"] = aiofastnet is not None
    measure(benchmark, record_per_message, "baseline", count, lambda: PicowsRound(blaster, count))

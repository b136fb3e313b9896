"""Sustained ticks/s of the whole mock engine with the tick rate unlimited, metrics served
and scraped, every event recorded: feed -> strategies -> risk -> router -> mock venues ->
positions, on the real reactor and clock. Run: pytest bench/ --benchmark-only"""
import threading
import urllib.request

import pytest

from dmabot.app.config import load_config
from dmabot.app.engine import Engine

TICKS = 1_000_000


def run_engine(tmp_path):
    env = {
        "SYMBOLS": "BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT", "MOCK_TICK_HZ": "0", "METRICS_PORT": "0",
        "METRICS_HOST": "127.0.0.1", "RECORD_FILE": str(tmp_path / "bench.jsonl"), "MAX_QPS": "100",
        "MR_COOLDOWN_MS": "1", "MA_COOLDOWN_MS": "1", "VB_COOLDOWN_MS": "1",
    }
    engine = Engine(load_config(None, env))
    engine.start()
    scrapes = []
    done = threading.Event()

    def scraper():
        # Prometheus' side, in another thread of the benchmark: one scrape every 100 ms
        url = f"http://127.0.0.1:{engine.metrics_server.port}/metrics"
        while not done.wait(0.1):
            with urllib.request.urlopen(url, timeout=5) as resp:
                scrapes.append(b"ticks_total" in resp.read())

    def check():
        if engine.pipeline.ticks >= TICKS:
            engine.reactor.stop()
        else:
            engine.reactor.call_later(2_000_000, check)

    thread = threading.Thread(target=scraper)
    thread.start()
    engine.reactor.call_soon(check)
    try:
        engine.reactor.run()
    finally:
        done.set()
        while thread.is_alive():    # answer a scrape in flight, or it waits out its timeout
            wake = engine.reactor.call_later(10_000_000, lambda: None)
            engine.reactor.run_once()
            wake.cancel()
        thread.join()
    engine.shutdown()
    engine.reactor.close()
    (tmp_path / "bench.jsonl").unlink()
    return engine, scrapes


@pytest.mark.benchmark(group="engine")
def test_mock_engine_ticks_per_second(benchmark, record_per_message, tmp_path):
    engine, scrapes = benchmark.pedantic(run_engine, args=(tmp_path,), rounds=3, iterations=1)
    assert engine.pipeline.ticks >= TICKS
    assert sum(engine.pipeline.orders_by_venue()) > 0
    assert scrapes and all(scrapes)
    assert engine.recorder.bytes_written > 100 * TICKS     # every tick was recorded
    record_per_message("fast", TICKS)      # printed as ns and M msg/s, one message = one tick

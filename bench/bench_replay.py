"""Replay throughput: a generated 1,000,000-tick, 4-symbol recording through all three
strategies, risk, router, mock venues and positions, read from JSONL on simulated time.

Baseline in the same run: NautilusTrader's BacktestEngine on the same ticks with an
equivalent MA-crossover strategy, when nautilus_trader is installed (bench-only; skipped
with the reason otherwise). Run: pytest bench/bench_replay.py --benchmark-only
"""
import pytest

from dmabot.app.config import parse_config
from dmabot.app.engine import Engine
from dmabot.app.replay import Replay, replay_config
from dmabot.io.reactor import ManualClock, Reactor

SYMBOLS = "BTCUSDT,ETHUSDT,SOLUSDT,BNBUSDT"


def ticks_for(benchmark) -> int:
    return 20_000 if benchmark.disabled else 1_000_000


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    return {}


def recording(recordings, tmp_path_factory, n_ticks: int):
    """A mock run of n_ticks recorded on a manual clock (generated once per size)."""
    if n_ticks not in recordings:
        path = tmp_path_factory.mktemp("replay") / f"ticks{n_ticks}.jsonl"
        raw = {"SYMBOLS": SYMBOLS, "MOCK_TICK_HZ": "1000", "MAX_QPS": "20", "RECORD_FILE": str(path)}
        engine = Engine(parse_config(raw), Reactor(ManualClock(1_000_000_000)))
        engine.start(serve_metrics=False)
        steps = n_ticks // 4
        engine.reactor.call_at(engine.reactor.now() + steps * 1_000_000, engine.reactor.stop)
        engine.reactor.run()
        engine.shutdown()
        assert engine.pipeline.ticks == n_ticks
        recordings[n_ticks] = path
    return recordings[n_ticks]


@pytest.mark.benchmark(group="replay")
def test_replay_ticks_per_second(benchmark, record_per_message, recordings, tmp_path_factory):
    n = ticks_for(benchmark)
    path = recording(recordings, tmp_path_factory, n)
    config = replay_config(path, None, {})

    def run():
        return Replay(path, config).run()

    report = benchmark.pedantic(run, rounds=3, iterations=1)
    assert report.ticks == n and report.orders > 0 and report.fills > 0
    record_per_message("fast", n)


@pytest.mark.benchmark(group="replay")
def test_nautilus_backtest_same_ticks(benchmark, record_per_message, recordings, tmp_path_factory):
    nautilus = pytest.importorskip("nautilus_trader", reason="NautilusTrader not installed (bench-only baseline)")
    from bench.nautilus_baseline import run_backtest
    n = ticks_for(benchmark)
    path = recording(recordings, tmp_path_factory, n)
    quotes = benchmark.pedantic(run_backtest, args=(path,), rounds=3, iterations=1)
    assert quotes == n, nautilus.__version__
    record_per_message("baseline", n)

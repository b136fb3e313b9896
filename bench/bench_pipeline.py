"""Per-tick cost of the compiled hot path vs the same pipeline in plain Python.

One tick = ring pop, 3 strategies (one worker of each, by symbol shard, of 2 workers),
position marking and counters; "with a signal" adds risk, router, an Order object and the
order sink. Each round runs BATCH ticks; divide the reported times by BATCH for per-tick
figures (printed after the table as ns/msg, one message being one tick, with the ratio).
Run: pytest bench/ --benchmark-only
"""
import pytest

from bench.plain_pipeline import PlainPipeline
from dmabot.core.pipeline import Pipeline
from dmabot.core.ring import TickRing
from dmabot.core.risk import RiskCheck
from dmabot.core.router import Router
from dmabot.strategies.builtin import MACrossover, MeanReversion, VolBreakout
from dmabot.venues.mock.random_walk import MockFeed

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT"]
PRICES = [60000.0, 3000.0, 150.0, 600.0]
BATCH = 10_000
WORKERS = 2
# Edges no random walk of 1 bp per tick reaches: the strategies do all their work and
# never fire, which is the common case of a tick.
QUIET = dict(mr_edge=1e5, ma_edge=1e5, vb_edge=1e5)
BUSY = dict(mr_edge=0.0, ma_edge=0.0, vb_edge=0.0)


def compiled(edges, cooldown_ms=0.0):
    n = len(SYMBOLS)
    workers = [
        [MeanReversion(n, w, 0.001, edges["mr_edge"], cooldown_ms, window=50) for w in range(WORKERS)],
        [MACrossover(n, w, 0.001, edges["ma_edge"], cooldown_ms, fast=10, slow=40) for w in range(WORKERS)],
        [VolBreakout(n, w, 0.001, edges["vb_edge"], cooldown_ms, window=100) for w in range(WORKERS)],
    ]
    p = Pipeline(SYMBOLS, workers, RiskCheck(0.01, 1e6, 1e6, 1e12), Router(n, [7.5, 1.0], [2.0, 25.0]),
                 ["fastex", "cheapex"], ring_capacity=16384)
    p.order_sink = lambda order: None
    return p


def plain(edges):
    params = dict(mr_window=50, ma_fast=10, ma_slow=40, vb_window=100, cooldown=0, **edges)
    return PlainPipeline(len(SYMBOLS), WORKERS, params, [(7.5, 2.0), (1.0, 25.0)], (0.01, 1e6), 1e6, 1e12, 0.001)


def tick_tuples(n, seed=1):
    ring = TickRing(1 << 20)
    MockFeed(PRICES, seed=seed).generate(ring, 0, n)
    out = []
    for i in range(n):
        ts, sym, bid, _, ask, _, _ = ring.pop_tuple()
        out.append((i * 1000, sym, bid, ask))
    return out


def run_compiled(benchmark, record_per_message, p):
    feed = MockFeed(PRICES, seed=1)
    clock = [0]

    def refill():
        clock[0] += 1_000_000
        feed.generate(p.ring, clock[0], BATCH)

    for _ in range(5):            # warm the windows up
        refill()
        p.drain()
    benchmark.pedantic(p.drain, setup=refill, rounds=300, iterations=1, warmup_rounds=5)
    record_per_message("fast", BATCH)
    return p


def run_plain(benchmark, record_per_message, pp):
    ticks = tick_tuples(BATCH)
    on_tick = pp.on_tick

    def batch():
        for ts, sym, bid, ask in ticks:
            on_tick(ts, sym, bid, ask)

    batch()
    benchmark.pedantic(batch, rounds=20, iterations=1, warmup_rounds=1)
    record_per_message("baseline", BATCH)


@pytest.mark.benchmark(group="tick-no-signal")
def test_compiled_tick_no_signal(benchmark, record_per_message):
    p = run_compiled(benchmark, record_per_message, compiled(QUIET))
    assert sum(map(sum, p.signals())) == 0


@pytest.mark.benchmark(group="tick-no-signal")
def test_plain_python_tick_no_signal(benchmark, record_per_message):
    pp = plain(QUIET)
    run_plain(benchmark, record_per_message, pp)
    assert not pp.orders


@pytest.mark.benchmark(group="tick-signal")
def test_compiled_tick_with_signals(benchmark, record_per_message):
    p = run_compiled(benchmark, record_per_message, compiled(BUSY))
    assert sum(p.orders_by_venue()) > p.ticks // 2       # most ticks fire at least once


@pytest.mark.benchmark(group="tick-signal")
def test_plain_python_tick_with_signals(benchmark, record_per_message):
    pp = plain(BUSY)
    run_plain(benchmark, record_per_message, pp)
    assert len(pp.orders) > BATCH // 2

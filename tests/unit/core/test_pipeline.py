"""Pipeline wiring: sharding, the order path, exec reports into positions and counters."""
import ujson

from dmabot.core.pipeline import Pipeline
from dmabot.core.risk import RiskCheck
from dmabot.core.router import Router
from dmabot.core.types import ExecReport, ExecStatus, Side
from dmabot.strategies.builtin import MeanReversion, VolBreakout

SYMBOLS = ["AAAUSDT", "BBBUSDT", "CCCUSDT"]


def make(workers=2, record=True, max_qps=1000.0, split=1):
    ws = [[MeanReversion(3, w, 0.5, 10.0, 0.0, window=4) for w in range(workers)],
          [VolBreakout(3, w, 0.5, 10.0, 0.0, window=4) for w in range(workers)]]
    router = Router(3, [5.0, 1.0], [1.0, 30.0], split=split)
    p = Pipeline(SYMBOLS, ws, RiskCheck(1.0, 1000.0, 1e6, max_qps), router, ["fast", "cheap"],
                 ring_capacity=64, record=record)
    orders = []
    p.order_sink = orders.append
    return p, orders


def flat_then_dip(p, sym, t0=0):
    for i in range(4):
        p.push_tick(t0 + i, sym, 99.9, 1.0, 100.1, 1.0)
    p.push_tick(t0 + 4, sym, 97.0, 1.0, 97.2, 1.0)   # ask 97.2 < mean 100 * (1 - 10bps)
    p.drain()


def test_symbols_are_sharded_across_workers_by_index():
    p, _ = make(workers=2)
    for sym in range(3):
        p.push_tick(sym, sym, 99.9, 1.0, 100.1, 1.0)
    p.drain()
    mr = p.workers[0]
    assert [w.ticks for w in mr] == [2, 1]        # symbols 0 and 2 -> worker 0, 1 -> worker 1
    assert p.ticks_by_symbol() == [1, 1, 1]


def test_a_signal_becomes_a_routed_order_and_is_recorded():
    p, orders = make()
    flat_then_dip(p, 1)
    assert len(orders) == 2       # mean reversion buys; the dip also breaks the rolling low: sell
    buy = [o for o in orders if o.side == Side.BUY][0]
    # fast: 5 bps fee + 0.5 bps/ms x 1 ms = 5.5 < cheap: 1 + 0.5 x 30 = 16
    assert (buy.sym, buy.px, buy.qty, buy.venue, buy.ts) == (1, 97.2, 0.5, 0, 4)
    assert p.signals() == [[0, 1, 0], [0, 1, 0]]
    lines = [ujson.loads(x) for x in p.recorder.take().splitlines()]
    tags = [next(iter(x)) for x in lines]
    assert tags == ["Md"] * 5 + ["Sig", "Ord", "Sig", "Ord"]
    sig = lines[5]["Sig"]
    assert sig == {"ts": 4, "id": 1, "strategy": "mean_reversion", "worker": 1, "symbol": "BBBUSDT",
                   "side": "BUY", "px": 97.2, "qty": 0.5, "ref": 100.0, "risk": "ok"}
    assert lines[6]["Ord"] == {"ts": 4, "id": 1, "signal_id": 1, "strategy": "mean_reversion", "worker": 1,
                               "symbol": "BBBUSDT", "venue": "fast", "side": "BUY", "px": 97.2, "qty": 0.5}
    assert lines[4]["Md"] == {"ts": 4, "symbol": "BBBUSDT", "bid": 97.0, "bid_qty": 1.0, "ask": 97.2,
                              "ask_qty": 1.0, "u": 0}


def test_risk_denial_is_recorded_and_sends_nothing():
    p, orders = make(max_qps=1.0)     # burst of one order
    flat_then_dip(p, 0)
    assert len(orders) == 1
    sigs = [ujson.loads(x)["Sig"] for x in p.recorder.take().splitlines() if x.startswith(b'{"Sig"')]
    assert [s["risk"] for s in sigs] == ["ok", "qps"]


def test_exec_reports_update_positions_counters_and_latency():
    p, orders = make(record=False)
    flat_then_dip(p, 0)
    buy = [o for o in orders if o.side == Side.BUY][0]
    p.on_exec(ExecReport(buy, 5, ExecStatus.ACK))
    p.on_exec(ExecReport(buy, 6, ExecStatus.FILLED, 97.1, 0.5, 0.01, 1))
    pos = p.positions.get(0, buy.venue)
    assert (pos["qty"], pos["avg_px"], pos["fees"], pos["fills"]) == (0.5, 97.1, 0.01, 1)
    assert pos["unrealized"] == (97.1 - 97.1) * 0.5     # marked to the last mid 97.1
    counts = p.exec_counts()
    assert counts[(buy.venue, ExecStatus.ACK)] == 1 and counts[(buy.venue, ExecStatus.FILLED)] == 1
    cumulative, total = p.ack_latency()
    assert cumulative[-1] == 1 and total > 0


def test_router_split_legs_share_the_signal():
    p, orders = make(split=2, record=False)
    flat_then_dip(p, 2)
    buys = [o for o in orders if o.side == Side.BUY]
    assert sorted(o.venue for o in buys) == [0, 1]
    assert sum(o.qty for o in buys) == 0.5 and len({o.signal_id for o in buys}) == 1
    assert p.orders_by_venue() == [2, 2]


def test_touch_is_the_latest_tick():
    p, _ = make(record=False)
    assert p.touch(1) == (0.0, 0.0)
    p.push_tick(1, 1, 10.0, 1.0, 10.5, 2.0)
    p.drain()
    assert p.touch(1) == (10.0, 10.5)

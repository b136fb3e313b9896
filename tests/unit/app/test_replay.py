
"""Replay: equivalence with the live run, hand-worked PnL, robust input, report outputs."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import ujson

from dmabot.app.config import parse_config
from dmabot.app.engine import Engine
from dmabot.app.replay import Replay, ReplayError, replay_config
from dmabot.io.reactor import ManualClock, Reactor
from tests.helpers.paths import REPO_ROOT

ROOT = REPO_ROOT
MS = 1_000_000


def record_mock_run(path: Path, seconds: float, **overrides) -> Engine:
    raw = {"SYMBOLS": "BTCUSDT,ETHUSDT,SOLUSDT", "MOCK_TICK_HZ": "1000", "MAX_QPS": "50",
           "MR_COOLDOWN_MS": "20", "MA_COOLDOWN_MS": "20", "VB_COOLDOWN_MS": "20", "MOCK_VOL_BPS": "2",
           "RECORD_FILE": str(path), **overrides}
    engine = Engine(parse_config(raw), Reactor(ManualClock(5_000_000_000)))
    engine.start(serve_metrics=False)
    engine.reactor.call_at(engine.reactor.now() + int(seconds * 1e9), engine.reactor.stop)
    engine.reactor.run()
    engine.shutdown()
    return engine


def replay_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dmabot", "replay", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def tagged(path: Path, *tags: str) -> list[bytes]:
    prefixes = tuple(f'{{"{t}"'.encode() for t in tags)
    return [line for line in path.read_bytes().splitlines() if line.startswith(prefixes)]


def test_replay_reproduces_signals_orders_and_positions(tmp_path):
    live = record_mock_run(tmp_path / "live.jsonl", 4.0)
    assert len(tagged(tmp_path / "live.jsonl", "Ord")) > 20
    replay = Replay(tmp_path / "live.jsonl", replay_config(tmp_path / "live.jsonl", None, {}), verify=True)
    replay.run()
    assert replay.verifier.divergence is None
    assert replay.verifier.compared == len(tagged(tmp_path / "live.jsonl", "Sig", "Ord", "Exec"))
    assert replay.pipeline.ticks == live.pipeline.ticks
    for s in range(3):
        for v in range(2):
            assert replay.pipeline.positions.get(s, v) == live.pipeline.positions.get(s, v)
    proc = replay_cli(str(tmp_path / "live.jsonl"), "--verify")
    assert proc.returncode == 0, proc.stderr
    assert "verify: OK" in proc.stdout


def test_verify_reports_the_first_divergence(tmp_path):
    record_mock_run(tmp_path / "live.jsonl", 2.0)
    proc = replay_cli(str(tmp_path / "live.jsonl"), "--verify", "--set", "MR_EDGE_BPS=9")
    assert proc.returncode == 1, proc.stderr
    line = [x for x in proc.stdout.splitlines() if x.startswith("verify:")][0]
    assert line.startswith("verify: FAILED, first divergence at line ")
    assert "recorded=" in line and "replayed=" in line


# A tiny recording worked out by hand. Mean reversion only, window 2, edge 1%, no cooldown,
# qty 1, one venue with 1 ms latency and 10 bps fee; tick i is stamped i ms.
HAND = dict(SYMBOLS="XUSDT", STRATEGIES="mean_reversion", MR_WINDOW="2", MR_EDGE_BPS="100",
            MR_COOLDOWN_MS="0", ORDER_QTY="1", MAX_NOTIONAL="1000000", MAX_QPS="1000", QTY_STEP="1",
            MOCK_VENUES="v:1:10", STRATEGY_WORKERS="1")
HAND_TICKS = [
    (99.9, 100.1), (99.9, 100.1),   # t0, t1: mean 100
    (97.9, 98.0),                   # t2: ask 98.0 < 99.0 -> BUY 1 @ 98.0, fills at t3
    (97.9, 98.0),                   # t3: fill @ ask 98.0 (fee 0.098); mean 98.975: quiet
    (95.9, 96.0),                   # t4: mean 97.95, ask 96.0 < 96.9705 -> BUY 1 @ 96.0
    (95.9, 96.0),                   # t5: fill @ 96.0 (fee 0.096); long 2 @ 97.0; quiet
    (98.9, 99.0),                   # t6: mean 95.95, bid 98.9 > 96.9095 -> SELL 1 @ 98.9
    (97.4, 97.5),                   # t7: fill @ 98.9 (fee 0.0989): partial sell, +1.9; quiet
    (97.2, 97.3), (96.4, 96.5), (95.8, 95.9), (95.2, 95.3), (94.6, 94.7),   # t8-t12: drift, quiet
    (96.0, 96.1),                   # t13: mean 94.95, bid 96.0 > 95.8995 -> SELL 1 @ 96.0
    (95.0, 95.1),                   # t14: fill @ 96.0 (fee 0.096): the losing half, -1.0
]


def write_recording(path: Path, config: dict, ticks, md=None) -> None:
    lines = [ujson.dumps({"Header": {"schema": 1, "ts": 0, "config": config}})]
    for i, (bid, ask) in enumerate(ticks):
        body = md(i, bid, ask) if md else (f'{{"Md":{{"ts":{i * MS},"symbol":"XUSDT","bid":{bid},"bid_qty":1.0,'
                                            f'"ask":{ask},"ask_qty":1.0,"u":{i}}}}}')
        lines.append(body)
    path.write_text("\n".join(lines) + "\n")


def test_hand_worked_pnl(tmp_path):
    write_recording(tmp_path / "hand.jsonl", HAND, HAND_TICKS)
    proc = replay_cli(str(tmp_path / "hand.jsonl"), "--json", str(tmp_path / "r.json"),
                      "--trades", str(tmp_path / "t.csv"), "--plot", str(tmp_path / "p.png"))
    assert proc.returncode == 0, proc.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    assert (r["ticks"], r["signals"], r["orders"], r["fills"]) == (15, 4, 4, 4)
    assert r["realized_pnl"] == pytest.approx(1.9 - 1.0, abs=1e-9)
    assert r["fees"] == pytest.approx(0.098 + 0.096 + 0.0989 + 0.096, abs=1e-9)
    assert r["unrealized_pnl"] == 0.0
    (row,) = r["by_strategy"]
    assert row["strategy"] == "mean_reversion" and row["qty"] == 0
    assert row["net_pnl"] == pytest.approx(0.9 - 0.3889, abs=1e-9)
    assert r["signal_to_fill_ms"]["p50"] == 1.0 and r["signal_to_fill_ms"]["count"] == 4
    trades = (tmp_path / "t.csv").read_text().splitlines()
    assert trades[0].startswith("ts_ns,order_id,strategy,symbol,venue,side,price,qty,fee")
    assert [t.split(",")[5:7] for t in trades[1:]] == [["BUY", "98.0"], ["BUY", "96.0"],
                                                      ["SELL", "98.9"], ["SELL", "96.0"]]
    assert (tmp_path / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "replayed 15 ticks" in proc.stdout and "mean_reversion" in proc.stdout


def test_slow_path_md_lines_replay_the_same(tmp_path):
    """Md lines in another field order (not the recorder's layout) go through ujson."""
    write_recording(tmp_path / "a.jsonl", HAND, HAND_TICKS)
    write_recording(tmp_path / "b.jsonl", HAND, HAND_TICKS, md=lambda i, bid, ask: ujson.dumps(
        {"Md": {"u": i, "ask_qty": 1.0, "ask": ask, "bid_qty": 1.0, "bid": bid, "symbol": "XUSDT", "ts": i * MS}}))
    a = Replay(tmp_path / "a.jsonl", parse_config(HAND)).run().as_dict()
    b = Replay(tmp_path / "b.jsonl", parse_config(HAND)).run().as_dict()
    assert a == b and a["fills"] == 4


def test_truncated_and_malformed_lines_are_reported_and_skipped(tmp_path):
    write_recording(tmp_path / "r.jsonl", HAND, HAND_TICKS)
    lines = (tmp_path / "r.jsonl").read_text().splitlines()
    lines.insert(3, "{not json")
    lines.insert(6, '{"Md":{"ts":1,"symbol":"NOPE","bid":1.0,"bid_qty":1,"ask":1.1,"ask_qty":1,"u":0}}')
    lines.insert(8, '{"Md":{"ts":1,"symbol":"XUSDT","bid":"abc","bid_qty":1,"ask":1.1,"ask_qty":1,"u":0}}')
    text = "\n".join(lines) + "\n" + '{"Md":{"ts":99000000,"symbol":"XUSDT","bi'
    (tmp_path / "r.jsonl").write_text(text)
    proc = replay_cli(str(tmp_path / "r.jsonl"), "--json", str(tmp_path / "r.json"))
    assert proc.returncode == 0, proc.stderr
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["malformed_lines"] == 3 and r["malformed_line_numbers"] == [4, 7, 9]
    assert r["truncated_last_line"] is True
    assert r["fills"] == 4 and r["ticks"] == 15         # the good lines all count
    assert "skipped 3 malformed lines (first: 4, 7, 9)" in proc.stdout
    assert "truncated last line" in proc.stdout


def test_missing_empty_and_headerless_files_are_clear_errors(tmp_path):
    proc = replay_cli(str(tmp_path / "none.jsonl"), "--config", "presets/mock.env")
    assert proc.returncode == 2 and "no such file" in proc.stderr
    (tmp_path / "empty.jsonl").write_text("")
    proc = replay_cli(str(tmp_path / "empty.jsonl"), "--config", "presets/mock.env")
    assert proc.returncode == 2 and "is empty" in proc.stderr
    (tmp_path / "bare.jsonl").write_text('{"Md":{}}\n')
    proc = replay_cli(str(tmp_path / "bare.jsonl"))
    assert proc.returncode == 2 and "no Header line" in proc.stderr
    with pytest.raises(ReplayError):
        replay_config(tmp_path / "bare.jsonl", None, {})


def test_md_numbers_read_back_exactly():
    """The C reader's number parsing gives exactly float() of what the recorder wrote."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from dmabot.app.engine import build_pipeline
    from dmabot.core.jsonl import format_number
    from dmabot.core.replay_reader import MdLineReader, ReadStop
    from dmabot.core.symbols import SymbolTable

    pipeline = build_pipeline(parse_config(HAND), record=False)
    reader = MdLineReader(pipeline, SymbolTable(["XUSDT"]))
    grid = st.builds(lambda n, k: n / 10**k, st.integers(1, 10**12), st.integers(0, 8))
    prices = st.one_of(grid, st.floats(min_value=1e-9, max_value=1e9, allow_nan=False))

    @settings(max_examples=500, deadline=None)
    @given(bid=prices, spread=prices, qty=prices)
    def check(bid, spread, qty):
        ask = bid + spread
        line = (f'{{"Md":{{"ts":1,"symbol":"XUSDT","bid":{format_number(bid)},"bid_qty":{format_number(qty)},'
                f'"ask":{format_number(ask)},"ask_qty":{format_number(qty)},"u":7}}}}\n').encode()
        stop, pos, _ = reader.feed(line, 0)
        assert stop in (ReadStop.END, ReadStop.ORDERS) and pos == len(line)   # taken by the C path
        assert pipeline.touch(0) == (bid, ask)

    check()

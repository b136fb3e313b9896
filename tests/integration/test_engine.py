"""The whole mock pipeline in-process on a manual clock: determinism, fills, metrics."""
import shutil
import subprocess

import pytest
import ujson
from prometheus_client import generate_latest

from dmabot.app.config import load_config
from dmabot.app.engine import Engine
from dmabot.app.metrics import build_registry
from dmabot.io.reactor import ManualClock, Reactor

BASE = {
    "SYMBOLS": "BTCUSDT,ETHUSDT,SOLUSDT",
    "MOCK_TICK_HZ": "1000",
    "MAX_QPS": "50",
    "MR_COOLDOWN_MS": "50",
    "MA_COOLDOWN_MS": "50",
    "VB_COOLDOWN_MS": "50",
    "MOCK_VOL_BPS": "2",
}


def run_engine(tmp_path, seconds: float, name: str = "events.jsonl", **overrides) -> Engine:
    env = dict(BASE, RECORD_FILE=str(tmp_path / name), **overrides)
    engine = Engine(load_config(None, env), Reactor(ManualClock(1_000_000_000)))
    engine.start(serve_metrics=False)
    engine.reactor.call_at(engine.reactor.now() + int(seconds * 1e9), engine.reactor.stop)
    engine.reactor.run()
    engine.shutdown()
    return engine


def events(path) -> list[tuple[str, dict]]:
    out = []
    with open(path) as f:
        for line in f:
            ((tag, body),) = ujson.loads(line).items()
            out.append((tag, body))
    return out


def test_same_seed_same_recording(tmp_path):
    run_engine(tmp_path, 3.0, "a.jsonl")
    run_engine(tmp_path, 3.0, "b.jsonl")
    a = (tmp_path / "a.jsonl").read_bytes().splitlines()
    b = (tmp_path / "b.jsonl").read_bytes().splitlines()
    assert a[1:] == b[1:]        # the header differs only by RECORD_FILE
    tags = [tag for tag, _ in events(tmp_path / "a.jsonl")]
    assert tags[0] == "Header"
    assert {"Md", "Sig", "Ord", "Exec"} <= set(tags)


def test_other_seed_other_ticks(tmp_path):
    run_engine(tmp_path, 0.5, "a.jsonl")
    run_engine(tmp_path, 0.5, "b.jsonl", MOCK_SEED="7")
    md = lambda p: [b for t, b in events(p) if t == "Md"]  # noqa: E731
    assert md(tmp_path / "a.jsonl") != md(tmp_path / "b.jsonl")


def test_pipeline_flow_and_positions_match_recording(tmp_path):
    engine = run_engine(tmp_path, 3.0)
    evs = events(tmp_path / "events.jsonl")
    ticks = [b for t, b in evs if t == "Md"]
    sigs = [b for t, b in evs if t == "Sig"]
    orders = {b["id"]: b for t, b in evs if t == "Ord"}
    execs = [b for t, b in evs if t == "Exec"]
    # 1000 Hz x 3 symbols x 3 s: steps at 0 .. 2.999 s; the stop timer at 3 s runs before
    # the feed step due then, since market data goes last among equal due times
    assert len(ticks) == engine.pipeline.ticks == 3 * 3000
    assert len(sigs) == sum(map(sum, engine.pipeline.signals())) > 0
    assert len(orders) == sum(engine.pipeline.orders_by_venue()) > 0
    statuses = {e["status"] for e in execs}
    assert {"ACK", "FILLED"} <= statuses
    acks = [e for e in execs if e["status"] == "ACK"]
    assert sorted(e["order_id"] for e in acks) == sorted(orders)
    # every ordered signal passed risk; every order's fill comes after its venue latency
    latency = {"fastex": 2_000_000, "cheapex": 25_000_000}
    for e in execs:
        if e["status"] in ("FILLED", "EXPIRED"):
            o = orders[e["order_id"]]
            assert e["ts"] == o["ts"] + latency[o["venue"]]
    # positions rebuilt from the recorded fills equal the engine's
    for s, symbol in enumerate(engine.config.symbols):
        for v, venue in enumerate(engine.venue_names):
            fills = [e for e in execs if e["status"] == "FILLED" and e["symbol"] == symbol and e["venue"] == venue]
            qty = sum(e["qty"] * (1 if e["side"] == "BUY" else -1) for e in fills)
            pos = engine.pipeline.positions.get(s, v)
            assert pos["qty"] == pytest.approx(qty, abs=1e-12)
            assert pos["fees"] == pytest.approx(sum(e["fee"] for e in fills), rel=1e-12)
            assert pos["fills"] == len(fills)


def test_fills_happen_at_the_touch_and_cross_the_limit(tmp_path):
    run_engine(tmp_path, 2.0)
    evs = events(tmp_path / "events.jsonl")
    orders = {b["id"]: b for t, b in evs if t == "Ord"}
    for tag, e in evs:
        if tag == "Exec" and e["status"] == "FILLED":
            o = orders[e["order_id"]]
            assert e["px"] <= o["px"] if o["side"] == "BUY" else e["px"] >= o["px"]


def test_router_split_sends_legs_to_both_venues(tmp_path):
    engine = run_engine(tmp_path, 2.0, ROUTER_SPLIT="2", ORDER_QTY="0.002")
    orders = [b for t, b in events(tmp_path / "events.jsonl") if t == "Ord"]
    by_signal = {}
    for o in orders:
        by_signal.setdefault(o["signal_id"], []).append(o)
    assert by_signal and all(len(legs) == 2 for legs in by_signal.values())
    assert all({leg["venue"] for leg in legs} == {"fastex", "cheapex"} for legs in by_signal.values())
    assert all(sum(leg["qty"] for leg in legs) == pytest.approx(0.002) for legs in by_signal.values())
    assert all(n > 0 for n in engine.pipeline.orders_by_venue())


def test_risk_rejections_are_counted_and_recorded(tmp_path):
    engine = run_engine(tmp_path, 2.0, MAX_NOTIONAL="100")      # BTC at 60k x 0.001 = 60: ok
    sigs = [b for t, b in events(tmp_path / "events.jsonl") if t == "Sig"]
    counts = {r.name: n for r, n in engine.pipeline.risk.counts().items()}
    assert counts["RISK_OK"] == sum(1 for s in sigs if s["risk"] == "ok")
    tight = run_engine(tmp_path, 2.0, "tight.jsonl", PX_MAX="1000")   # BTC and ETH out of band
    tight_sigs = [b for t, b in events(tmp_path / "tight.jsonl") if t == "Sig"]
    banned = [s for s in tight_sigs if s["symbol"] in ("BTCUSDT", "ETHUSDT")]
    assert banned and all(s["risk"] == "price_band" for s in banned)
    assert {r.name: n for r, n in tight.pipeline.risk.counts().items()}["PRICE_BAND"] == len(banned)


def test_metrics_page_has_the_seed_names_and_passes_promtool(tmp_path):
    engine = run_engine(tmp_path, 2.0)
    page = generate_latest(build_registry(engine)).decode()
    for needle in (
        'config_feed_mode{mode="mock"} 1.0', 'config_venue_mode{mode="mock"} 1.0',
        'config_symbol{symbol="ETHUSDT"} 1.0', 'config_strategy_active{strategy="vol_breakout"} 1.0',
        "ticks_total 6000.0", 'ticks_total_by_symbol{symbol="BTCUSDT"} 2000.0',
        "signals_total_by{", 'exec_reports_total{status="ack",venue="fastex"}',
        'inventory_qty{symbol="BTCUSDT",venue="fastex"}', "pnl_realized{", "pnl_unrealized{",
        "orders_total{", "risk_rejections_total{", "ring_dropped_total 0.0",
        "signal_to_ack_latency_seconds_bucket{",
        'strategy_shard{strategy="ma_crossover",symbol="ETHUSDT",worker="1"} 1.0',
    ):
        assert needle in page, needle
    count = [line for line in page.splitlines() if line.startswith("signal_to_ack_latency_seconds_count")]
    acks = sum(n for (v, st), n in engine.pipeline.exec_counts().items() if st.name == "ACK")
    assert count == [f"signal_to_ack_latency_seconds_count {float(acks)}"] and acks > 0
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: install the Debian package `prometheus`"
    check = subprocess.run([promtool, "check", "metrics"], input=page.encode(), capture_output=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_secrets_stay_out_of_the_recording_and_the_metrics(tmp_path, caplog):
    secret, key = "s3cr3t-never-anywhere", "k3y-never-anywhere"
    caplog.set_level("DEBUG")
    engine = run_engine(tmp_path, 0.2, BINANCE_API_SECRET=secret, BINANCE_API_KEY=key)
    page = generate_latest(build_registry(engine)).decode()
    recording = (tmp_path / "events.jsonl").read_text()
    for text in (page, recording, caplog.text, repr(engine.config)):
        assert secret not in text and key not in text
    assert "binance_api_secret=<set>" in caplog.text


def test_one_final_position_line_per_symbol_and_venue_traded_or_not(tmp_path):
    # PX_MAX=1000 keeps BTC (60k) and ETH (3k) out of the price band: only SOL trades
    engine = run_engine(tmp_path, 2.0, PX_MAX="1000")
    lines = [line for line in engine.summary_lines() if line.startswith("position ")]
    rows = [tuple(f.split("=", 1)[1] for f in line.split()[1:3]) for line in lines]
    assert rows == [(s, v) for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT") for v in ("fastex", "cheapex")]
    fills = {row: int(line.rsplit("fills=", 1)[1]) for row, line in zip(rows, lines)}
    assert fills[("BTCUSDT", "fastex")] == fills[("ETHUSDT", "cheapex")] == 0
    assert "position symbol=BTCUSDT venue=fastex qty=0 avg_price=0 realized_pnl=0.000000" in lines[0]
    assert sum(fills[("SOLUSDT", v)] for v in ("fastex", "cheapex")) > 0

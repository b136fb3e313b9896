"""Bad configurations through the real command line: exit code 2 and exactly one stderr line
naming the key, never a traceback."""
import os
import subprocess
import sys

import pytest

from dmabot.app.config import KNOWN_NAMES, ConfigError, load_config

LIVE_FEED = "SYMBOLS=BTCUSDT\nFEED_MODE=binance_sandbox\n"
LIVE_VENUE = "SYMBOLS=BTCUSDT\nVENUE_MODE=binance_sandbox\nBINANCE_API_KEY=k\nBINANCE_API_SECRET=s\n"


def clean_environment() -> dict[str, str]:
    """The process environment without the keys (and near misses) a developer may have set."""
    return {k: v for k, v in os.environ.items() if k not in KNOWN_NAMES and not k.startswith(("MOCK_", "BINANCE_"))}


def run_cli(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dmabot", *args], cwd=tmp_path, env=clean_environment(),
                          capture_output=True, text=True, timeout=60)


def assert_one_line_naming(result: subprocess.CompletedProcess[str], key: str, *parts: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert key in lines[0], lines[0]
    for part in parts:
        assert part in lines[0], lines[0]


@pytest.mark.parametrize("text, key, message", [
    ("SYMBOLS=BTCUSDT\nMAX_NOTIONL=5\n", "MAX_NOTIONL", "MAX_NOTIONL: unknown key, did you mean MAX_NOTIONAL?"),
    ("SYMBOLS=BTCUSDT\nMR_WINDWO=5\n", "MR_WINDWO", "MR_WINDWO: unknown key, did you mean MR_WINDOW?"),
    ("SYMBOLS=BTCUSDT\nmr_window=5\n", "mr_window", "did you mean MR_WINDOW?"),
    ("SYMBOLS=BTCUSDT\nMR_COOLDOWN_MS=1e300\n", "MR_COOLDOWN_MS", "is not valid: expected a finite number"),
    ("SYMBOLS=BTCUSDT\nQTY_STEP=1e-320\n", "QTY_STEP", "is not valid"),
    ("SYMBOLS=BTCUSDT\nSTRATEGY_WORKERS=\u0662\n", "STRATEGY_WORKERS", "expected an integer"),
    ("SYMBOLS=BTCUSDT\nSTRATEGY_WORKERS=2_0\n", "STRATEGY_WORKERS", "expected an integer"),
    ("SYMBOLS=BTCUSDT\nMAX_QPS=\u0665\n", "MAX_QPS", "expected a finite number"),
    ("SYMBOLS=BTCUSDT\nMAX_QPS=1_0\n", "MAX_QPS", "expected a finite number"),
    ("SYMBOLS=BTCUSDT\nMAX_NOTIONAL=infinity\n", "MAX_NOTIONAL", "expected a finite number"),
    (LIVE_FEED + "BINANCE_WS_URL=ws:///ws\n", "BINANCE_WS_URL", "expected the stream base"),
    (LIVE_FEED + "BINANCE_WS_URL=wss://127.0.0.1:99999/ws\n", "BINANCE_WS_URL", "expected the stream base"),
    (LIVE_FEED + "BINANCE_WS_URL=wss://127.0.0.1:0/ws\n", "BINANCE_WS_URL", "expected the stream base"),
    (LIVE_VENUE + "BINANCE_REST_URL=https://\n", "BINANCE_REST_URL", "expected the REST base"),
    (LIVE_VENUE + "BINANCE_REST_URL=https://127.0.0.1:99999\n", "BINANCE_REST_URL", "expected the REST base"),
    (LIVE_VENUE + "BINANCE_WS_API_URL=wss://127.0.0.1:99999/ws-api/v3\n", "BINANCE_WS_API_URL", "is not valid"),
    (LIVE_VENUE + "BINANCE_ENV=mainnet\n", "BINANCE_ENV", "VENUE_MODE=binance_sandbox"),
])
def test_bad_value_exits_2_with_one_line_naming_the_key(tmp_path, text, key, message):
    path = tmp_path / "bad.env"
    path.write_text(text, encoding="utf-8")
    assert_one_line_naming(run_cli(tmp_path, str(path)), key, message)


@pytest.mark.parametrize("pem", [b"this is not a certificate\n", b"", b"\xff\xfe\x00garbage"])
def test_ca_file_that_is_not_pem_exits_2(tmp_path, pem):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(pem)
    path = tmp_path / "bad.env"
    path.write_text(LIVE_FEED + f"BINANCE_CA_FILE={ca}\n")
    assert_one_line_naming(run_cli(tmp_path, str(path)), "BINANCE_CA_FILE", "not a PEM bundle")


def test_env_file_that_is_not_utf8_exits_2(tmp_path):
    path = tmp_path / "latin1.env"
    path.write_bytes("SYMBOLS=BTCUSDT\n# prix en \u20ac\n".encode("cp1252"))
    assert_one_line_naming(run_cli(tmp_path, str(path)), str(path), "is not UTF-8")


def test_replay_set_of_an_unknown_key_exits_2(tmp_path):
    recording = tmp_path / "rec.jsonl"
    recording.write_text('{"Header": {"schema": 1, "ts": 0, "config": {"SYMBOLS": "BTCUSDT"}}}\n')
    result = run_cli(tmp_path, "replay", str(recording), "--set", "MR_WINDWO=5")
    assert_one_line_naming(result, "MR_WINDWO", "unknown key, did you mean MR_WINDOW?")


def test_environment_near_miss_is_a_warning_not_an_error():
    cfg = load_config(None, {"SYMBOLS": "BTCUSDT", "MAX_NOTIONL": "5", "PATH": "/bin", "MAX_QPS": "3"})
    assert cfg.max_notional == 1000.0 and cfg.max_qps == 3.0
    assert cfg.warnings == ("environment variable MAX_NOTIONL is not a key: did you mean MAX_NOTIONAL?",)


def test_unknown_key_without_a_close_one_says_so(tmp_path):
    path = tmp_path / "x.env"
    path.write_text("SYMBOLS=BTCUSDT\nCOMPLETELY_DIFFERENT=1\n")
    with pytest.raises(ConfigError, match=r"^COMPLETELY_DIFFERENT: unknown key$"):
        load_config(path, {})


@pytest.mark.parametrize("env, message", [
    ({"MR_COOLDOWN_MS": "86400001"}, "MR_COOLDOWN_MS='86400001' is not valid"),
    ({"MR_EDGE_BPS": "10001"}, "MR_EDGE_BPS='10001' is not valid"),
    ({"ORDER_QTY": "1e-300"}, "ORDER_QTY='1e-300' is not valid"),
    ({"MOCK_TICK_SIZE": "1e-300"}, "MOCK_TICK_SIZE='1e-300' is not valid"),
    ({"MOCK_START_PRICES": "1e300"}, "MOCK_START_PRICES='1e300' is not valid"),
    ({"MOCK_VENUES": "a:1e300:1"}, "MOCK_VENUES='a:1e300:1' is not valid"),
    ({"MOCK_SEED": "-1"}, "MOCK_SEED='-1' is not valid"),
    ({"METRICS_PORT": "+80"}, "METRICS_PORT='+80' is not valid"),
])
def test_numbers_have_ranges(env, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, dict(env, SYMBOLS="BTCUSDT"))
    assert message in str(err.value)


def test_plain_decimal_forms_are_accepted():
    cfg = load_config(None, {"SYMBOLS": "BTCUSDT", "MAX_QPS": " 2.5e1 ", "MR_EDGE_BPS": ".5", "PX_MIN": "0",
                             "ORDER_QTY": "1.", "MR_WINDOW": "007"})
    assert (cfg.max_qps, cfg.mr_edge_bps, cfg.px_min, cfg.order_qty, cfg.mr_window) == (25.0, 0.5, 0.0, 1.0, 7)


def test_environment_near_miss_is_logged_and_the_engine_runs(tmp_path, free_port):
    from tests.helpers.processes import EngineProcess

    engine = EngineProcess(tmp_path, free_port, {"SYMBOLS": "BTCUSDT", "MAX_NOTIONL": "5", "MOCK_TICK_HZ": "10"})
    try:
        engine.wait(lambda m: m.get("ticks_total", 0) > 0, "ticks")
        log = engine.stop()
    finally:
        engine.kill()
    warning = [line for line in log.splitlines() if "MAX_NOTIONL" in line]
    assert len(warning) == 1 and " WARNING dmabot.config environment variable MAX_NOTIONL is not a key: did you " \
                                 "mean MAX_NOTIONAL?" in warning[0]
    assert "max_notional=1000 " in log

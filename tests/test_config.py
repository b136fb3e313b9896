import pytest

from dmabot.config import ConfigError, Mode, StrategyName, load_config


def write(tmp_path, text):
    path = tmp_path / "x.env"
    path.write_text(text)
    return path


def test_defaults_and_fallback_keys():
    cfg = load_config(None, {"SYMBOL": " btcusdt ", "STRATEGY": "mr", "RUST_LOG": "dmabot=debug"})
    assert cfg.symbols == ("BTCUSDT",)
    assert cfg.strategies == (StrategyName.MEAN_REVERSION,)
    assert cfg.log_level == "DEBUG"
    assert cfg.feed_mode is Mode.MOCK and cfg.strategy_workers == 2
    assert cfg.record_file == ""


def test_environment_wins_over_the_file(tmp_path):
    path = write(tmp_path, "SYMBOLS=BTCUSDT, ETHUSDT\nMAX_QPS=3\nSTRATEGIES=ma_crossover,vol_breakout\n")
    cfg = load_config(path, {"MAX_QPS": "7"})
    assert cfg.symbols == ("BTCUSDT", "ETHUSDT")
    assert cfg.max_qps == 7.0
    assert cfg.strategies == (StrategyName.MA_CROSSOVER, StrategyName.VOL_BREAKOUT)


def test_symbols_wins_over_symbol():
    assert load_config(None, {"SYMBOLS": "ETHUSDT", "SYMBOL": "BTCUSDT"}).symbols == ("ETHUSDT",)


def test_mock_preset_loads():
    cfg = load_config("presets/mock.env", {})
    assert cfg.symbols == ("BTCUSDT", "ETHUSDT", "SOLUSDT")
    assert cfg.mock_venues[0].name == "fastex"


@pytest.mark.parametrize("preset, mode", [("mock", Mode.MOCK), ("sandbox", Mode.BINANCE_SANDBOX),
                                          ("mainnet", Mode.BINANCE_MAINNET)])
def test_every_preset_loads_and_every_key_is_known_and_commented(preset, mode):
    from pathlib import Path

    from dmabot.config import KEY_BY_NAME
    path = Path(__file__).resolve().parents[1] / "presets" / f"{preset}.env"
    assert load_config(path, {}).feed_mode is mode
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith("#"):
            key = line.split("=", 1)[0]
            assert key in KEY_BY_NAME, key
            j = i - 1          # a key sits in a block of keys that a comment introduces
            while j >= 0 and lines[j] and not lines[j].startswith("#"):
                j -= 1
            assert j >= 0 and lines[j].startswith("#"), f"{key} has no comment"


@pytest.mark.parametrize("env, message", [
    ({"SYMBOLS": "BTCUSDT", "MAX_QPS": "0"}, "MAX_QPS='0' is not valid: expected a finite number > 0"),
    ({"SYMBOLS": "BTCUSDT", "MAX_NOTIONAL": "nan"}, "MAX_NOTIONAL='nan' is not valid"),
    ({"SYMBOLS": "BTCUSDT", "STRATEGY_WORKERS": "two"},
     "STRATEGY_WORKERS='two' is not valid: expected an integer >= 1"),
    ({"SYMBOLS": "BTC-USDT"}, "SYMBOLS='BTC-USDT' is not valid"),
    ({"SYMBOLS": "BTCUSDT,BTCUSDT"}, "symbols are listed twice"),
    ({"SYMBOLS": "BTCUSDT", "FEED_MODE": "live"},
     "FEED_MODE='live' is not valid: expected one of mock, binance_sandbox, binance_mainnet"),
    ({"SYMBOLS": "BTCUSDT", "STRATEGIES": "momentum"}, "STRATEGIES='momentum' is not valid"),
    ({"SYMBOLS": "BTCUSDT", "LOG_LEVEL": "loud"}, "LOG_LEVEL='loud' is not valid"),
    ({"SYMBOLS": "BTCUSDT", "PX_MIN": "10", "PX_MAX": "5"}, "PX_MIN=10 must be below PX_MAX=5"),
    ({"SYMBOLS": "BTCUSDT", "MA_FAST": "50", "MA_SLOW": "40"}, "MA_FAST=50 must be below MA_SLOW=40"),
    ({"SYMBOLS": "BTCUSDT", "MOCK_VENUES": "a:1:2,a:3:4"}, "each name once"),
    ({"SYMBOLS": "BTCUSDT", "MOCK_TICK_SIZE": "0.03"}, "MOCK_TICK_SIZE='0.03' is not valid"),
    ({"SYMBOLS": "BTCUSDT", "RING_CAPACITY": "1000"}, "RING_CAPACITY='1000' is not valid: expected a power of two"),
    ({"SYMBOLS": "BTCUSDT,ETHUSDT", "MOCK_START_PRICES": "1"}, "MOCK_START_PRICES has 1 prices for 2 SYMBOLS"),
    ({"SYMBOLS": "BTCUSDT", "ROUTER_SPLIT": "3"}, "ROUTER_SPLIT=3 exceeds the 2 MOCK_VENUES"),
    ({"MAX_QPS": "1"}, "SYMBOLS is required"),
    ({"SYMBOLS": "BTCUSDT", "BINANCE_FEE_BPS": "lots"},
     "BINANCE_FEE_BPS='lots' is not valid: expected a finite number"),
    ({"SYMBOLS": "BTCUSDT", "BINANCE_LATENCY_MS": "-1"},
     "BINANCE_LATENCY_MS='-1' is not valid: expected a finite number >= 0"),
])
def test_bad_values_name_the_key(env, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, env)
    assert message in str(err.value)


def test_missing_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.env", {})


def test_secrets_are_masked_in_summary_and_errors():
    secret = "s3cr3t-VALUE-xyz"
    cfg = load_config(None, {"SYMBOLS": "BTCUSDT", "BINANCE_API_SECRET": secret, "BINANCE_API_KEY": "k3y-abc"})
    line = cfg.summary()
    assert line.startswith("startup config feed_mode=mock venue_mode=mock symbols=[BTCUSDT] ")
    assert "workers_per_strategy=2" in line
    assert secret not in line and "k3y-abc" not in line
    assert "binance_api_secret=<set>" in line
    assert secret not in repr(cfg) and secret not in str(cfg)


def test_every_key_is_documented_in_the_readme():
    from pathlib import Path

    from dmabot.config import KEYS
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [k.name for k in KEYS if f"`{k.name}`" not in readme]
    assert not missing


def test_router_costs_of_the_binance_venue_are_keys():
    from dmabot.config import MockVenue
    from dmabot.engine import venue_specs

    live = {"SYMBOLS": "BTCUSDT", "VENUE_MODE": "binance_sandbox", "BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s"}
    assert venue_specs(load_config(None, live)) == (MockVenue("binance", 50.0, 10.0),)
    tuned = load_config(None, dict(live, BINANCE_FEE_BPS="7.5", BINANCE_LATENCY_MS="3"))
    assert venue_specs(tuned) == (MockVenue("binance", 3.0, 7.5),)

import pytest

from dmabot.app.config import ConfigError, StrategyName, VenueMode, load_config
from tests.helpers.paths import REPO_ROOT


def write(tmp_path, text):
    path = tmp_path / "x.env"
    path.write_text(text)
    return path


def test_defaults_and_fallback_keys():
    cfg = load_config(None, {"SYMBOL": " btcusdt ", "STRATEGY": "mr", "RUST_LOG": "dmabot=debug"})
    assert cfg.symbols == ("BTCUSDT",)
    assert cfg.strategies == (StrategyName.MEAN_REVERSION,)
    assert cfg.log_level == "DEBUG"
    assert cfg.feed_mode is VenueMode.MOCK and cfg.strategy_workers == 2
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
    assert cfg.mock.venues[0].name == "fastex"


@pytest.mark.parametrize("preset, mode", [("mock", VenueMode.MOCK), ("sandbox", VenueMode.BINANCE_SANDBOX),
                                          ("mainnet", VenueMode.BINANCE_MAINNET)])
def test_every_preset_loads_and_every_key_is_known_and_commented(preset, mode):

    from dmabot.app.config import KEY_BY_NAME
    path = REPO_ROOT / "presets" / f"{preset}.env"
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
     "FEED_MODE='live' is not valid: expected one of mock, binance, binance_sandbox, binance_mainnet"),
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

    from dmabot.app.config import KEYS
    readme = (REPO_ROOT / "README.md").read_text()
    missing = [k.name for k in KEYS if f"`{k.name}`" not in readme]
    assert not missing


def test_router_costs_of_the_binance_venue_are_keys():
    from dmabot.app.engine import venue_specs
    from dmabot.venues.base import VenueSpec

    live = {"SYMBOLS": "BTCUSDT", "VENUE_MODE": "binance_sandbox", "BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s"}
    assert venue_specs(load_config(None, live)) == (VenueSpec("binance", 50.0, 10.0),)
    tuned = load_config(None, dict(live, BINANCE_FEE_BPS="7.5", BINANCE_LATENCY_MS="3"))
    assert venue_specs(tuned) == (VenueSpec("binance", 3.0, 7.5),)


# -- BINANCE_PRIVATE_KEY_FILE: an Ed25519 key instead of the HMAC secret ----------------------------

# RFC 8032 section 7.1 TEST 2 (a public test key) as a PKCS#8 PEM
ED25519_PEM = (b"-----BEGIN PRIVATE KEY-----\n"
               b"MC4CAQAwBQYDK2VwBCIEIEzNCJso/5banbbDRuwRTg9bijGfNaumJNqM9u1PuKb7\n"
               b"-----END PRIVATE KEY-----\n")
LIVE = {"SYMBOLS": "BTCUSDT", "VENUE_MODE": "binance_sandbox", "BINANCE_API_KEY": "k3y"}


def credentials_of(tmp_path, pem: bytes | None, **env: str):
    from dmabot.venues.binance.venue import binance_credentials

    path = tmp_path / "ed25519.pem"
    if pem is not None:
        path.write_bytes(pem)
    return binance_credentials(load_config(None, dict(LIVE, BINANCE_PRIVATE_KEY_FILE=str(path), **env)).binance)


def test_private_key_file_signs_with_ed25519(tmp_path):
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from dmabot.venues.binance.protocol.signing import KeyType
    creds = credentials_of(tmp_path, ED25519_PEM)
    assert creds.key_type is KeyType.ED25519 and creds.api_key == "k3y"
    public = Ed25519PublicKey.from_public_bytes(
        bytes.fromhex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"))
    public.verify(base64.b64decode(creds.sign(b"\x72")), b"\x72")     # raises if it is not that key


def test_secret_and_private_key_file_together_name_both():
    with pytest.raises(ConfigError, match="^BINANCE_API_SECRET and BINANCE_PRIVATE_KEY_FILE are both set"):
        load_config(None, dict(LIVE, BINANCE_API_SECRET="s", BINANCE_PRIVATE_KEY_FILE="key.pem"))
    with pytest.raises(ConfigError, match=r"^BINANCE_API_SECRET \(HMAC\) or BINANCE_PRIVATE_KEY_FILE \(Ed25519\) is "
                                          "required with VENUE_MODE=binance_sandbox"):
        load_config(None, LIVE)


@pytest.mark.parametrize("pem, message", [
    (None, "cannot be read: No such file or directory"),
    (b"-----BEGIN PRIVATE KEY-----\nnot-base64-at-all s3cr3t\n-----END PRIVATE KEY-----\n",
     "is not valid: the Ed25519 private key could not be loaded (expected a PKCS#8 PEM)"),
    (b"the HMAC s3cr3t pasted into the key file", "could not be loaded"),
    ("ec", "is not valid: expected an Ed25519 private key, got"),
])
def test_bad_private_key_file_names_the_key_not_the_contents(tmp_path, pem, message):
    if pem == "ec":
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(ConfigError) as err:
        credentials_of(tmp_path, pem)
    text = str(err.value)
    assert text.startswith(f"BINANCE_PRIVATE_KEY_FILE='{tmp_path / 'ed25519.pem'}' ") and message in text
    assert "s3cr3t" not in text and "PRIVATE KEY" not in text and "MC4C" not in text
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_private_key_file_without_cryptography_names_the_key(tmp_path, monkeypatch):
    import sys

    # None in sys.modules makes the import fail, as on a machine without the `ed25519` extra
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric.ed25519", None)
    with pytest.raises(ConfigError, match="^BINANCE_PRIVATE_KEY_FILE=.* is not valid: Ed25519 keys need the "
                                          "'cryptography' package"):
        credentials_of(tmp_path, ED25519_PEM)


# -- BINANCE_ENV: the environment is a field of the Binance settings ---------------------------------
KEYS_ONLY = {"SYMBOLS": "BTCUSDT", "BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s"}


@pytest.mark.parametrize("env, ws, rest, ws_api", [
    ("testnet", "wss://stream.testnet.binance.vision/ws", "https://testnet.binance.vision",
     "wss://ws-api.testnet.binance.vision/ws-api/v3"),
    ("demo", "wss://demo-stream.binance.com:9443/ws", "https://demo-api.binance.com",
     "wss://demo-ws-api.binance.com/ws-api/v3"),
])
def test_binance_env_chooses_the_default_urls(env, ws, rest, ws_api):
    from dmabot.venues.binance.config import BinanceEnv

    cfg = load_config(None, dict(KEYS_ONLY, FEED_MODE="binance", VENUE_MODE="binance", BINANCE_ENV=env))
    assert cfg.binance.env is BinanceEnv(env)
    assert (cfg.binance.ws_url, cfg.binance.rest_url, cfg.binance.ws_api_url) == (ws, rest, ws_api)


def test_binance_mode_with_mainnet_env_has_the_mainnet_checks():
    risk = {"MAX_NOTIONAL": "100", "PX_MIN": "1", "PX_MAX": "200000", "MAX_QPS": "1"}
    live = dict(KEYS_ONLY, VENUE_MODE="binance", BINANCE_ENV="mainnet")
    with pytest.raises(ConfigError, match=r"^VENUE_MODE=binance \(BINANCE_ENV=mainnet\) sends real orders: set "
                                          "CONFIRM_MAINNET=yes"):
        load_config(None, dict(live, **risk))
    with pytest.raises(ConfigError, match="^MAX_QPS must be given explicitly"):
        load_config(None, dict(live, CONFIRM_MAINNET="yes", **{k: v for k, v in risk.items() if k != "MAX_QPS"}))
    assert load_config(None, dict(live, CONFIRM_MAINNET="yes", **risk)).binance.rest_url == "https://api.binance.com"


def test_older_modes_keep_their_environments_and_refuse_another():
    cfg = load_config(None, dict(KEYS_ONLY, FEED_MODE="binance_mainnet", VENUE_MODE="binance_sandbox"))
    assert cfg.binance.ws_url == "wss://stream.binance.com:9443/ws"
    assert cfg.binance.rest_url == "https://testnet.binance.vision"
    with pytest.raises(ConfigError, match="^FEED_MODE=binance_mainnet is Binance's mainnet but BINANCE_ENV=demo"):
        load_config(None, dict(KEYS_ONLY, FEED_MODE="binance_mainnet", BINANCE_ENV="demo"))


def test_the_readme_table_gives_each_key_its_default():
    import re

    from dmabot.app.config import KEY_BY_NAME
    readme = (REPO_ROOT / "README.md").read_text()
    table = readme[readme.index("| key | default | meaning |"):readme.index("## Metrics")]
    checked = 0
    for row in table.splitlines()[2:]:
        if not row.startswith("| `"):
            continue
        names_cell, default_cell = row.split(" | ")[:2]
        names = re.findall(r"`([A-Z0-9_]+)`", names_cell)
        defaults = re.findall(r"`([^`]*)`", default_cell)
        if len(defaults) != len(names):     # "required", "empty", "by environment": a word, not values
            continue
        for name, default in zip(names, defaults):
            assert KEY_BY_NAME[name].default == default, name
            checked += 1
    assert checked > 30

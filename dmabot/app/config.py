"""Configuration: an env file (python-dotenv) under the process environment.

Every key is declared once in `KEYS` with its parser, default and meaning; `load_config`
parses them all and raises `ConfigError` naming the first bad key, its value and what is
allowed. `Config.summary()` is the one startup log line, secrets masked.
"""
from __future__ import annotations

import enum
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from dotenv import dotenv_values


class ConfigError(ValueError):
    """A configuration value the engine cannot start with; the message names the key."""


class Mode(enum.Enum):
    MOCK = "mock"
    BINANCE_SANDBOX = "binance_sandbox"
    BINANCE_MAINNET = "binance_mainnet"


class StrategyName(enum.Enum):
    MEAN_REVERSION = "mean_reversion"
    MA_CROSSOVER = "ma_crossover"
    VOL_BREAKOUT = "vol_breakout"


# Spellings accepted for STRATEGY/STRATEGIES besides the canonical names.
STRATEGY_ALIASES = {
    "mr": StrategyName.MEAN_REVERSION, "meanrev": StrategyName.MEAN_REVERSION,
    "mean-reversion": StrategyName.MEAN_REVERSION,
    "ma": StrategyName.MA_CROSSOVER, "ma_cross": StrategyName.MA_CROSSOVER,
    "ma-crossover": StrategyName.MA_CROSSOVER, "sma_cross": StrategyName.MA_CROSSOVER,
    "vb": StrategyName.VOL_BREAKOUT, "breakout": StrategyName.VOL_BREAKOUT,
    "vol-breakout": StrategyName.VOL_BREAKOUT,
}

LOG_LEVELS = {"trace": "DEBUG", "debug": "DEBUG", "info": "INFO", "warn": "WARNING",
              "warning": "WARNING", "error": "ERROR", "off": "CRITICAL"}


@dataclass(frozen=True)
class MockVenue:
    name: str
    latency_ms: float
    fee_bps: float


# -- value parsers: each takes the raw string and returns the value or raises ValueError
#    with a description of what is allowed --------------------------------------------
def _number(lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value)
        if ok and lo is not None:
            ok = value > lo if lo_open else value >= lo
        if ok and hi is not None:
            ok = value <= hi
        if not ok:
            bound = ""
            if lo is not None:
                bound = f" {'>' if lo_open else '>='} {lo:g}"
            if hi is not None:
                bound += f"{' and' if bound else ''} <= {hi:g}"
            raise ValueError(f"expected a finite number{bound}")
        return value
    return parse


def _integer(lo: int, hi: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw, 10)
        except ValueError:
            value = None
        if value is None or value < lo or (hi is not None and value > hi):
            raise ValueError(f"expected an integer >= {lo}" + (f" and <= {hi}" if hi is not None else ""))
        return value
    return parse


def _mode(raw: str) -> Mode:
    try:
        return Mode(raw.strip().lower())
    except ValueError:
        raise ValueError("expected one of " + ", ".join(m.value for m in Mode)) from None


def _symbols(raw: str) -> tuple[str, ...]:
    names = [s.strip().upper() for s in raw.split(",") if s.strip()]
    if not names:
        raise ValueError("expected a comma list of symbols such as BTCUSDT,ETHUSDT")
    for name in names:
        if not (name.isalnum() and name.isascii()) or len(name) > 20:
            raise ValueError(f"symbol {name!r} is not 1-20 letters and digits")
    if len(set(names)) != len(names):
        raise ValueError("symbols are listed twice")
    return tuple(names)


def _strategies(raw: str) -> tuple[StrategyName, ...]:
    if raw.strip().lower() == "all":
        return tuple(StrategyName)
    out: list[StrategyName] = []
    for item in (s.strip().lower() for s in raw.split(",") if s.strip()):
        try:
            name = STRATEGY_ALIASES.get(item) or StrategyName(item)
        except ValueError:
            raise ValueError("expected a comma list of " + ", ".join(s.value for s in StrategyName)
                             + " (or all)") from None
        if name not in out:
            out.append(name)
    if not out:
        raise ValueError("expected at least one strategy")
    return tuple(out)


def _log_level(raw: str) -> str:
    # RUST_LOG style: "info" or "dmabot=debug,other=warn"; the first level found wins
    for part in raw.split(","):
        level = part.rsplit("=", 1)[-1].strip().lower()
        if level in LOG_LEVELS:
            return LOG_LEVELS[level]
    raise ValueError("expected one of " + ", ".join(LOG_LEVELS))


def _prices(raw: str) -> tuple[float, ...]:
    parse = _number(0.0, lo_open=True)
    return tuple(parse(p.strip()) for p in raw.split(",") if p.strip())


def _venues(raw: str) -> tuple[MockVenue, ...]:
    venues = []
    for item in (s.strip() for s in raw.split(",") if s.strip()):
        parts = item.split(":")
        if len(parts) != 3 or not parts[0].isidentifier():
            raise ValueError("expected name:latency_ms:fee_bps items, e.g. fastex:2:7.5,slowex:20:1")
        latency = _number(0.0)(parts[1])
        fee = _number(-100.0, 1000.0)(parts[2])
        venues.append(MockVenue(parts[0], latency, fee))
    if not venues or len({v.name for v in venues}) != len(venues):
        raise ValueError("expected at least one venue, each name once")
    return tuple(venues)


def _tick_size(raw: str) -> float:
    value = _number(0.0, 1.0, lo_open=True)(raw)
    if abs(1 / value - round(1 / value)) > 1e-9 * (1 / value):
        raise ValueError("expected 1/k for an integer k, such as 0.01 or 0.001")
    return value


def _power_of_two(raw: str) -> int:
    value = _integer(2, 1 << 24)(raw)
    if value & (value - 1):
        raise ValueError("expected a power of two between 2 and 16777216")
    return value


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError("expected one of " + ", ".join(allowed))
        return value
    return parse


def _text(raw: str) -> str:
    return raw.strip()


def _yes_no(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "yes", "true", "on"):
        return True
    if value in ("0", "no", "false", "off"):
        return False
    raise ValueError("expected yes or no")


@dataclass(frozen=True)
class Key:
    name: str
    parse: Callable[[str], Any]
    default: str | None
    doc: str
    secret: bool = False


KEYS: tuple[Key, ...] = (
    Key("FEED_MODE", _mode, "mock", "market data source: mock, binance_sandbox, binance_mainnet"),
    Key("VENUE_MODE", _mode, "mock", "where orders go: mock, binance_sandbox, binance_mainnet"),
    Key("SYMBOLS", _symbols, None, "comma list of symbols (SYMBOL is the fallback)"),
    Key("MAX_NOTIONAL", _number(0.0, lo_open=True), "1000", "risk: max px*qty of one order (quote currency)"),
    Key("PX_MIN", _number(0.0), "0.0001", "risk: lowest acceptable order price"),
    Key("PX_MAX", _number(0.0, lo_open=True), "1000000", "risk: highest acceptable order price"),
    Key("MAX_QPS", _number(0.0, lo_open=True), "5", "risk: orders (parent) per second, token bucket"),
    Key("STRATEGIES", _strategies, "all", "comma list of strategies or all (STRATEGY is an alias)"),
    Key("STRATEGY_WORKERS", _integer(1, 64), "2", "workers per strategy; symbols sharded by index"),
    Key("ORDER_QTY", _number(0.0, lo_open=True), "0.001", "order size in base units"),
    Key("MR_WINDOW", _integer(2, 1_000_000), "50", "mean reversion: ticks in the rolling mean"),
    Key("MR_EDGE_BPS", _number(0.0), "5", "mean reversion: distance from the mean to trade, bps"),
    Key("MR_COOLDOWN_MS", _number(0.0), "500", "mean reversion: min time between signals per symbol"),
    Key("MA_FAST", _integer(1, 1_000_000), "10", "MA crossover: fast SMA ticks"),
    Key("MA_SLOW", _integer(2, 1_000_000), "40", "MA crossover: slow SMA ticks (> MA_FAST)"),
    Key("MA_EDGE_BPS", _number(0.0), "1", "MA crossover: min fast-slow gap, bps of the slow SMA"),
    Key("MA_COOLDOWN_MS", _number(0.0), "500", "MA crossover: min time between signals per symbol"),
    Key("VB_WINDOW", _integer(2, 1_000_000), "100", "breakout: ticks in the rolling high/low"),
    Key("VB_EDGE_BPS", _number(0.0), "2", "breakout: distance beyond the high/low, bps"),
    Key("VB_COOLDOWN_MS", _number(0.0), "1000", "breakout: min time between signals per symbol"),
    Key("ROUTER_SPLIT", _integer(1, 16), "1", "venues an order is split across (best first)"),
    Key("ROUTER_LATENCY_BPS_PER_MS", _number(0.0), "0.5", "router: cost of a venue's latency, bps per ms"),
    Key("ROUTER_MISS_PENALTY_BPS", _number(0.0), "20",
        "router: cost of a venue's unfilled orders, bps at 0% fill rate"),
    Key("QTY_STEP", _number(0.0, lo_open=True), "0.00001", "lot size used when splitting orders"),
    Key("MOCK_SEED", _integer(0, 2**63 - 1), "42", "mock feed: random seed"),
    Key("MOCK_TICK_HZ", _number(0.0, 1_000_000.0), "200",
        "mock feed: ticks per second per symbol, 0 = as fast as possible"),
    Key("MOCK_START_PRICES", _prices, "", "mock feed: start mid per symbol (comma list; default by symbol)"),
    Key("MOCK_VOL_BPS", _number(0.0, 1000.0), "1", "mock feed: stdev of the mid per tick, bps"),
    Key("MOCK_TICK_SIZE", _tick_size, "0.01", "mock feed: price grid"),
    Key("MOCK_VENUES", _venues, "fastex:2:7.5,cheapex:25:1.0", "mock venues name:latency_ms:fee_bps, comma list"),
    Key("RING_CAPACITY", _power_of_two, "65536", "ticks the feed-to-strategy ring holds (power of two)"),
    Key("METRICS_HOST", _text, "0.0.0.0", "metrics HTTP bind address"),
    Key("METRICS_PORT", _integer(0, 65535), "9898", "metrics HTTP port, 0 = any free port"),
    Key("RECORD_FILE", _text, "", "JSONL recording path; empty = no recording"),
    Key("RECORD_FLUSH_MS", _number(1.0, 60_000.0), "200", "recorder flush interval"),
    Key("LOG_LEVEL", _log_level, "info", "error, warn, info, debug (RUST_LOG is an alias)"),
    Key("BINANCE_API_KEY", _text, "", "Binance API key", secret=True),
    Key("BINANCE_API_SECRET", _text, "", "Binance API secret (HMAC)", secret=True),
    Key("BINANCE_PRIVATE_KEY_FILE", _text, "", "Ed25519 private key (PKCS#8 PEM file) of BINANCE_API_KEY; "
        "signs instead of BINANCE_API_SECRET"),
    Key("BINANCE_WS_URL", _text, "", "Binance stream base URL ending in /ws (default: the FEED_MODE's host)"),
    Key("BINANCE_STREAM_FORM", _choice("combined", "raw"), "combined",
        "combined: one /stream?streams=... connection; raw: /ws/<stream> plus SUBSCRIBE"),
    Key("WS_STALE_S", _number(0.1, 3600.0), "5", "reconnect when the stream is silent this long"),
    Key("WS_BACKOFF_MAX_S", _number(0.1, 3600.0), "30", "longest wait between reconnect attempts"),
    Key("BINANCE_REST_URL", _text, "", "Binance REST base URL"),
    Key("BINANCE_WS_API_URL", _text, "", "Binance WebSocket API URL, for the user data stream "
        "(default: the VENUE_MODE's host; none: no user data stream)"),
    Key("BINANCE_CA_FILE", _text, "", "CA bundle to verify Binance (or the simulator) with"),
    Key("BINANCE_RECV_WINDOW", _integer(1, 60000), "5000", "recvWindow of signed requests, ms"),
    Key("CONFIRM_MAINNET", _yes_no, "no", "must be yes to trade on binance_mainnet"),
    Key("BINANCE_ORDER_RESP_TYPE", _choice("full", "result", "ack"), "full",
        "newOrderRespType: full (fills ride on the reply), result, or ack (fills from the user data stream)"),
    Key("BINANCE_ORDER_TYPE", _choice("limit_ioc", "limit_fok", "limit_gtc", "market"), "limit_ioc",
        "orders at the signal's price: limit_ioc, limit_fok, limit_gtc (rests until filled or cancelled), "
        "or market"),
    Key("ORDER_TRANSPORT", _choice("rest", "ws_api"), "rest",
        "how orders reach Binance: rest (POST /api/v3/order) or ws_api (order.place on BINANCE_WS_API_URL)"),
    Key("BINANCE_FEE_BPS", _number(-100.0, 1000.0), "10",
        "router: fee of the binance venue, bps (taker 0.1% without BNB)"),
    Key("BINANCE_LATENCY_MS", _number(0.0, 60_000.0), "50", "router: latency of the binance venue, ms"),
    Key("CANCEL_ON_EXIT", _yes_no, "yes", "at SIGINT/SIGTERM, cancel the open orders of every symbol on a "
        "live venue before exiting"),
)
KEY_BY_NAME = {k.name: k for k in KEYS}

# Keys read under another name when theirs is absent.
FALLBACKS = {"SYMBOLS": "SYMBOL", "STRATEGIES": "STRATEGY", "LOG_LEVEL": "RUST_LOG"}

# Stream hosts of SPOT_API.md section 1, by FEED_MODE.
DEFAULT_WS_URLS = {Mode.BINANCE_SANDBOX: "wss://stream.testnet.binance.vision/ws",
                   Mode.BINANCE_MAINNET: "wss://stream.binance.com:9443/ws"}

# REST hosts of SPOT_API.md section 1, by VENUE_MODE.
DEFAULT_REST_URLS = {Mode.BINANCE_SANDBOX: "https://testnet.binance.vision",
                     Mode.BINANCE_MAINNET: "https://api.binance.com"}
# WebSocket API hosts (user data, WS API orders) of SPOT_API.md section 1, by VENUE_MODE.
DEFAULT_WS_API_URLS = {Mode.BINANCE_SANDBOX: "wss://ws-api.testnet.binance.vision/ws-api/v3",
                       Mode.BINANCE_MAINNET: "wss://ws-api.binance.com:443/ws-api/v3"}
# Risk keys a mainnet run must state itself: the defaults are for paper trading.
MAINNET_REQUIRED = ("MAX_NOTIONAL", "PX_MIN", "PX_MAX", "MAX_QPS")

# Start prices for well-known symbols; others start at 100.
DEFAULT_START_PRICES = {"BTCUSDT": 60000.0, "ETHUSDT": 3000.0, "SOLUSDT": 150.0,
                        "BNBUSDT": 600.0, "XRPUSDT": 0.6, "DOGEUSDT": 0.15}


@dataclass(frozen=True)
class Config:
    values: Mapping[str, Any] = field(repr=False)
    source: str = ""
    raw: Mapping[str, str] = field(default_factory=dict, repr=False)   # holds secrets: no repr

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name.upper()]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def start_prices(self) -> tuple[float, ...]:
        given = self.values["MOCK_START_PRICES"]
        if given:
            return given
        return tuple(DEFAULT_START_PRICES.get(s, 100.0) for s in self.values["SYMBOLS"])

    def summary(self) -> str:
        """The startup line: effective configuration, secrets masked."""
        v = self.values
        parts = [
            f"feed_mode={v['FEED_MODE'].value}", f"venue_mode={v['VENUE_MODE'].value}",
            f"symbols=[{','.join(v['SYMBOLS'])}]",
            f"strategies=[{','.join(s.value for s in v['STRATEGIES'])}]",
            f"workers_per_strategy={v['STRATEGY_WORKERS']}",
        ]
        shown = {"FEED_MODE", "VENUE_MODE", "SYMBOLS", "STRATEGIES", "STRATEGY_WORKERS"}
        for key in KEYS:
            if key.name in shown:
                continue
            value = v[key.name]
            if key.secret:
                text = mask(value)
            elif isinstance(value, tuple):
                text = "[" + ",".join(_short(x) for x in value) + "]"
            else:
                text = _short(value)
            parts.append(f"{key.name.lower()}={text}")
        return "startup config " + " ".join(parts)


def _short(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, MockVenue):
        return f"{value.name}:{value.latency_ms:g}ms:{value.fee_bps:g}bps"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if value != "" else '""'


def mask(secret: str) -> str:
    """Show whether a secret is set, never any of its characters."""
    return "<unset>" if not secret else "<set>"


def load_config(env_file: str | os.PathLike | None = None,
                environ: Mapping[str, str] | None = None) -> Config:
    """Read `env_file` (default `.env` in the working directory, if present); variables of
    `environ` (default the process environment) win over the file."""
    environ = os.environ if environ is None else environ
    raw: dict[str, str] = {}
    source = ""
    if env_file is not None or Path(".env").is_file():
        path = Path(env_file if env_file is not None else ".env")
        if not path.is_file():
            raise ConfigError(f"config file {str(path)!r} not found")
        source = str(path)
        raw.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    raw.update({k: v for k, v in environ.items() if k in KEY_BY_NAME or k in FALLBACKS.values()})
    return parse_config(raw, source)


def parse_config(raw: Mapping[str, str], source: str = "") -> Config:
    """Parse and check every key of `raw` (names as in an env file); unknown names are ignored."""
    values: dict[str, Any] = {}
    for key in KEYS:
        name = key.name
        if name not in raw and FALLBACKS.get(name) in raw:
            name = FALLBACKS[name]
        text = raw.get(name, "")
        if text.strip() == "":
            if key.default is None:
                raise ConfigError(f"{key.name} is required: {key.doc}")
            text = key.default
        try:
            values[key.name] = key.parse(text)
        except ValueError as exc:
            shown = mask(text) if key.secret else repr(text)
            raise ConfigError(f"{name}={shown} is not valid: {exc}") from None
    _check_together(values, raw)
    return Config(values=values, source=source, raw=dict(raw))


def _check_together(v: dict[str, Any], raw: Mapping[str, str]) -> None:
    """Rules that involve several keys."""
    if v["BINANCE_API_SECRET"] and v["BINANCE_PRIVATE_KEY_FILE"]:
        raise ConfigError("BINANCE_API_SECRET and BINANCE_PRIVATE_KEY_FILE are both set: an API key signs with "
                          "one of them (an HMAC secret or an Ed25519 private key); unset the other")
    if v["PX_MIN"] >= v["PX_MAX"]:
        raise ConfigError(f"PX_MIN={v['PX_MIN']:g} must be below PX_MAX={v['PX_MAX']:g}")
    if v["MA_FAST"] >= v["MA_SLOW"]:
        raise ConfigError(f"MA_FAST={v['MA_FAST']} must be below MA_SLOW={v['MA_SLOW']}")
    prices = v["MOCK_START_PRICES"]
    if prices and len(prices) != len(v["SYMBOLS"]):
        raise ConfigError(f"MOCK_START_PRICES has {len(prices)} prices for {len(v['SYMBOLS'])} SYMBOLS")
    if v["ROUTER_SPLIT"] > len(v["MOCK_VENUES"]) and v["VENUE_MODE"] is Mode.MOCK:
        raise ConfigError(f"ROUTER_SPLIT={v['ROUTER_SPLIT']} exceeds the {len(v['MOCK_VENUES'])} MOCK_VENUES")
    if v["VENUE_MODE"] is not Mode.MOCK:
        _check_binance_venue(v, raw)
    if v["FEED_MODE"] is not Mode.MOCK:
        if not v["BINANCE_WS_URL"]:
            v["BINANCE_WS_URL"] = DEFAULT_WS_URLS[v["FEED_MODE"]]
        url = v["BINANCE_WS_URL"]
        if not (url.startswith(("wss://", "ws://")) and url.rstrip("/").endswith("/ws")):
            raise ConfigError(f"BINANCE_WS_URL={url!r} is not valid: expected the stream base, "
                              "wss://HOST[:PORT]/ws")
        if v["BINANCE_CA_FILE"] and not Path(v["BINANCE_CA_FILE"]).is_file():
            raise ConfigError(f"BINANCE_CA_FILE={v['BINANCE_CA_FILE']!r} is not valid: no such file")


def _check_binance_venue(v: dict[str, Any], raw: Mapping[str, str]) -> None:
    """VENUE_MODE=binance_*: keys, the REST URL, and for mainnet an explicit confirmation."""
    mode = v["VENUE_MODE"]
    if mode is Mode.BINANCE_MAINNET:
        if not v["CONFIRM_MAINNET"]:
            raise ConfigError("VENUE_MODE=binance_mainnet sends real orders: set CONFIRM_MAINNET=yes to confirm")
        for name in MAINNET_REQUIRED:
            if not raw.get(name, "").strip():
                raise ConfigError(f"{name} must be given explicitly with VENUE_MODE=binance_mainnet "
                                  "(its default is for paper trading)")
    if not v["BINANCE_API_KEY"]:
        raise ConfigError(f"BINANCE_API_KEY is required with VENUE_MODE={mode.value}")
    if not (v["BINANCE_API_SECRET"] or v["BINANCE_PRIVATE_KEY_FILE"]):
        raise ConfigError(f"BINANCE_API_SECRET (HMAC) or BINANCE_PRIVATE_KEY_FILE (Ed25519) is required with "
                          f"VENUE_MODE={mode.value}")
    if not v["BINANCE_REST_URL"]:
        v["BINANCE_REST_URL"] = DEFAULT_REST_URLS[mode]
    if not v["BINANCE_WS_API_URL"]:
        v["BINANCE_WS_API_URL"] = DEFAULT_WS_API_URLS[mode]
    if v["BINANCE_WS_API_URL"].lower() == "none":
        if v["ORDER_TRANSPORT"] == "ws_api":
            raise ConfigError("BINANCE_WS_API_URL=none leaves ORDER_TRANSPORT=ws_api no connection to send on")
        v["BINANCE_WS_API_URL"] = ""      # no user data stream: fills come from REST replies only
    elif not v["BINANCE_WS_API_URL"].startswith(("wss://", "ws://")):
        raise ConfigError(f"BINANCE_WS_API_URL={v['BINANCE_WS_API_URL']!r} is not valid: expected "
                          "wss://HOST[:PORT]/ws-api/v3")
    url = v["BINANCE_REST_URL"]
    if not url.startswith(("https://", "http://")) or url.split("://", 1)[1].strip("/").count("/"):
        raise ConfigError(f"BINANCE_REST_URL={url!r} is not valid: expected the REST base, https://HOST[:PORT]")
    if v["BINANCE_CA_FILE"] and not Path(v["BINANCE_CA_FILE"]).is_file():
        raise ConfigError(f"BINANCE_CA_FILE={v['BINANCE_CA_FILE']!r} is not valid: no such file")

"""Configuration: an env file (python-dotenv) under the process environment.

Every key is declared once, with its parser, default and meaning: the engine's here, each
venue's in its package (`MOCK_KEYS`, `BINANCE_KEYS`); `KEYS` is their one table. `load_config`
refuses a key it does not know, parses them all into frozen, typed sections (`Config`, with
`Config.mock` and `Config.binance`) and raises `ConfigError` naming the first bad key, its
value and what is allowed. `Config.summary()` is the one startup log line, secrets masked.
"""
from __future__ import annotations

import difflib
import enum
import io
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable, Mapping

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from dmabot.venues.base import VenueSpec
from dmabot.venues.binance.config import BINANCE_KEYS, BinanceSettings, binance_settings
from dmabot.venues.keys import ConfigError, Key, build_section, integer, number, text, yes_no
from dmabot.venues.mock.settings import MOCK_KEYS, MockSettings

__all__ = ["KEYS", "KEY_BY_NAME", "Config", "ConfigError", "StrategyName", "VenueMode", "load_config",
           "parse_config"]


class VenueMode(enum.Enum):
    """A FEED_MODE/VENUE_MODE value: the venue package it selects (`venue`). Binance's
    environment is BINANCE_ENV's with `binance`; the two older values name it themselves."""
    MOCK = "mock"
    BINANCE = "binance"
    BINANCE_SANDBOX = "binance_sandbox"      # = binance with BINANCE_ENV=testnet
    BINANCE_MAINNET = "binance_mainnet"      # = binance with BINANCE_ENV=mainnet

    @property
    def venue(self) -> str:
        return "mock" if self is VenueMode.MOCK else "binance"


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


# -- the engine's value parsers (the generic ones are in dmabot.venues.keys) ------------------
def _mode(raw: str) -> VenueMode:
    try:
        return VenueMode(raw.strip().lower())
    except ValueError:
        raise ValueError("expected one of " + ", ".join(m.value for m in VenueMode)) from None


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


def _power_of_two(raw: str) -> int:
    value = integer(2, 1 << 24)(raw)
    if value & (value - 1):
        raise ValueError("expected a power of two between 2 and 16777216")
    return value


BPS = 10_000.0          # edges and penalties: at most 100%
DAY_MS = 86_400_000.0   # cooldowns: at most a day
PRICE_MAX = 1e12

ENGINE_KEYS: tuple[Key, ...] = (
    Key("FEED_MODE", _mode, "mock", "market data source: mock, binance (BINANCE_ENV), binance_sandbox, "
        "binance_mainnet"),
    Key("VENUE_MODE", _mode, "mock", "where orders go: mock, binance (BINANCE_ENV), binance_sandbox, "
        "binance_mainnet"),
    Key("SYMBOLS", _symbols, None, "comma list of symbols (SYMBOL is the fallback)"),
    Key("MAX_NOTIONAL", number(0.0, PRICE_MAX, lo_open=True), "1000",
        "risk: max px*qty of one order (quote currency)"),
    Key("PX_MIN", number(0.0, PRICE_MAX), "0.0001", "risk: lowest acceptable order price"),
    Key("PX_MAX", number(0.0, PRICE_MAX, lo_open=True), "1000000", "risk: highest acceptable order price"),
    Key("MAX_QPS", number(0.0, 1_000_000.0, lo_open=True), "5", "risk: orders (parent) per second, token bucket"),
    Key("STRATEGIES", _strategies, "all", "comma list of strategies or all (STRATEGY is an alias)"),
    Key("STRATEGY_WORKERS", integer(1, 64), "2", "workers per strategy; symbols sharded by index"),
    Key("ORDER_QTY", number(1e-12, 1e9), "0.001", "order size in base units"),
    Key("MR_WINDOW", integer(2, 1_000_000), "50", "mean reversion: ticks in the rolling mean"),
    Key("MR_EDGE_BPS", number(0.0, BPS), "5", "mean reversion: distance from the mean to trade, bps"),
    Key("MR_COOLDOWN_MS", number(0.0, DAY_MS), "500", "mean reversion: min time between signals per symbol"),
    Key("MA_FAST", integer(1, 1_000_000), "10", "MA crossover: fast SMA ticks"),
    Key("MA_SLOW", integer(2, 1_000_000), "40", "MA crossover: slow SMA ticks (> MA_FAST)"),
    Key("MA_EDGE_BPS", number(0.0, BPS), "1", "MA crossover: min fast-slow gap, bps of the slow SMA"),
    Key("MA_COOLDOWN_MS", number(0.0, DAY_MS), "500", "MA crossover: min time between signals per symbol"),
    Key("VB_WINDOW", integer(2, 1_000_000), "100", "breakout: ticks in the rolling high/low"),
    Key("VB_EDGE_BPS", number(0.0, BPS), "2", "breakout: distance beyond the high/low, bps"),
    Key("VB_COOLDOWN_MS", number(0.0, DAY_MS), "1000", "breakout: min time between signals per symbol"),
    Key("ROUTER_SPLIT", integer(1, 16), "1", "venues an order is split across (best first)"),
    Key("ROUTER_LATENCY_BPS_PER_MS", number(0.0, BPS), "0.5", "router: cost of a venue's latency, bps per ms"),
    Key("ROUTER_MISS_PENALTY_BPS", number(0.0, BPS), "20",
        "router: cost of a venue's unfilled orders, bps at 0% fill rate"),
    Key("QTY_STEP", number(1e-12, 1e9), "0.00001", "lot size used when splitting orders"),
    Key("RING_CAPACITY", _power_of_two, "65536", "ticks the feed-to-strategy ring holds (power of two)"),
    Key("METRICS_HOST", text, "0.0.0.0", "metrics HTTP bind address"),
    Key("METRICS_PORT", integer(0, 65535), "9898", "metrics HTTP port, 0 = any free port"),
    Key("RECORD_FILE", text, "", "JSONL recording path; empty = no recording"),
    Key("RECORD_FLUSH_MS", number(1.0, 60_000.0), "200", "recorder flush interval"),
    Key("LOG_LEVEL", _log_level, "info", "error, warn, info, debug (RUST_LOG is an alias)"),
    Key("CANCEL_ON_EXIT", yes_no, "yes", "at SIGINT/SIGTERM, cancel the open orders of every symbol on a "
        "live venue before exiting"),
)
KEYS: tuple[Key, ...] = ENGINE_KEYS + MOCK_KEYS + BINANCE_KEYS
KEY_BY_NAME = {k.name: k for k in KEYS}

# Keys read under another name when theirs is absent.
FALLBACKS = {"SYMBOLS": "SYMBOL", "STRATEGIES": "STRATEGY", "LOG_LEVEL": "RUST_LOG"}
KNOWN_NAMES = frozenset(KEY_BY_NAME) | frozenset(FALLBACKS.values())
_MOCK_NAMES = frozenset(k.name for k in MOCK_KEYS)
_BINANCE_NAMES = frozenset(k.name for k in BINANCE_KEYS)


@dataclass(frozen=True)
class Config:
    """The engine's keys, typed; the venues' sections; where they came from."""
    feed_mode: VenueMode
    venue_mode: VenueMode
    symbols: tuple[str, ...]
    max_notional: float
    px_min: float
    px_max: float
    max_qps: float
    strategies: tuple[StrategyName, ...]
    strategy_workers: int
    order_qty: float
    mr_window: int
    mr_edge_bps: float
    mr_cooldown_ms: float
    ma_fast: int
    ma_slow: int
    ma_edge_bps: float
    ma_cooldown_ms: float
    vb_window: int
    vb_edge_bps: float
    vb_cooldown_ms: float
    router_split: int
    router_latency_bps_per_ms: float
    router_miss_penalty_bps: float
    qty_step: float
    ring_capacity: int
    metrics_host: str
    metrics_port: int
    record_file: str
    record_flush_ms: float
    log_level: str
    cancel_on_exit: bool
    mock: MockSettings
    binance: BinanceSettings
    source: str = ""
    raw: Mapping[str, str] = field(default_factory=dict, repr=False)   # holds secrets: no repr
    # lines for the log: process environment variables one edit away from a key
    warnings: tuple[str, ...] = ()

    def value_of(self, key: Key) -> Any:
        """The parsed (and, for URLs, resolved) value of `key`."""
        section: object = self
        if key.name in _MOCK_NAMES:
            section = self.mock
        elif key.name in _BINANCE_NAMES:
            section = self.binance
        return getattr(section, key.field)

    def summary(self) -> str:
        """The startup line: effective configuration, secrets masked."""
        parts = [
            f"feed_mode={self.feed_mode.value}", f"venue_mode={self.venue_mode.value}",
            f"symbols=[{','.join(self.symbols)}]",
            f"strategies=[{','.join(s.value for s in self.strategies)}]",
            f"workers_per_strategy={self.strategy_workers}",
        ]
        shown = {"FEED_MODE", "VENUE_MODE", "SYMBOLS", "STRATEGIES", "STRATEGY_WORKERS"}
        for key in KEYS:
            if key.name in shown:
                continue
            value = self.value_of(key)
            if key.secret:
                shown_value = mask(value)
            elif isinstance(value, tuple):
                shown_value = "[" + ",".join(_short(x) for x in value) + "]"
            else:
                shown_value = _short(value)
            parts.append(f"{key.name.lower()}={shown_value}")
        return "startup config " + " ".join(parts)


def _short(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, VenueSpec):
        return f"{value.name}:{value.latency_ms:g}ms:{value.fee_bps:g}bps"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value) if value != "" else '""'


def mask(secret: str) -> str:
    """Show whether a secret is set, never any of its characters."""
    return "<unset>" if not secret else "<set>"


# -- names: unknown keys are refused, near misses in the environment warned about -------------
def unknown_key(name: str) -> ConfigError:
    """`NAME: unknown key`, with the closest known key when one is close."""
    close = difflib.get_close_matches(name.upper(), sorted(KNOWN_NAMES), n=1, cutoff=0.6)
    return ConfigError(f"{name}: unknown key" + (f", did you mean {close[0]}?" if close else ""))


def check_names(names: Iterable[str]) -> None:
    """Raise `unknown_key` for the first of `names` that is not a key."""
    for name in names:
        if name not in KNOWN_NAMES:
            raise unknown_key(name)


def _one_edit(a: str, b: str) -> bool:
    """`a` and `b` differ by one insertion, deletion, substitution or swap of neighbours."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    i = 0
    while i < min(len(a), len(b)) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1:] == b[i + 1:] or (a[i + 2:] == b[i + 2:] and a[i] == b[i + 1] and a[i + 1] == b[i])
    longer, shorter = (a, b) if len(a) > len(b) else (b, a)
    return longer[i + 1:] == shorter[i:]


def environment_warnings(environ: Mapping[str, str]) -> tuple[str, ...]:
    """A line for each variable one edit away from a key that is not itself one: the process
    environment has many unrelated variables, so this warns rather than refuses."""
    out = []
    for name in sorted(environ):
        if name in KNOWN_NAMES:
            continue
        near = [k for k in sorted(KNOWN_NAMES) if _one_edit(name, k)]
        if near:
            out.append(f"environment variable {name} is not a key: did you mean {near[0]}?")
    return tuple(out)


# -- loading --------------------------------------------------------------------------------
def read_env_file(path: Path) -> dict[str, str]:
    """The keys of an env file, each name checked; one-line errors for a file that cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc.strerror}") from None
    try:
        content = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text (byte {exc.start})") from None
    for binding in parse_stream(io.StringIO(content)):
        if binding.error:
            raise ConfigError(f"config file {str(path)!r} line {binding.original.line} is not KEY=VALUE")
        if binding.key is not None and binding.key not in KNOWN_NAMES:
            raise unknown_key(binding.key)
    values = dotenv_values(stream=io.StringIO(content))
    return {k: v for k, v in values.items() if v is not None}


def load_config(env_file: str | os.PathLike[str] | None = None,
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
        raw.update(read_env_file(path))
    raw.update({k: v for k, v in environ.items() if k in KNOWN_NAMES})
    config = parse_config(raw, source)
    warnings = environment_warnings(environ)
    return replace(config, warnings=warnings) if warnings else config


def parse_config(raw: Mapping[str, str], source: str = "") -> Config:
    """Parse and check every key of `raw` (names as in an env file); an unknown name is refused."""
    check_names(raw)
    values: dict[str, Any] = {}
    for key in KEYS:
        name = key.name
        if name not in raw and FALLBACKS.get(name, "") in raw:
            name = FALLBACKS[name]
        given = raw.get(name, "")
        if given.strip() == "":
            if key.default is None:
                raise ConfigError(f"{key.name} is required: {key.doc}")
            given = key.default
        try:
            values[key.name] = key.parse(given)
        except ValueError as exc:
            shown = mask(given) if key.secret else repr(given)
            raise ConfigError(f"{name}={shown} is not valid: {exc}") from None
    _check_together(values)
    feed_mode: VenueMode = values["FEED_MODE"]
    venue_mode: VenueMode = values["VENUE_MODE"]
    binance = binance_settings(values, raw, feed_mode.value if feed_mode.venue == "binance" else None,
                               venue_mode.value if venue_mode.venue == "binance" else None)
    mock = build_section(MockSettings, MOCK_KEYS, values)
    return Config(**{k.field: values[k.name] for k in ENGINE_KEYS}, mock=mock, binance=binance,
                  source=source, raw=dict(raw))


def _check_together(v: dict[str, Any]) -> None:
    """Rules that involve several of the engine's keys (and the mock venues')."""
    if v["PX_MIN"] >= v["PX_MAX"]:
        raise ConfigError(f"PX_MIN={v['PX_MIN']:g} must be below PX_MAX={v['PX_MAX']:g}")
    if v["MA_FAST"] >= v["MA_SLOW"]:
        raise ConfigError(f"MA_FAST={v['MA_FAST']} must be below MA_SLOW={v['MA_SLOW']}")
    prices = v["MOCK_START_PRICES"]
    if prices and len(prices) != len(v["SYMBOLS"]):
        raise ConfigError(f"MOCK_START_PRICES has {len(prices)} prices for {len(v['SYMBOLS'])} SYMBOLS")
    if v["ROUTER_SPLIT"] > len(v["MOCK_VENUES"]) and v["VENUE_MODE"] is VenueMode.MOCK:
        raise ConfigError(f"ROUTER_SPLIT={v['ROUTER_SPLIT']} exceeds the {len(v['MOCK_VENUES'])} MOCK_VENUES")

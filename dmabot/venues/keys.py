"""Configuration keys: the declaration of one key, its value parsers, and `ConfigError`.

The engine's keys and each venue package's keys are declared with `Key`; `dmabot.app.config`
joins them into the one `KEYS` table and builds each section's frozen dataclass from it. This
module sits below the venues so that a venue package can declare its section, and raise
`ConfigError` naming a key when it starts, without importing the application.

Every parser takes the raw string and returns the value or raises ValueError saying what is
allowed. Numbers are plain ASCII decimals: `float()` and `int()` alone would also take
`inf`, `1_000` and non-ASCII digits such as `٢`.
"""
from __future__ import annotations

import math
import re
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from dmabot.io.url import parse_target


class ConfigError(ValueError):
    """A configuration value the engine cannot start with; the message names the key."""


class VenueUnreachable(RuntimeError):
    """A venue host that cannot be resolved at start; the message names the key. Not a
    configuration error: the same value may work a minute later (DNS down, no network yet).
    Names are resolved with a blocking lookup before the reactor runs, so it is not retried in
    the loop, where it would stall every other socket; the engine exits with its own status for
    a supervisor to restart it. A host that resolves but does not answer is retried with backoff."""


@dataclass(frozen=True)
class Key:
    """One key: its env name, parser, default (None: required), meaning, and the attribute of
    its section's dataclass that holds the parsed value (default: the name in lower case)."""
    name: str
    parse: Callable[[str], Any]
    default: str | None
    doc: str
    secret: bool = False
    attr: str = ""

    @property
    def field(self) -> str:
        return self.attr or self.name.lower()


Section = TypeVar("Section")


def build_section(cls: type[Section], keys: tuple[Key, ...], values: dict[str, Any]) -> Section:
    """The section dataclass `cls` from the parsed `values` of its `keys`."""
    return cls(**{key.field: values[key.name] for key in keys})


_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,4})?")
_DIGITS = re.compile(r"[0-9]{1,19}")


def number(lo: float, hi: float, lo_open: bool = False) -> Callable[[str], float]:
    """A finite decimal in [lo, hi] (or (lo, hi] when `lo_open`)."""
    def parse(raw: str) -> float:
        text = raw.strip()
        value = float(text) if _DECIMAL.fullmatch(text) else math.nan
        ok = math.isfinite(value) and (value > lo if lo_open else value >= lo) and value <= hi
        if not ok:
            raise ValueError(f"expected a finite number {'>' if lo_open else '>='} {lo:g} and <= {hi:g}")
        return value
    return parse


def integer(lo: int, hi: int) -> Callable[[str], int]:
    """ASCII digits, an integer in [lo, hi]."""
    def parse(raw: str) -> int:
        text = raw.strip()
        value = int(text) if _DIGITS.fullmatch(text) else None
        if value is None or value < lo or value > hi:
            raise ValueError(f"expected an integer >= {lo} and <= {hi}")
        return value
    return parse


def choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError("expected one of " + ", ".join(allowed))
        return value
    return parse


def text(raw: str) -> str:
    return raw.strip()


def yes_no(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "yes", "true", "on"):
        return True
    if value in ("0", "no", "false", "off"):
        return False
    raise ValueError("expected yes or no")


E = TypeVar("E")


def enum_choice(kind: Callable[[str], E], allowed: tuple[str, ...]) -> Callable[[str], E]:
    """One of `allowed` (case-insensitive), as the enum `kind`."""
    pick = choice(*allowed)
    return lambda raw: kind(pick(raw))


# -- checks of values that name files and hosts (called by a section's build, after parsing) ----
def check_url(key: str, url: str, schemes: tuple[str, ...], path_ok: Callable[[str], bool], form: str) -> None:
    """`url` is a target `dmabot.io.url.parse_target` accepts with a scheme of `schemes`, no
    query, and a path `path_ok` accepts. Raises ConfigError naming `key` and the expected `form`."""
    try:
        target = parse_target(url, schemes)
    except ValueError:
        target = None
    if target is None or "?" in target.target or not path_ok(target.target):
        raise ConfigError(f"{key}={url!r} is not valid: expected {form}")


def check_ca_file(key: str, path: str) -> None:
    """`path` is a readable PEM bundle of CA certificates."""
    if not Path(path).is_file():
        raise ConfigError(f"{key}={path!r} is not valid: no such file")
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or type(exc).__name__
        raise ConfigError(f"{key}={path!r} is not valid: not a PEM bundle of CA certificates ({reason})") from None

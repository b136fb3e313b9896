"""Binance's configuration section: the BINANCE_* keys (and the few without the prefix that
only Binance reads), `BinanceSettings`, and the environments' default endpoints.

FEED_MODE/VENUE_MODE select Binance with `binance` (the environment from BINANCE_ENV) or
`binance_sandbox`/`binance_mainnet` (which name the environment themselves). The endpoints of
each environment are those of docs/binance.md, "Environments and endpoints".
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Mapping

from dmabot.venues.binance.market_feed import StreamForm
from dmabot.venues.binance.settings import OrderTransport
from dmabot.venues.keys import (
    ConfigError,
    Key,
    build_section,
    check_ca_file,
    check_url,
    choice,
    enum_choice,
    integer,
    number,
    text,
    yes_no,
)


class BinanceEnv(enum.Enum):
    TESTNET = "testnet"      # Spot Testnet: test money, its own keys and market
    MAINNET = "mainnet"      # real money
    DEMO = "demo"            # Demo Mode: mainnet's market, demo money, demo keys


@dataclass(frozen=True)
class Endpoints:
    ws_url: str         # market data streams, the base ending in /ws
    rest_url: str
    ws_api_url: str


ENDPOINTS = {
    BinanceEnv.TESTNET: Endpoints("wss://stream.testnet.binance.vision/ws", "https://testnet.binance.vision",
                                  "wss://ws-api.testnet.binance.vision/ws-api/v3"),
    BinanceEnv.MAINNET: Endpoints("wss://stream.binance.com:9443/ws", "https://api.binance.com",
                                  "wss://ws-api.binance.com:443/ws-api/v3"),
    BinanceEnv.DEMO: Endpoints("wss://demo-stream.binance.com:9443/ws", "https://demo-api.binance.com",
                               "wss://demo-ws-api.binance.com/ws-api/v3"),
}
# The FEED_MODE/VENUE_MODE values that name an environment; `binance` takes BINANCE_ENV's.
MODE_ENVS = {"binance_sandbox": BinanceEnv.TESTNET, "binance_mainnet": BinanceEnv.MAINNET}
# Risk keys a mainnet run must state itself: the defaults are for paper trading.
MAINNET_REQUIRED = ("MAX_NOTIONAL", "PX_MIN", "PX_MAX", "MAX_QPS")

BINANCE_KEYS: tuple[Key, ...] = (
    Key("BINANCE_ENV", enum_choice(BinanceEnv, tuple(e.value for e in BinanceEnv)), "testnet",
        "environment of FEED_MODE/VENUE_MODE=binance, choosing the default URLs: testnet, mainnet, demo",
        attr="env"),
    Key("BINANCE_API_KEY", text, "", "Binance API key", secret=True, attr="api_key"),
    Key("BINANCE_API_SECRET", text, "", "Binance API secret (HMAC)", secret=True, attr="api_secret"),
    Key("BINANCE_PRIVATE_KEY_FILE", text, "", "Ed25519 private key (PKCS#8 PEM file) of BINANCE_API_KEY; "
        "signs instead of BINANCE_API_SECRET", attr="private_key_file"),
    Key("BINANCE_WS_URL", text, "", "Binance stream base URL ending in /ws (default: the FEED_MODE's host)",
        attr="ws_url"),
    Key("BINANCE_STREAM_FORM", enum_choice(StreamForm, ("combined", "raw")), "combined",
        "combined: one /stream?streams=... connection; raw: /ws/<stream> plus SUBSCRIBE", attr="stream_form"),
    Key("WS_STALE_S", number(0.1, 3600.0), "5",
        "reconnect when no tick arrives for this long (replies and pings do not count)"),
    Key("WS_BACKOFF_MAX_S", number(0.1, 3600.0), "30", "longest wait between reconnect attempts"),
    Key("BINANCE_REST_URL", text, "", "Binance REST base URL", attr="rest_url"),
    Key("BINANCE_WS_API_URL", text, "", "Binance WebSocket API URL, for the user data stream "
        "(default: the VENUE_MODE's host; none: no user data stream)", attr="ws_api_url"),
    Key("BINANCE_CA_FILE", text, "", "CA bundle to verify Binance (or the simulator) with", attr="ca_file"),
    Key("BINANCE_RECV_WINDOW", integer(1, 60000), "5000", "recvWindow of signed requests, ms", attr="recv_window"),
    Key("CONFIRM_MAINNET", yes_no, "no", "must be yes to trade on binance_mainnet"),
    Key("BINANCE_ORDER_RESP_TYPE", choice("full", "result", "ack"), "full",
        "newOrderRespType: full (fills ride on the reply), result, or ack (fills from the user data stream)",
        attr="order_resp_type"),
    Key("BINANCE_ORDER_TYPE", choice("limit_ioc", "limit_fok", "limit_gtc", "market"), "limit_ioc",
        "orders at the signal's price: limit_ioc, limit_fok, limit_gtc (rests until filled or cancelled), "
        "or market", attr="order_type"),
    Key("ORDER_TRANSPORT", enum_choice(OrderTransport, ("rest", "ws_api")), "rest",
        "how orders reach Binance: rest (POST /api/v3/order) or ws_api (order.place on BINANCE_WS_API_URL)"),
    Key("BINANCE_FEE_BPS", number(-100.0, 1000.0), "10",
        "router: fee of the binance venue, bps (taker 0.1% without BNB)", attr="fee_bps"),
    Key("BINANCE_LATENCY_MS", number(0.0, 60_000.0), "50", "router: latency of the binance venue, ms",
        attr="latency_ms"),
)


@dataclass(frozen=True)
class BinanceSettings:
    """The Binance keys, checked, with the URLs of the selected environments filled in (a URL
    stays empty when the side that needs it, feed or orders, is not Binance)."""
    env: BinanceEnv
    api_key: str = field(repr=False)
    api_secret: str = field(repr=False)
    private_key_file: str
    ws_url: str
    stream_form: StreamForm
    ws_stale_s: float
    ws_backoff_max_s: float
    rest_url: str
    ws_api_url: str        # empty: no user data stream (BINANCE_WS_API_URL=none)
    ca_file: str
    recv_window: int
    confirm_mainnet: bool
    order_resp_type: str
    order_type: str
    order_transport: OrderTransport
    fee_bps: float
    latency_ms: float


def _env_of(mode_key: str, mode: str, values: dict[str, Any], raw: Mapping[str, str]) -> BinanceEnv:
    """The environment `mode` (a FEED_MODE/VENUE_MODE value selecting Binance) trades in."""
    named = MODE_ENVS.get(mode)
    if named is None:
        return values["BINANCE_ENV"]
    if raw.get("BINANCE_ENV", "").strip() and values["BINANCE_ENV"] is not named:
        raise ConfigError(f"{mode_key}={mode} is Binance's {named.value} but BINANCE_ENV="
                          f"{values['BINANCE_ENV'].value}: set {mode_key}=binance to choose by BINANCE_ENV")
    return named


def binance_settings(values: dict[str, Any], raw: Mapping[str, str],
                     feed_mode: str | None, venue_mode: str | None) -> BinanceSettings:
    """`BinanceSettings` from the parsed key `values`; `feed_mode`/`venue_mode` are the
    FEED_MODE/VENUE_MODE values when they select Binance, else None. `raw` tells which keys
    were given (the mainnet checks want some stated, not defaulted)."""
    v = dict(values)
    if v["BINANCE_API_SECRET"] and v["BINANCE_PRIVATE_KEY_FILE"]:
        raise ConfigError("BINANCE_API_SECRET and BINANCE_PRIVATE_KEY_FILE are both set: an API key signs with "
                          "one of them (an HMAC secret or an Ed25519 private key); unset the other")
    feed_env = _env_of("FEED_MODE", feed_mode, v, raw) if feed_mode is not None else None
    venue_env = _env_of("VENUE_MODE", venue_mode, v, raw) if venue_mode is not None else None
    # the settings' environment: that of the orders, else that of the market data
    v["BINANCE_ENV"] = venue_env or feed_env or v["BINANCE_ENV"]
    if venue_mode is not None and venue_env is not None:
        _check_venue(v, raw, venue_mode, venue_env)
    if feed_mode is not None and feed_env is not None:
        if not v["BINANCE_WS_URL"]:
            v["BINANCE_WS_URL"] = ENDPOINTS[feed_env].ws_url
        check_url("BINANCE_WS_URL", v["BINANCE_WS_URL"], ("wss", "ws"), lambda p: p.rstrip("/").endswith("/ws"),
                  "the stream base, wss://HOST[:PORT]/ws")
    if (feed_mode or venue_mode) and v["BINANCE_CA_FILE"]:
        check_ca_file("BINANCE_CA_FILE", v["BINANCE_CA_FILE"])
    return build_section(BinanceSettings, BINANCE_KEYS, v)


def _check_venue(v: dict[str, Any], raw: Mapping[str, str], mode: str, env: BinanceEnv) -> None:
    """Orders to Binance: keys, the URLs, and for mainnet an explicit confirmation."""
    where = f"VENUE_MODE={mode}" + (f" (BINANCE_ENV={env.value})" if mode not in MODE_ENVS else "")
    if env is BinanceEnv.MAINNET:
        if not v["CONFIRM_MAINNET"]:
            raise ConfigError(f"{where} sends real orders: set CONFIRM_MAINNET=yes to confirm")
        for name in MAINNET_REQUIRED:
            if not raw.get(name, "").strip():
                raise ConfigError(f"{name} must be given explicitly with {where} (its default is for paper trading)")
    if not v["BINANCE_API_KEY"]:
        raise ConfigError(f"BINANCE_API_KEY is required with {where}")
    if not (v["BINANCE_API_SECRET"] or v["BINANCE_PRIVATE_KEY_FILE"]):
        raise ConfigError(f"BINANCE_API_SECRET (HMAC) or BINANCE_PRIVATE_KEY_FILE (Ed25519) is required with {where}")
    endpoints = ENDPOINTS[env]
    v["BINANCE_REST_URL"] = v["BINANCE_REST_URL"] or endpoints.rest_url
    v["BINANCE_WS_API_URL"] = v["BINANCE_WS_API_URL"] or endpoints.ws_api_url
    if v["BINANCE_WS_API_URL"].lower() == "none":
        if v["ORDER_TRANSPORT"] is OrderTransport.WS_API:
            raise ConfigError("BINANCE_WS_API_URL=none leaves ORDER_TRANSPORT=ws_api no connection to send on")
        v["BINANCE_WS_API_URL"] = ""      # no user data stream: fills come from REST replies only
    else:
        check_url("BINANCE_WS_API_URL", v["BINANCE_WS_API_URL"], ("wss", "ws"), lambda p: True,
                  "wss://HOST[:PORT]/ws-api/v3")
    check_url("BINANCE_REST_URL", v["BINANCE_REST_URL"], ("https", "http"), lambda p: p in ("", "/"),
              "the REST base, https://HOST[:PORT]")

"""The simulator as one account's Binance venue and the engine trading it, both as subprocesses
over TLS (trustme CA), for the end-to-end suites of order entry and of the account.

Test modules keep their own two-line fixtures over `SimVenue` and `engines` (a fixture
imported by name would shadow itself in every test's arguments).
"""
from __future__ import annotations

import contextlib
import json
import re
import ssl
import time
import urllib.request
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from dmabot.venues.binance.protocol.signing import Credentials, signed_query
from tests.helpers.processes import EngineProcess, start_sim, stop_process, tls_files

SYMBOLS = "BTCUSDT,ETHUSDT"
KEY = "e2e-orders-key"
SECRET = "e2e-orders-s3cret-never-logged"
BASES = {"BTCUSDT": "BTC", "ETHUSDT": "ETH"}
BALANCES = "USDT=100000,BTC=1,ETH=10"


class SimVenue:
    """`python -m dmabot sim` with an account: `key_args` say how it checks signatures (the
    HMAC secret by default), `credentials` sign this test's own requests to it."""

    def __init__(self, folder: Path, balances: str = BALANCES, key_args: tuple[str, ...] = ("--api-secret", SECRET),
                 credentials: Credentials | None = None) -> None:
        self.ca, cert, key = tls_files(folder)
        self.credentials = credentials or Credentials(KEY, SECRET)
        self.log = folder / "sim.log"
        self.proc, _, self.port = start_sim(
            ["--rate", "100", "--seed", "5", "--symbols", SYMBOLS, "--api-key", KEY, *key_args,
             "--balances", balances, "--tls-cert", cert, "--tls-key", key], self.log)

    def signed_get(self, path: str, params: list[tuple[str, Any]], method: str = "GET") -> Any:
        """A signed request as any client would send it (tests/test_sim_venue.py's Trader over urllib)."""
        query = signed_query(params, self.credentials, time.time_ns() // 1_000_000, 5000)
        return self._call(f"{path}?{query}", method, {"X-MBX-APIKEY": KEY})

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """asset -> (free, locked), as `GET /api/v3/account` states them."""
        account = self.signed_get("/api/v3/account", [])
        return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in account["balances"]}

    def fault(self, query: str) -> None:
        self._call(f"/sim/fault?{query}", "POST")

    def balance_update(self, asset: str, delta: str) -> None:
        """A deposit or withdrawal: the account's user stream gets balanceUpdate, then the position."""
        self._call(f"/sim/balance_update?asset={asset}&delta={delta}", "POST")

    def requests(self) -> list[dict[str, Any]]:
        """Every Binance request the simulator answered: time (ms), method, path, status."""
        return self._call("/sim/requests", "GET")["requests"]

    def _call(self, target: str, method: str, headers: dict[str, str] | None = None) -> Any:
        req = urllib.request.Request(f"https://127.0.0.1:{self.port}{target}", headers=headers or {}, method=method,
                                     data=b"" if method == "POST" else None)
        context = ssl.create_default_context(cafile=self.ca)
        with urllib.request.urlopen(req, timeout=5, context=context) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        if self.proc.poll() is None:
            stop_process(self.proc)


def engine_env(sim: SimVenue, **env: str) -> dict[str, str]:
    """The engine trading `sim` with mean reversion on every tick it can, over `env`."""
    return {**dict(
        FEED_MODE="binance_sandbox", VENUE_MODE="binance_sandbox", SYMBOLS=SYMBOLS,
        BINANCE_WS_URL=f"wss://127.0.0.1:{sim.port}/ws", BINANCE_REST_URL=f"https://127.0.0.1:{sim.port}",
        BINANCE_WS_API_URL=f"wss://127.0.0.1:{sim.port}/ws-api/v3",
        BINANCE_CA_FILE=sim.ca, BINANCE_API_KEY=KEY, BINANCE_API_SECRET=SECRET,
        STRATEGIES="mean_reversion", STRATEGY_WORKERS="1", MR_WINDOW="5", MR_EDGE_BPS="0",
        MR_COOLDOWN_MS="50", ORDER_QTY="0.002", MAX_QPS="5", RECORD_FILE=""), **env}


@contextlib.contextmanager
def engines(folder: Path, port: int) -> Iterator[Callable[..., EngineProcess]]:
    """`make(sim, **env)` starts an engine on `sim`; whatever is still running at the end is killed."""
    started: list[EngineProcess] = []

    def make(sim: SimVenue, **env: str) -> EngineProcess:
        started.append(EngineProcess(folder, port, engine_env(sim, **env)))
        return started[-1]

    try:
        yield make
    finally:
        for e in started:
            e.kill()


def filled(m: dict[str, float]) -> float:
    return m.get("exec_reports_total{status=filled,venue=binance}", 0)


def positions(log: str) -> dict[str, tuple[Decimal, int]]:
    """symbol -> (qty, fills) from the engine's shutdown `position ...` lines."""
    out = {}
    for m in re.finditer(r"position symbol=(\w+) venue=binance qty=(\S+) .* fills=(\d+)", log):
        out[m.group(1)] = (Decimal(m.group(2)), int(m.group(3)))
    return out


def account_net(trades: list[dict[str, Any]], base: str) -> Decimal:
    """What the trades moved the base balance by, commissions in the base asset included."""
    net = Decimal(0)
    for t in trades:
        qty = Decimal(t["qty"])
        net += qty if t["isBuyer"] else -qty
        if t["commissionAsset"] == base:
            net -= Decimal(t["commission"])
    return net


def account_trades(sim: SimVenue, symbol: str) -> list[dict[str, Any]]:
    """Every trade of the account on `symbol`: myTrades page by page (ids >= fromId, ascending, at
    most 1000 a page), until a short page (without fromId it answers only the latest 500)."""
    trades: list[dict[str, Any]] = []
    while True:
        from_id = trades[-1]["id"] + 1 if trades else 1
        page = sim.signed_get("/api/v3/myTrades", [("symbol", symbol), ("fromId", from_id), ("limit", 1000)])
        trades += page
        if len(page) < 1000:
            return trades


def assert_positions_match_the_account(sim: SimVenue, log: str) -> int:
    """Engine fills and base inventory per symbol == the simulator's trades; returns the fills."""
    engine_pos = positions(log)
    total_fills = 0
    for symbol, base in BASES.items():
        trades = account_trades(sim, symbol)
        total_fills += len(trades)
        qty, fills = engine_pos.get(symbol, (Decimal(0), 0))
        assert fills == len(trades), (symbol, fills, len(trades), log[-3000:])
        # %.8g in the log: compare to its precision
        assert abs(qty - account_net(trades, base)) <= Decimal("1e-8") * max(1, abs(qty)), (symbol, qty, trades)
    return total_fills

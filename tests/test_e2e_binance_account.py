"""The account end to end, the engine (VENUE_MODE=binance_sandbox) against the simulator: the
balance metrics end equal to what the simulator's account says."""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from _binance_venue import SimVenue, engines, filled


@pytest.fixture
def engine_factory(tmp_path, free_port):
    with engines(tmp_path, free_port) as make:
        yield make


def balance_metrics(m: dict[str, float]) -> dict[str, tuple[float, float]]:
    """asset -> (free, locked) from the scraped `account_balance` samples."""
    out: dict[str, dict[str, float]] = {}
    for name, value in m.items():
        found = re.fullmatch(r"account_balance\{asset=(\w+),kind=(free|locked),venue=binance\}", name)
        if found:
            out.setdefault(found.group(1), {})[found.group(2)] = value
    return {asset: (kinds["free"], kinds["locked"]) for asset, kinds in out.items()}


def test_balance_metrics_end_equal_to_the_simulators_account(tmp_path, engine_factory):
    # BNB never trades: only the account snapshot at start can tell the engine about it
    sim = SimVenue(tmp_path, balances="USDT=100000,BTC=1,ETH=10,BNB=5")
    try:
        engine = engine_factory(sim)
        first = engine.wait(lambda m: balance_metrics(m).get("BNB") == (5.0, 0.0), "the account snapshot")
        assert set(balance_metrics(first)) == {"BNB", "BTC", "ETH", "USDT"}   # (trading may have begun)
        engine.wait(lambda m: filled(m) >= 3, "fills moving the balances", 30)
        sim.balance_update("USDT", "250.5")       # a deposit and a withdrawal, outside trading
        sim.balance_update("BNB", "-1.25")
        sim.fault("action=stall&seconds=60")      # no ticks, no signals, no orders: the account settles

        def equal_to_the_account(m: dict[str, float]) -> bool:
            account = {a: (float(free), float(locked)) for a, (free, locked) in sim.balances().items()}
            return balance_metrics(m) == account

        m = engine.wait(equal_to_the_account, "the balance metrics equal to the simulator's account", 15)
        assert balance_metrics(m)["BNB"] == (3.75, 0.0)
        check = subprocess.run([shutil.which("promtool") or "promtool", "check", "metrics"],
                               input=engine.page().encode(), capture_output=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        engine.stop()
    finally:
        sim.stop()

"""The account end to end, the engine (VENUE_MODE=binance_sandbox) against the simulator: the
balance metrics end equal to what the simulator's account says, and an Ed25519 key signs
for it instead of an HMAC secret."""
from __future__ import annotations

import re
import shutil
import subprocess

from dmabot.venues.binance.protocol.signing import Credentials
from tests.helpers.binance_venue import KEY, SimVenue, assert_positions_match_the_account, filled


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


def test_an_ed25519_key_signs_orders_and_the_user_data_stream(tmp_path, engine_factory):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    (tmp_path / "ed25519.pem").write_bytes(private)
    (tmp_path / "ed25519.pub.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    # the simulator holds only the public key, as Binance does
    sim = SimVenue(tmp_path, key_args=("--api-public-key-file", str(tmp_path / "ed25519.pub.pem")),
                   credentials=Credentials.ed25519(KEY, private))
    try:
        engine = engine_factory(sim, BINANCE_API_SECRET="", BINANCE_PRIVATE_KEY_FILE=str(tmp_path / "ed25519.pem"))
        engine.wait(lambda m: m.get("binance_user_stream_subscribed{venue=binance}") == 1, "the user data stream")
        engine.wait(lambda m: filled(m) >= 2 and m.get("binance_user_stream_events_total{venue=binance}", 0) >= 4,
                    "fills, on the REST replies and as user data events", 30)
        log = engine.stop()
        assert "binance_private_key_file=" in log and "-1022" not in log
        body = b"".join(private.splitlines()[1:-1]).decode()
        assert body not in log and body[:16] not in log
        assert assert_positions_match_the_account(sim, log) >= 2
    finally:
        sim.stop()

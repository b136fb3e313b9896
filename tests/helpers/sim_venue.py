"""A simulator on the test's reactor, trading for one account, and a signed REST client of it:
shared by the tests that use the simulator as a venue in-process."""
from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

from dmabot.io.reactor import Reactor
from dmabot.venues.binance.protocol.signing import Credentials, signed_query
from dmabot.venues.binance.sim import SimConfig, Simulator
from tests.helpers.sim_clients import HttpClient, open_client, run_until

KEY = "venue-test-key"
SECRET = "venue-s3cret-that-must-never-be-logged"
CREDS = Credentials(KEY, SECRET)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def start_sim(reactor: Reactor, **overrides: Any) -> Simulator:
    config = SimConfig(
        port=0,
        rate_hz=200,
        seed=11,
        api_key=KEY,
        api_secret=SECRET,
        balances="USDT=100000,BTC=1,ETH=10",
        **overrides,
    )
    sim = Simulator(reactor, config)
    sim.start()
    return sim


class Trader:
    """A signed REST client on one kept-alive connection."""

    def __init__(self, reactor: Reactor, sim: Simulator, creds: Credentials = CREDS) -> None:
        self.reactor = reactor
        self.sim = sim
        self.creds = creds
        self.http = open_client(reactor, sim.port, HttpClient(f"127.0.0.1:{sim.port}"), None)

    def call(
        self,
        method: str,
        path: str,
        params: list[tuple[str, str]] | None = None,
        *,
        timestamp: int | None = None,
        recv_window: int | None = 5000,
        in_body: bool | None = None,
        api_key: str | None = KEY,
    ) -> tuple[int, dict[str, str], Any]:
        query = signed_query(params or [], self.creds, timestamp or now_ms(), recv_window)
        headers = (("X-MBX-APIKEY", api_key),) if api_key is not None else ()
        if in_body is None:
            in_body = method == "POST"
        target, body = (path, query.encode()) if in_body else (f"{path}?{query}", b"")
        self.http.request(method, target, body, headers)
        run_until(self.reactor, lambda: self.http.done or self.http.lost)
        assert self.http.response is not None, "no reply"
        response = self.http.response
        names = {k.decode().lower(): v.decode() for k, v in response.headers}
        return response.status_code, names, json.loads(self.http.body) if self.http.body else None

    def ok(self, method: str, path: str, params: list[tuple[str, str]] | None = None, **kw: Any) -> Any:
        status, _, body = self.call(method, path, params, **kw)
        assert status == 200, body
        return body

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        account = self.ok("GET", "/api/v3/account")
        return {b["asset"]: (Decimal(b["free"]), Decimal(b["locked"])) for b in account["balances"]}

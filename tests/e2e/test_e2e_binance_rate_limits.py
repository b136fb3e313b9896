"""Rate limits end to end, the engine (VENUE_MODE=binance_sandbox) against the simulator: a 429
stops order entry until its Retry-After, a 418 until the ban lifts, then orders flow again; a
429 for the order count (-1015) holds new orders only, the cancels at exit still go out.

Checked on both sides: the engine's metrics and log, and the simulator's journal of the
requests it answered (`GET /sim/requests`), which shows what reached the venue and when.
"""
from __future__ import annotations

import re

from tests.helpers.binance_venue import filled

ORDER = ("POST", "/api/v3/order")


def rate_limited(m: dict[str, float]) -> float:
    return m.get("binance_local_rejections_total{reason=rate_limited,venue=binance}", 0)


def orders(journal: list[dict], status: int | None = None) -> list[dict]:
    return [r for r in journal if (r["method"], r["path"]) == ORDER and status in (None, r["status"])]


def test_429_stops_orders_until_retry_after_then_they_flow_again(sim, engine_factory):
    engine = engine_factory(sim)
    engine.wait(lambda m: filled(m) >= 1, "a first fill")
    sim.fault("action=force_429&seconds=3")      # the next weighted request: 429, Retry-After: 3
    m = engine.wait(lambda m: rate_limited(m) >= 1, "orders refused locally while backing off")
    engine.wait(lambda x: filled(x) > filled(m), "fills again after Retry-After", 20)
    log = engine.stop()
    journal = sim.requests()
    [hit] = [r for r in journal if r["status"] == 429]
    # nothing reached the venue in the 3 s after the 429, orders did after them
    assert [r for r in journal if hit["time"] < r["time"] < hit["time"] + 3000] == []
    assert orders([r for r in journal if r["time"] >= hit["time"] + 3000], 200)
    assert "rate limit hit (HTTP 429): no requests for 3 s" in log
    assert "order rejected locally reason=rate_limited" in log


def test_418_halts_order_entry_until_the_ban_lifts_and_says_so_once(sim, engine_factory):
    engine = engine_factory(sim)
    engine.wait(lambda m: filled(m) >= 1, "a first fill")
    sim.fault("action=force_418&seconds=3")      # "the IP" is banned: every request gets 418
    m = engine.wait(lambda m: rate_limited(m) >= 1, "orders refused locally while banned")
    engine.wait(lambda x: filled(x) > filled(m), "fills again after the ban", 20)
    log = engine.stop()
    journal = sim.requests()
    # one request met the ban, and the engine sent nothing more until it was lifted
    [hit] = [r for r in journal if r["status"] == 418]
    assert orders([r for r in journal if r["time"] > hit["time"]], 200)
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and re.search(r"banned .*\(HTTP 418\): no requests, no orders for [23] s", errors[0])
    assert "order entry resumes" in log


def test_429_for_the_order_count_holds_orders_while_the_cancels_at_exit_go_out(sim, engine_factory):
    engine = engine_factory(sim)
    engine.wait(lambda m: filled(m) >= 1, "a first fill")
    sim.fault("action=force_429&code=-1015&seconds=60")     # the next new order: 429 -1015, Retry-After: 60
    engine.wait(lambda m: rate_limited(m) >= 1, "orders refused locally while new orders are held")
    log = engine.stop()
    journal = sim.requests()
    [hit] = [r for r in journal if r["status"] == 429]
    assert (hit["method"], hit["path"]) == ORDER
    after = [r for r in journal if r["time"] > hit["time"]]
    assert orders(after) == []                               # no new order into the wait
    assert [r for r in after if (r["method"], r["path"]) == ("DELETE", "/api/v3/openOrders")]   # the cancels did
    assert "order rate limit hit (HTTP 429 -1015): no new orders for 60 s" in log
    assert "cannot cancel open orders at exit" not in log

"""The tick-to-trade probe (dmabot/sim/_probe.py): its ticks, its measurement, its driver on a
manual clock, and one short run of the simulator and the engine over loopback TLS. Where the
protocols report an order's arrival is tested in test_sim_protocol.py.

Timing belongs in bench/bench_wire_tick_to_trade.py: nothing here asserts how fast anything is.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from dmabot.io.reactor import ManualClock, Reactor
from dmabot.strategies.builtin import MeanReversion
from dmabot.venues.binance.sim import main as sim_main
from dmabot.venues.binance.sim._account import parse_balances
from dmabot.venues.binance.sim._app import OrderEntry
from dmabot.venues.binance.sim._market import BookTickerWalk
from dmabot.venues.binance.sim._probe import (
    GAP_NS,
    IDLE_POLL_NS,
    TIMEOUT_NS,
    Probe,
    ProbeConfig,
    ProbeTicks,
    TickToTrade,
    nearest_rank,
)
from dmabot.venues.binance.sim._symbols import symbol_spec, to_units
from dmabot.venues.binance.sim._venue import Venue
from tests.helpers.processes import run_tick_to_trade

BTC = symbol_spec("BTCUSDT")
STREAM = "btcusdt@bookTicker"


def book(payload: str) -> tuple[float, float, float, float]:
    tick = json.loads(payload)
    return float(tick["b"]), float(tick["B"]), float(tick["a"]), float(tick["A"])


# -- the ticks --------------------------------------------------------------------------------


@pytest.mark.parametrize("window", [2, 3, 4, 50])
def test_mean_reversion_fires_on_every_probe_tick_and_the_venue_fills_each_order(window: int) -> None:
    """The benchmark's engine (MR_WINDOW=2, MR_EDGE_BPS=1, MR_COOLDOWN_MS=0), or another
    window: each tick after the first `window` is a signal, BUY and SELL in turn, and each
    order, LIMIT IOC at the signal's price, fills at once."""
    walk = BookTickerWalk(BTC, seed=0)
    ticks = ProbeTicks(walk)
    venue = Venue({"BTCUSDT": walk}, parse_balances("USDT=100000,BTC=1"))
    strategy = MeanReversion(1, 0, 0.001, 1.0, 0.0, window=window)
    sides = []
    for i in range(window + 40):
        signal = strategy.on_tick(i * 1_000_000, 0, *book(ticks.advance()))
        if i < window:
            assert signal is None
            continue
        assert signal is not None, f"tick {i} fired nothing"
        side, px, qty, _ = signal
        sides.append(side)
        params = {
            "symbol": "BTCUSDT",
            "side": "BUY" if side > 0 else "SELL",
            "type": "LIMIT",
            "timeInForce": "IOC",
            "quantity": f"{qty:.5f}",
            "price": f"{px:.2f}",
        }
        assert venue.new_order(params, i)["status"] == "FILLED"
    assert sides == [sides[0], -sides[0]] * 20


def test_probe_ticks_are_new_updates_on_the_grid() -> None:
    walk = BookTickerWalk(BTC, seed=0)
    ticks = ProbeTicks(walk)
    payloads = [json.loads(ticks.advance()) for _ in range(6)]
    assert [p["u"] for p in payloads] == sorted({p["u"] for p in payloads})
    for p in payloads:
        assert to_units(p["a"]) - to_units(p["b"]) == BTC.tick_units
        assert to_units(p["b"]) % BTC.tick_units == 0
    mids = [Decimal(p["b"]) + Decimal(p["a"]) for p in payloads]
    assert mids[0] == mids[2] == mids[4] < mids[1] == mids[3] == mids[5]
    assert ticks.sent == 6


# -- the measurement ----------------------------------------------------------------------------


def test_warm_up_orders_and_timeouts_are_not_counted() -> None:
    m = TickToTrade(ticks=2, warmup=2)
    m.sent(0)
    m.timed_out()  # the gateway was not ready: no miss while warming up
    for t in (10, 20):
        m.sent(t)
        assert m.arrived(t + 5, OrderEntry.REST)
    assert m.measuring and m.latencies_ns == [] and m.misses == 0
    m.sent(100)
    assert m.arrived(130, OrderEntry.REST)
    m.sent(200)
    m.timed_out()
    assert m.done
    report = m.report()
    assert (report["orders"], report["misses"], report["strays"]) == (1, 1, 0)
    assert report["latencies_ns"] == [30]
    assert report["order_entry"] == {"rest": 1}


def test_an_order_with_no_tick_in_flight_is_a_stray() -> None:
    m = TickToTrade(ticks=5, warmup=0)
    assert not m.arrived(1, OrderEntry.REST)
    m.sent(10)
    m.timed_out()
    assert not m.arrived(20, OrderEntry.REST)  # the late order of the tick that timed out
    assert m.strays == 2 and m.misses == 1 and m.latencies_ns == []


def test_an_order_with_no_tick_in_flight_while_warming_up_is_no_stray() -> None:
    m = TickToTrade(ticks=5, warmup=1)
    assert not m.arrived(1, OrderEntry.WS_API)   # e.g. an answer to a tick sent before the probe's
    m.sent(10)
    assert m.arrived(20, OrderEntry.WS_API) and m.measuring
    assert not m.arrived(30, OrderEntry.WS_API)
    assert m.strays == 1


def test_report_has_the_distribution_in_microseconds_by_nearest_rank() -> None:
    m = TickToTrade(ticks=100, warmup=0)
    for i in range(100, 0, -1):  # 100 us down to 1 us
        m.sent(0)
        m.arrived(i * 1000, OrderEntry.WS_API if i % 2 else OrderEntry.REST)
    report = m.report()
    assert (report["p50_us"], report["p90_us"], report["p99_us"], report["max_us"]) == (50, 90, 99, 100)
    assert report["order_entry"] == {"rest": 50, "ws_api": 50}
    assert report["latencies_ns"][0] == 100_000  # in the order measured


def test_nearest_rank() -> None:
    assert nearest_rank([7], 50) == nearest_rank([7], 99) == 7
    assert nearest_rank([1, 2, 3, 4], 50) == 2
    assert nearest_rank([1, 2, 3, 4], 51) == 3
    assert nearest_rank([1, 2, 3, 4], 100) == 4


def test_the_probe_options_go_together() -> None:
    assert sim_main(["--probe-tick-to-trade", "5"]) == 2
    assert sim_main(["--probe-out", "report.json"]) == 2
    assert sim_main(["--probe-tick-to-trade", "0", "--probe-out", "report.json"]) == 2


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        TickToTrade(ticks=0, warmup=0)
    with pytest.raises(ValueError):
        TickToTrade(ticks=1, warmup=-1)


# -- the driver, on a manual clock ---------------------------------------------------------------


class FakeConnection:
    """A stream connection: what was framed and written, and when (by the probe's clock)."""

    def __init__(self, clock: list[int], subscribed: bool = True) -> None:
        self.subscribed = subscribed
        self._clock = clock
        self.written: list[tuple[int, bytes]] = []
        self.encoded = 0

    def takes(self, stream: str) -> bool:
        return self.subscribed and stream == STREAM

    def encode(self, stream: str, payload: str) -> bytes:
        self.encoded += 1
        self._clock[0] += 7  # framing takes time: it must not be measured
        return payload.encode()

    def write(self, data: bytes) -> None:
        self.written.append((self._clock[0], data))


def test_the_probe_sends_one_tick_at_a_time_and_writes_its_report(tmp_path: Path) -> None:
    reactor = Reactor(ManualClock())
    now = [1000]  # the probe's perf clock, moved by hand
    quiet, listener = FakeConnection(now, subscribed=False), FakeConnection(now)
    connections: set[FakeConnection] = {quiet}
    walk = BookTickerWalk(BTC, seed=0)
    steps: list[BookTickerWalk] = []
    out = tmp_path / "report.json"
    probe = Probe(
        reactor, walk, connections, steps.append, ProbeConfig(ticks=2, out=str(out), warmup=1), clock=lambda: now[0]
    )
    probe.start()
    reactor.advance_to(0)
    assert probe.source.sent == 0 and quiet.encoded == 0  # nobody listens yet: nothing moves
    connections.add(listener)
    reactor.advance_to(IDLE_POLL_NS)
    assert len(listener.written) == 1 and steps == [walk] and quiet.encoded == 0
    assert json.loads(listener.written[0][1])["u"] == walk.update_id

    def order_after(latency: int) -> None:
        now[0] += latency
        probe.order_arrived(OrderEntry.REST)

    order_after(50)  # the warm-up order
    reactor.advance_to(IDLE_POLL_NS + GAP_NS - 1)
    assert len(listener.written) == 1  # the gap first
    reactor.advance_to(IDLE_POLL_NS + GAP_NS)
    assert len(listener.written) == 2
    order_after(300)
    reactor.advance_to(IDLE_POLL_NS + 2 * GAP_NS)
    assert len(listener.written) == 3 and not out.exists()
    reactor.advance_to(IDLE_POLL_NS + 2 * GAP_NS + TIMEOUT_NS)  # the third tick's order never comes
    report = json.loads(out.read_text())
    assert (report["orders"], report["misses"], report["warmup"]) == (1, 1, 1)
    assert report["latencies_ns"] == [300]  # from after framing to the arrival
    reactor.advance_to(IDLE_POLL_NS + 3 * TIMEOUT_NS)
    assert len(listener.written) == 3  # done: no more ticks


# -- the real thing, small ----------------------------------------------------------------------


def test_simulator_and_engine_over_tls_every_probe_tick_brings_its_order(tmp_path: Path) -> None:
    report = run_tick_to_trade(tmp_path, ticks=20, warmup=5)
    assert (report["orders"], report["misses"], report["strays"]) == (20, 0, 0)
    assert report["order_entry"] == {"rest": 20}
    assert len(report["latencies_ns"]) == 20 and all(t > 0 for t in report["latencies_ns"])
    assert "probe tick-to-trade orders=20 misses=0" in (tmp_path / "sim.log").read_text()

"""The wire tick-to-trade probe: how long from a bookTicker on the wire to the order it causes.

In probe mode the simulator stops the random walk of its first symbol and moves that book
itself, one tick at a time, so that mean reversion (any MR_WINDOW, MR_EDGE_BPS below
`SWING_BPS`, MR_COOLDOWN_MS=0) signals on every tick once its window is full: the mid
alternates between `SWING_BPS` below and above a fixed centre, so each tick is at least that
far from the mean of the ones before it, on the other side from the previous tick. The walk
stays the venue's book, so each order (LIMIT IOC at the touch) fills, BUY and SELL in turn,
and neither balances nor filters ever stop one.

Per tick the clock (`time.perf_counter_ns`) starts right before the tick's bytes, already
framed, are written to the socket, and stops when an order request has arrived whole and
been parsed: the end of a `POST /api/v3/order` as h11 reads it, or an `order.place` on the
WebSocket API as soon as its JSON is read (`SimApp.on_order_arrival`). Both ends are in the
simulator, so no clock offset between the processes enters. One tick is in flight at a
time: after its order, or `TIMEOUT_NS` (a miss), and once the simulator has answered, the
probe waits `GAP_NS` for the engine to handle the reply and the user-data events, then
sends the next.

The first `warmup` orders are not counted (connections and the gateway getting ready: a tick
that brings no order then is no miss either, an order that answers no tick then no stray).
Then `ticks` ticks are measured; the report (JSON) goes to the out file, one summary line to
the log.

`ProbeTicks` and `TickToTrade` are sans-IO; `Probe` runs them on the reactor.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dmabot.io.reactor import Reactor, TimerHandle
from dmabot.venues.binance.sim._app import OrderEntry
from dmabot.venues.binance.sim._market import BookTickerWalk

log = logging.getLogger("dmabot.sim")

# Each probe tick's mid is this far below or above the centre: well beyond a small
# MR_EDGE_BPS, well inside the venue's PERCENT_PRICE_BY_SIDE band.
SWING_BPS = 10
# An order this late is not coming: the tick counts as a miss.
TIMEOUT_NS = 500_000_000
# After the simulator has answered an order: time for the engine to handle the reply and the
# user-data events before the next tick, so ticks do not measure each other. Longer gaps
# measured no better on a shared machine: the processes' caches go cold while they sleep.
GAP_NS = 2_000_000
# How often to look for a subscriber of the probed stream while there is none.
IDLE_POLL_NS = 20_000_000
PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class ProbeConfig:
    ticks: int  # measured after the warm-up; each is a latency or a miss
    out: str  # where the JSON report goes
    warmup: int = 100  # orders arrived before the measuring starts, not counted


class ProbeTicks:
    """Moves `walk` to the probe's books: mid low, high, low, ... around its start.

    The walk stays the venue's book, so orders match against exactly what was sent. Every
    tick has a new `u`, one tick of spread and typical sizes.
    """

    def __init__(self, walk: BookTickerWalk) -> None:
        self._walk = walk
        centre = walk.bid_ticks
        swing = max(1, centre * SWING_BPS // 10_000)
        self._bids = (centre - swing, centre + swing)
        self.sent = 0

    def advance(self) -> str:
        walk = self._walk
        walk.update_id += 1
        walk.bid_ticks = self._bids[self.sent % 2]
        walk.spread_ticks = 1
        walk.bid_qty_steps = walk.ask_qty_steps = walk.spec.mean_level_steps
        self.sent += 1
        return walk.payload()


class TickToTrade:
    """The measurement: at most one tick in flight, its send and arrival times in ns."""

    def __init__(self, ticks: int, warmup: int) -> None:
        if ticks < 1 or warmup < 0:
            raise ValueError(f"need ticks >= 1 and warmup >= 0, got {ticks} and {warmup}")
        self.ticks = ticks
        self.warmup = warmup
        self.warmed_up = 0  # orders arrived during the warm-up
        self.latencies_ns: list[int] = []
        self.misses = 0
        # orders with no tick in flight: late ones after their tick's timeout, or ones the
        # probe did not cause; either way a sign the numbers may be off
        self.strays = 0
        self.order_entry: dict[str, int] = {}  # measured orders by how they came (OrderEntry)
        self._sent_ns: int | None = None

    @property
    def measuring(self) -> bool:
        return self.warmed_up >= self.warmup

    @property
    def done(self) -> bool:
        return len(self.latencies_ns) + self.misses >= self.ticks

    def sent(self, now_ns: int) -> None:
        assert self._sent_ns is None and not self.done, "one tick in flight at a time"
        self._sent_ns = now_ns

    def arrived(self, now_ns: int, entry: OrderEntry) -> bool:
        """An order arrived; True if it answers the tick in flight (which is then over)."""
        if self._sent_ns is None:
            # like a miss, a stray counts once measuring: before, connections are settling
            self.strays += self.measuring
            return False
        if self.measuring:
            self.latencies_ns.append(now_ns - self._sent_ns)
            self.order_entry[entry.value] = self.order_entry.get(entry.value, 0) + 1
        else:
            self.warmed_up += 1
        self._sent_ns = None
        return True

    def timed_out(self) -> None:
        """The tick in flight caused no order in time."""
        if self._sent_ns is not None and self.measuring:
            self.misses += 1
        self._sent_ns = None

    def report(self) -> dict[str, Any]:
        """The distribution in microseconds (nearest rank), the counts, and every latency in ns."""
        ranked = sorted(self.latencies_ns)
        out: dict[str, Any] = {
            "orders": len(ranked),
            "misses": self.misses,
            "strays": self.strays,
            "warmup": self.warmup,
            "order_entry": dict(self.order_entry),
        }
        for p in PERCENTILES:
            out[f"p{p}_us"] = nearest_rank(ranked, p) / 1000 if ranked else None
        out["max_us"] = ranked[-1] / 1000 if ranked else None
        out["latencies_ns"] = self.latencies_ns
        return out


def nearest_rank(ranked: list[int], percentile: float) -> int:
    """The smallest value with at least `percentile` % of `ranked` (sorted, not empty) at or below it."""
    return ranked[max(0, math.ceil(percentile / 100 * len(ranked)) - 1)]


def summary_line(report: dict[str, Any]) -> str:
    numbers = " ".join(f"{key}={report[key]}" for key in ("p50_us", "p90_us", "p99_us", "max_us"))
    return (
        f"probe tick-to-trade orders={report['orders']} misses={report['misses']} strays={report['strays']} "
        f"order_entry={','.join(f'{k}:{v}' for k, v in report['order_entry'].items()) or '-'} {numbers}"
    )


class StreamConnection(Protocol):
    def takes(self, stream: str) -> bool: ...

    def encode(self, stream: str, payload: str) -> bytes: ...

    def write(self, data: bytes) -> None: ...


class Probe:
    """Runs a `TickToTrade` on the reactor over the stream connections of the simulator.

    `on_step` is called after each move of the book, as the feed calls it (the venue
    matches resting orders against it). Install `order_arrived` as `SimApp.on_order_arrival`.
    """

    def __init__(
        self,
        reactor: Reactor,
        walk: BookTickerWalk,
        connections: Collection[StreamConnection],
        on_step: Callable[[BookTickerWalk], None],
        config: ProbeConfig,
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self._reactor = reactor
        self._walk = walk
        self._connections = connections
        self._on_step = on_step
        self._config = config
        self._clock = clock
        self.source = ProbeTicks(walk)
        self.measurement = TickToTrade(config.ticks, config.warmup)
        self._timer: TimerHandle | None = None

    def start(self) -> None:
        self._timer = self._reactor.call_soon(self._send)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def _send(self) -> None:
        stream = self._walk.stream
        targets = [c for c in self._connections if c.takes(stream)]
        if not targets:
            self._timer = self._reactor.call_later(IDLE_POLL_NS, self._send)
            return
        payload = self.source.advance()
        self._on_step(self._walk)
        frames = [(c, c.encode(stream, payload)) for c in targets]
        self.measurement.sent(self._clock())
        for connection, frame in frames:
            connection.write(frame)
        self._timer = self._reactor.call_later(TIMEOUT_NS, self._on_timeout)

    def order_arrived(self, entry: OrderEntry) -> None:
        now_ns = self._clock()
        if self.measurement.arrived(now_ns, entry):
            self._next()

    def _on_timeout(self) -> None:
        self.measurement.timed_out()
        self._next()

    def _next(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.measurement.done:
            self._timer = None
            self._finish()
        else:
            # the order is still being matched and answered in this callback: the gap starts after
            self._timer = self._reactor.call_soon(self._wait_gap)

    def _wait_gap(self) -> None:
        self._timer = self._reactor.call_later(GAP_NS, self._send)

    def _finish(self) -> None:
        report = self.measurement.report()
        write_atomically(Path(self._config.out), json.dumps(report))
        log.info("%s out=%s", summary_line(report), self._config.out)


def write_atomically(path: Path, text: str) -> None:
    """Whoever waits for `path` sees it whole or not at all."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)

"""Wire tick-to-trade over loopback TLS: from a bookTicker leaving the simulator to the order
it causes arriving back, for each way the engine can send orders.

The simulator runs in probe mode (`python -m dmabot sim --probe-tick-to-trade N`,
dmabot/sim/_probe.py) and times both ends on its own clock: from right before a tick's bytes
are written to the socket to the moment the order request has arrived whole and been parsed
(REST: the end of `POST /api/v3/order` as h11 reads it; WebSocket API: `order.place` read as
JSON). In between: loopback twice, and the engine as a user runs it (`python -m dmabot`):
TLS, WebSocket and bookTicker decoding, strategy, risk, router, gateway (rounding, filters,
client id, signing, the request), TLS; then the simulator's own TLS and parsing, which is not
the same work for both: h11 reading a REST request costs tens of microseconds in Python, more
than `json.loads` of an `order.place`. One tick is in flight at a time, so this is latency,
not throughput. Its ticks make mean reversion
(MR_WINDOW=2, MR_EDGE_BPS=1, MR_COOLDOWN_MS=0) fire on every one; each order fills.

WARMUP orders first (not counted), then TICKS ticks. p50, p90, p99 and max in microseconds
go to extra_info and to a table after pytest-benchmark's; pytest-benchmark's own time is of
the whole run (start-up included) and means little. Targets (issue #4): WebSocket API
p50 <= 40 us and p99 <= 150 us, REST within 1.5x of that. A busy machine shows in the tail
first: both processes and the kernel share its cores.

Run: pytest bench/bench_wire_tick_to_trade.py --benchmark-only
"""
from __future__ import annotations

import pytest

from tests.helpers.processes import run_tick_to_trade, run_tick_to_trade_floor

# the engine's ORDER_TRANSPORT values measured
ORDER_TRANSPORTS = ["ws_api", "rest"]
TICKS = 3000
WARMUP = 300
TICKS_DISABLED, WARMUP_DISABLED = 50, 10     # --benchmark-disable (CI): does it still work, quickly


@pytest.mark.parametrize("order_transport", ORDER_TRANSPORTS)
def test_wire_tick_to_trade(benchmark, record_latencies, order_transport, tmp_path):
    benchmark.group = "wire-tick-to-trade"
    ticks, warmup = (TICKS_DISABLED, WARMUP_DISABLED) if benchmark.disabled else (TICKS, WARMUP)
    report = benchmark.pedantic(run_tick_to_trade, args=(tmp_path, ticks, warmup, order_transport),
                                rounds=1, iterations=1)
    # every tick brought its order, by the transport asked for: otherwise the numbers are not of it
    assert (report["orders"], report["misses"], report["strays"]) == (ticks, 0, 0), report
    assert report["order_entry"] == {order_transport: ticks}
    record_latencies(order_transport, report)


def test_wire_tick_to_trade_floor(benchmark, record_latencies, tmp_path):
    """The same probe answered by a client that only writes a ready-made order per tick
    (bench/wire_floor_client.py): what loopback, wake-ups, TLS and the simulator cost here."""
    benchmark.group = "wire-tick-to-trade"
    ticks, warmup = (TICKS_DISABLED, WARMUP_DISABLED) if benchmark.disabled else (TICKS, WARMUP)
    report = benchmark.pedantic(run_tick_to_trade_floor, args=(tmp_path, ticks, warmup), rounds=1, iterations=1)
    assert (report["orders"], report["misses"], report["strays"]) == (ticks, 0, 0), report
    record_latencies("floor (no engine)", report)

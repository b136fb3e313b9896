"""The REST connection and the server clock over a real loopback socket, against the
simulator's REST server, driven the way the gateway will drive them."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from dmabot.io.reactor import Reactor
from dmabot.venues.binance.protocol import Credentials, parse_exchange_info
from dmabot.venues.binance.protocol.clock import ClockState, ServerClock, parse_server_time
from dmabot.venues.binance.protocol.rest_protocol import Outcome, RateLimitState, Response, RestConnection
from dmabot.venues.binance.protocol.rest_request import RestRequests
from dmabot.venues.binance.sim import SimConfig, Simulator
from tests.helpers.sim_clients import ClientBase, open_client, run_until

SIM_NOW_MS = 1795858200000


class RestDriver(ClientBase):
    """Socket glue: bytes read go to the connection, what it has to send gets written."""

    def __init__(self, reactor: Reactor, conn: RestConnection) -> None:
        super().__init__()
        self.reactor = reactor
        self.conn = conn
        self.outcomes: list[Outcome] = []

    def submit(self, tag: str, wire: bytes) -> None:
        self.conn.submit(tag, wire, self.reactor.now())
        self.flush()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data and self.transport is not None:
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self.outcomes += self.conn.receive_data(data, self.reactor.now())
        self.flush()


@pytest.fixture
def sim(reactor: Reactor) -> Iterator[Simulator]:
    s = Simulator(reactor, SimConfig(), now_ms=lambda: SIM_NOW_MS)
    s.start()
    yield s
    s.close()


def test_clock_sync_and_rate_limits_over_loopback(reactor: Reactor, sim: Simulator) -> None:
    requests = RestRequests("localhost", Credentials("test-key", "test-secret"))
    limits = RateLimitState(weight_limit_1m=6000)
    driver = open_client(reactor, sim.port, RestDriver(reactor, RestConnection(rate_limits=limits)), None)
    for i in range(3):   # queued behind each other on one kept-alive connection
        driver.submit(f"time-{i}", requests.server_time())
    driver.submit("info", requests.exchange_info())
    run_until(reactor, lambda: len(driver.outcomes) == 4)
    assert [o.tag for o in driver.outcomes] == ["time-0", "time-1", "time-2", "info"]
    assert all(isinstance(o, Response) and o.status == 200 for o in driver.outcomes)

    clock = ServerClock()
    for response in driver.outcomes[:3]:
        clock.on_time_response(response.sent_ns, response.received_ns, parse_server_time(response.json()))
    now = reactor.now()
    assert clock.state(now) is ClockState.SYNCED
    # the simulator's clock stands still at SIM_NOW_MS, so the offset is exactly measurable
    best = min(driver.outcomes[:3], key=lambda r: r.received_ns - r.sent_ns)
    assert clock.timestamp_ms(best.sent_ns) <= SIM_NOW_MS <= clock.timestamp_ms(best.received_ns) + 1

    info = parse_exchange_info(driver.outcomes[3].json())
    assert set(info.symbols) >= {"BTCUSDT", "ETHUSDT"}
    assert limits.used_weight_1m == 3 + 20

"""The simulator over real loopback sockets.

Most tests talk TLS to one `python -m dmabot.venues.binance.sim` subprocess (port read from its log
line); liveness and back-pressure tests run a simulator in-process, on the test's reactor.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import trustme
from wsproto.frame_protocol import CloseReason

from dmabot.io.reactor import ManualClock, Reactor
from dmabot.io.transport import CertificateVerifyError
from dmabot.venues.binance.sim import Fault, FaultAction, SimConfig, Simulator
from dmabot.venues.binance.sim._feed import BATCH, Feed
from dmabot.venues.binance.sim._market import BookTickerWalk
from dmabot.venues.binance.sim._symbols import symbol_spec
from tests.helpers.paths import TEST_DATA
from tests.helpers.sim_clients import HttpClient, WsClient, fetch, open_client, run_for, run_until

DATA = TEST_DATA
SECRET = "s3cret-that-must-never-be-logged"
DECIMAL_RE = re.compile(r"^\d+\.\d{8}$")
BOTH = "/stream?streams=btcusdt@bookTicker/ethusdt@bookTicker"
TICK = {"BTCUSDT": Decimal("0.01"), "ETHUSDT": Decimal("0.01")}
STEP = {"BTCUSDT": Decimal("0.00001"), "ETHUSDT": Decimal("0.0001")}


@dataclass
class RunningSim:
    port: int
    ca: str
    other_ca: str
    log: Path


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSim]:
    folder = tmp_path_factory.mktemp("sim")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(folder / "other_ca.pem"))
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    server_cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    for blob in server_cert.cert_chain_pems:
        blob.write_to_path(str(folder / "cert.pem"), append=True)
    log = folder / "sim.log"
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dmabot.venues.binance.sim",
                "--port",
                "0",
                "--rate",
                "50",
                "--seed",
                "7",
                "--tls-cert",
                str(folder / "cert.pem"),
                "--tls-key",
                str(folder / "key.pem"),
                "--api-key",
                "test-key",
                "--api-secret",
                SECRET,
                "--ping-interval",
                "30",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        port = _wait_for_port(log, process)
        yield RunningSim(port, str(folder / "ca.pem"), str(folder / "other_ca.pem"), log)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert SECRET not in log.read_text()


def _wait_for_port(log: Path, process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = re.search(r"sim listening on wss://127\.0\.0\.1:(\d+)", log.read_text())
        if found:
            return int(found.group(1))
        assert process.poll() is None, log.read_text()
        time.sleep(0.02)
    raise AssertionError("the simulator did not report its port:\n" + log.read_text())


def ws(reactor: Reactor, sim: RunningSim, target: str, **kwargs: bool) -> WsClient:
    client = open_client(reactor, sim.port, WsClient(f"127.0.0.1:{sim.port}", target, **kwargs), sim.ca)
    run_until(reactor, lambda: client.accepted or client.rejected is not None or client.lost)
    return client


def http(reactor: Reactor, sim: RunningSim) -> HttpClient:
    return open_client(reactor, sim.port, HttpClient(f"127.0.0.1:{sim.port}"), sim.ca)


def fault(reactor: Reactor, sim: RunningSim, query: str) -> dict:
    client = fetch(reactor, http(reactor, sim), "POST", f"/sim/fault?{query}")
    assert client.response is not None and client.response.status_code == 200, client.body
    return json.loads(client.body)


def check_book_ticker(data: dict) -> None:
    assert list(data) == ["u", "s", "b", "B", "a", "A"]  # exactly Binance's spot fields, in order
    assert isinstance(data["u"], int)
    symbol = data["s"]
    for key in "bBaA":
        assert DECIMAL_RE.match(data[key]), data
    for key in "ba":
        assert Decimal(data[key]) % TICK[symbol] == 0
    for key in "BA":
        assert Decimal(data[key]) % STEP[symbol] == 0 and Decimal(data[key]) > 0
    assert Decimal(data["b"]) < Decimal(data["a"])


# -- market data ----------------------------------------------------------------------------


def test_combined_stream_carries_both_symbols_in_binance_shape(reactor: Reactor, sim: RunningSim) -> None:
    client = ws(reactor, sim, BOTH)
    assert client.accepted
    seen = lambda: {json.loads(m)["stream"] for m in client.messages}  # noqa: E731
    run_until(reactor, lambda: seen() == {"btcusdt@bookTicker", "ethusdt@bookTicker"} and len(client.messages) > 10)
    last_u: dict[str, int] = {}
    for message in client.messages:
        frame = json.loads(message)
        assert list(frame) == ["stream", "data"]
        check_book_ticker(frame["data"])
        assert frame["stream"] == f"{frame['data']['s'].lower()}@bookTicker"
        assert frame["data"]["u"] > last_u.get(frame["stream"], 0)
        last_u[frame["stream"]] = frame["data"]["u"]


def test_raw_stream_sends_bare_payloads(reactor: Reactor, sim: RunningSim) -> None:
    client = ws(reactor, sim, "/ws/ethusdt@bookTicker")
    run_until(reactor, lambda: len(client.messages) >= 3)
    for message in client.messages:
        data = json.loads(message)
        check_book_ticker(data)
        assert data["s"] == "ETHUSDT"


def test_unknown_stream_or_path_is_refused(reactor: Reactor, sim: RunningSim) -> None:
    assert ws(reactor, sim, "/ws/dogeusdt@bookTicker").rejected.status_code == 400
    assert ws(reactor, sim, "/nope").rejected.status_code == 404


def test_subscribe_list_unsubscribe(reactor: Reactor, sim: RunningSim) -> None:
    client = ws(reactor, sim, "/ws")
    client.send_text('{"method":"SUBSCRIBE","params":["btcusdt@bookTicker"],"id":1}')
    run_until(reactor, lambda: len(client.messages) >= 3)
    assert json.loads(client.messages[0]) == {"result": None, "id": 1}
    assert all(json.loads(m)["s"] == "BTCUSDT" for m in client.messages[1:])
    client.messages.clear()
    client.send_text('{"method":"LIST_SUBSCRIPTIONS","id":"list-2"}')
    client.send_text('{"method":"UNSUBSCRIBE","params":["btcusdt@bookTicker"],"id":3}')
    replies = lambda: [m for m in client.messages if '"id"' in m]  # noqa: E731
    run_until(reactor, lambda: len(replies()) == 2)
    assert json.loads(replies()[0]) == {"result": ["btcusdt@bookTicker"], "id": "list-2"}
    assert json.loads(replies()[1]) == {"result": None, "id": 3}


def test_server_answers_client_pings(reactor: Reactor, sim: RunningSim) -> None:
    client = ws(reactor, sim, "/ws")
    client.send_ping(b"hello")
    run_until(reactor, lambda: client.pongs == [b"hello"])


# -- WebSocket API --------------------------------------------------------------------------


def test_ws_api_ping_time_and_unknown_method(reactor: Reactor, sim: RunningSim) -> None:
    client = ws(reactor, sim, "/ws-api/v3")
    before_ms = int(time.time() * 1000)
    client.send_text('{"id":"p1","method":"ping"}')
    client.send_text('{"id":7,"method":"time","params":{}}')
    client.send_text('{"id":"x","method":"order.teleport","params":{}}')
    run_until(reactor, lambda: len(client.messages) == 3)
    ping, clock, unknown = (json.loads(m) for m in client.messages)
    assert list(ping) == ["id", "status", "result", "rateLimits"]
    assert ping["id"] == "p1" and ping["status"] == 200 and ping["result"] == {}
    assert ping["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT" and ping["rateLimits"][0]["count"] >= 1
    assert clock["id"] == 7 and before_ms - 5000 < clock["result"]["serverTime"] < before_ms + 5000
    assert unknown["id"] == "x" and unknown["status"] == 400 and unknown["error"]["code"] == -1020


# -- REST -----------------------------------------------------------------------------------


def test_rest_time_ping_exchange_info(reactor: Reactor, sim: RunningSim) -> None:
    client = http(reactor, sim)
    fetch(reactor, client, "GET", "/api/v3/time")
    assert client.response.status_code == 200
    assert abs(json.loads(client.body)["serverTime"] - time.time() * 1000) < 5000
    assert int(dict(client.response.headers)[b"x-mbx-used-weight-1m"]) >= 1

    fetch(reactor, client, "GET", "/api/v3/ping")
    assert (client.response.status_code, client.body) == (200, b"{}")

    fetch(reactor, client, "GET", "/api/v3/exchangeInfo?symbols=%5B%22BTCUSDT%22,%22ETHUSDT%22%5D")
    expected = json.loads((DATA / "exchange_info_btcusdt_ethusdt.json").read_text())
    got = json.loads(client.body)
    assert got.pop("serverTime") > 0 and expected.pop("serverTime")
    assert got == expected

    fetch(reactor, client, "GET", "/api/v3/exchangeInfo?symbol=ETHUSDT")
    assert [s["symbol"] for s in json.loads(client.body)["symbols"]] == ["ETHUSDT"]

    fetch(reactor, client, "GET", "/api/v3/exchangeInfo?symbol=NOPEUSDT")
    assert client.response.status_code == 400
    assert json.loads(client.body) == {"code": -1121, "msg": "Invalid symbol."}

    fetch(reactor, client, "GET", "/api/v3/nothing-here")
    assert client.response.status_code == 404


def test_client_trusting_another_ca_gets_a_clear_error(reactor: Reactor, sim: RunningSim) -> None:
    client = open_client(reactor, sim.port, WsClient("x", "/ws"), sim.other_ca)
    assert isinstance(client.error, CertificateVerifyError)
    assert str(client.error).startswith(f"TLS certificate verification failed for 127.0.0.1:{sim.port}: ")


# -- fault switches over HTTP ---------------------------------------------------------------


def test_fault_drop_clients(reactor: Reactor, sim: RunningSim) -> None:
    client = ws(reactor, sim, BOTH)
    run_until(reactor, lambda: bool(client.messages))
    assert fault(reactor, sim, "action=drop_clients")["connections"] >= 1
    run_until(reactor, lambda: client.lost)
    assert client.close_event is None  # cut, not closed politely


def test_fault_stall(reactor: Reactor, sim: RunningSim) -> None:
    client = ws(reactor, sim, BOTH)
    run_until(reactor, lambda: bool(client.messages))
    assert fault(reactor, sim, "action=stall&seconds=1") == {"action": "stall", "connections": 1}
    run_for(reactor, 0.1)  # frames already on the wire may still land
    count = len(client.messages)
    run_for(reactor, 0.6)
    assert len(client.messages) == count
    run_until(reactor, lambda: len(client.messages) > count)


def test_fault_malformed_frame(reactor: Reactor, sim: RunningSim) -> None:
    client = ws(reactor, sim, BOTH)
    fault(reactor, sim, "action=malformed_frame")
    run_until(reactor, lambda: client.close_event is not None)
    assert client.close_event.code == CloseReason.PROTOCOL_ERROR


def test_fault_malformed_payload(reactor: Reactor, sim: RunningSim) -> None:
    client = ws(reactor, sim, "/ws")  # no data, so the bad payload is the only message
    fault(reactor, sim, "action=malformed_payload")
    run_until(reactor, lambda: bool(client.messages))
    with pytest.raises(ValueError):
        json.loads(client.messages[0])


def test_fault_ping(reactor: Reactor, sim: RunningSim) -> None:
    client = ws(reactor, sim, "/ws")
    fault(reactor, sim, "action=ping")
    run_until(reactor, lambda: bool(client.pings))


def test_fault_close_with_code(reactor: Reactor, sim: RunningSim) -> None:
    client = ws(reactor, sim, "/ws-api/v3")
    fault(reactor, sim, "action=close&code=4001")
    run_until(reactor, lambda: client.close_event is not None and client.lost)
    assert client.close_event.code == 4001


def test_fault_request_errors(reactor: Reactor, sim: RunningSim) -> None:
    client = fetch(reactor, http(reactor, sim), "POST", "/sim/fault?action=explode")
    assert client.response.status_code == 400 and json.loads(client.body)["code"] == -1102
    fetch(reactor, client, "POST", "/sim/fault", b"action=stall")  # form body; seconds missing
    assert json.loads(client.body)["msg"].startswith("Mandatory parameter 'seconds'")


def test_one_log_line_per_connection_open_and_close(reactor: Reactor, sim: RunningSim) -> None:
    client = ws(reactor, sim, "/ws/btcusdt@bookTicker")
    assert client.transport is not None
    client.transport.close()
    run_until(reactor, lambda: "path=/ws/btcusdt@bookTicker requests=1" in sim.log.read_text())
    assert re.search(r"conn open peer=127\.0\.0\.1:\d+ path=/ws/btcusdt@bookTicker", sim.log.read_text())


# -- in-process simulator: liveness and back-pressure ----------------------------------------


@pytest.fixture
def make_sim(reactor: Reactor) -> Iterator[Callable[..., Simulator]]:
    started: list[Simulator] = []

    def make(**config: float) -> Simulator:
        sim = Simulator(reactor, SimConfig(**config), now_ms=lambda: 1795858200000)
        sim.start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.close()


def local_ws(reactor: Reactor, sim: Simulator, target: str, **kwargs: bool) -> WsClient:
    client = open_client(reactor, sim.port, WsClient("localhost", target, **kwargs), None)
    run_until(reactor, lambda: client.accepted)
    return client


def test_clients_that_never_pong_are_dropped(reactor: Reactor, make_sim: Callable[..., Simulator]) -> None:
    local_sim = make_sim(ping_interval_s=0.1, pong_timeout_s=0.3)
    silent = local_ws(reactor, local_sim, "/ws", answer_pings=False)
    polite = local_ws(reactor, local_sim, "/ws")
    run_until(reactor, lambda: silent.lost)
    assert silent.pings and silent.close_event is None
    assert not polite.lost and len(polite.pings) >= 2


def test_rate_zero_follows_the_reader_and_stops_for_a_paused_connection(
    reactor: Reactor, make_sim: Callable[..., Simulator]
) -> None:
    local_sim = make_sim(rate_hz=0)
    client = local_ws(reactor, local_sim, BOTH)
    run_until(reactor, lambda: len(client.messages) >= 2000)
    [handler] = local_sim.connections
    handler.pause_writing()  # what the transport calls when its buffer passes HIGH_WATER
    run_for(reactor, 0.05)  # frames already written may still land
    count = len(client.messages)
    run_for(reactor, 0.2)
    assert len(client.messages) == count
    handler.resume_writing()
    run_until(reactor, lambda: len(client.messages) > count + 1000)


def test_in_process_fault_api(reactor: Reactor, make_sim: Callable[..., Simulator]) -> None:
    local_sim = make_sim()
    client = local_ws(reactor, local_sim, "/ws-api/v3")
    assert local_sim.apply_fault(Fault(FaultAction.CLOSE, code=1001)) == 1
    run_until(reactor, lambda: client.lost)
    assert client.close_event.code == 1001


# -- the feed on a manual clock ---------------------------------------------------------------


class FakeSubscriber:
    def __init__(self, wants_data: bool = True) -> None:
        self.wants_data = wants_data
        self.received: list[tuple[str, str]] = []

    def publish(self, stream: str, payload: str) -> None:
        if self.wants_data:
            self.received.append((stream, payload))


def manual_feed(rate_hz: float, subscribers: list[FakeSubscriber]) -> tuple[Reactor, Feed]:
    reactor = Reactor(ManualClock())
    walks = [BookTickerWalk(symbol_spec(name), seed=3) for name in ("BTCUSDT", "ETHUSDT")]
    return reactor, Feed(reactor, walks, rate_hz, subscribers)


def run_through(reactor: Reactor, t_ns: int) -> None:
    """Run every timer due at or before `t_ns`."""
    reactor.call_at(t_ns + 1, reactor.stop)
    reactor.run()


def test_feed_at_a_rate_ticks_each_symbol_on_its_grid_and_honours_stall() -> None:
    subscriber = FakeSubscriber()
    reactor, feed = manual_feed(10, [subscriber])
    feed.start()
    run_through(reactor, 1_000_000_000)
    assert len(subscriber.received) == 20  # 10 Hz x 2 symbols, the first tick one period in
    feed.stall(0.5)  # now is 1 s + 1 ns, so the stall covers the ticks at 1.1 ... 1.5 s
    run_through(reactor, 1_500_000_000)
    assert len(subscriber.received) == 20
    run_through(reactor, 2_000_000_000)
    assert len(subscriber.received) == 30  # ticks at 1.6 ... 2.0 s
    feed.stop()


def test_feed_at_rate_zero_pumps_only_while_someone_wants_data() -> None:
    subscriber = FakeSubscriber(wants_data=False)
    reactor, feed = manual_feed(0, [subscriber])
    feed.start()
    assert reactor.run_once() and not subscriber.received
    assert reactor.next_due() is None  # idle: nothing scheduled while nobody can take data
    subscriber.wants_data = True
    feed.kick()
    for _ in range(3):
        reactor.run_once()
    assert len(subscriber.received) == 3 * BATCH * 2
    subscriber.wants_data = False
    reactor.run_once()
    assert reactor.next_due() is None
    feed.stop()

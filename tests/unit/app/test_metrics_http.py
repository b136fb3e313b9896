"""The metrics HTTP server: the protocol with plain bytes, the server over loopback."""
from __future__ import annotations

import contextlib
import logging
import selectors
import shutil
import signal
import socket
import struct
import subprocess
from typing import Callable, Iterator

import h11
import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from dmabot.app.metrics_http import MetricsPage, MetricsServer, render_registry
from dmabot.io.http import DEFAULT_MAX_HEAD_BYTES, HttpRefused, HttpRequestReader
from dmabot.io.reactor import ManualClock, Reactor

BODY = b"# HELP up Whether the engine is up.\n# TYPE up gauge\nup 1.0\n"


def render() -> bytes:
    return BODY


def request_bytes(method: str = "GET", target: str = "/metrics", headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    head = f"{method} {target} HTTP/1.1\r\nHost: test\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers)
    return (head + "\r\n").encode()


def parse_responses(raw: bytes, methods: list[str]) -> list[tuple[h11.Response, bytes]]:
    """Read one response per request method out of `raw`; fail if any is incomplete."""
    client = h11.Connection(h11.CLIENT)
    client.receive_data(raw)
    responses = []
    for i, method in enumerate(methods):
        if i:
            client.start_next_cycle()
        # h11 frames a response by the request it answers (HEAD has no body).
        client.send(h11.Request(method=method, target="/", headers=[("Host", "test")]))
        client.send(h11.EndOfMessage())
        response, body = None, b""
        while not isinstance(event := client.next_event(), h11.EndOfMessage):
            assert event is not h11.NEED_DATA, "incomplete response"
            if isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
        assert response is not None
        responses.append((response, body))
    return responses


class Conversation:
    """The page over an `HttpRequestReader`, sans-IO: every request bytes complete is answered."""

    def __init__(self, render: Callable[[], bytes], max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES) -> None:
        self.page = MetricsPage(render)
        self.reader = HttpRequestReader(max_head_bytes)

    @property
    def must_close(self) -> bool:
        return self.reader.must_close

    def receive_data(self, data: bytes) -> bytes:
        self.reader.receive_data(data)
        out = b""
        while (item := self.reader.next_request()) is not None:
            if isinstance(item, HttpRefused):
                return out + item.data
            out += self.reader.respond(item, self.page(item))
        return out


def header(response: h11.Response, name: bytes) -> bytes | None:
    return dict(response.headers).get(name)


# -- protocol: plain bytes -------------------------------------------------------------


@pytest.mark.parametrize("target", ["/", "/metrics", "/metrics?name[]=up"])
def test_get_serves_the_rendered_page(target: str) -> None:
    protocol = Conversation(render)
    [(response, body)] = parse_responses(protocol.receive_data(request_bytes("GET", target)), ["GET"])
    assert response.status_code == 200
    assert body == BODY
    assert header(response, b"content-type") == CONTENT_TYPE_LATEST.encode()
    assert header(response, b"content-length") == str(len(BODY)).encode()
    assert not protocol.must_close


def test_head_gets_the_headers_of_get_and_no_body() -> None:
    protocol = Conversation(render)
    raw = protocol.receive_data(request_bytes("HEAD", "/"))
    [(response, body)] = parse_responses(raw, ["HEAD"])
    assert response.status_code == 200
    assert header(response, b"content-length") == str(len(BODY)).encode()
    assert body == b""
    assert raw.endswith(b"\r\n\r\n")


def test_unknown_path_is_404() -> None:
    protocol = Conversation(render)
    [(response, body)] = parse_responses(protocol.receive_data(request_bytes("GET", "/nope")), ["GET"])
    assert response.status_code == 404
    assert body == b"404 Not Found\n"
    assert not protocol.must_close


def test_other_method_is_405_with_allow_and_its_body_is_skipped() -> None:
    protocol = Conversation(render)
    post = request_bytes("POST", "/metrics", (("Content-Length", "5"),)) + b"hello"
    raw = protocol.receive_data(post + request_bytes("GET"))
    [(refused, _), (served, body)] = parse_responses(raw, ["POST", "GET"])
    assert refused.status_code == 405
    assert header(refused, b"allow") == b"GET, HEAD"
    assert (served.status_code, body) == (200, BODY)


def test_garbage_gets_400_then_close() -> None:
    protocol = Conversation(render)
    [(response, _)] = parse_responses(protocol.receive_data(b"\x16\x03\x01 not http\r\n\r\n"), ["GET"])
    assert response.status_code == 400
    assert header(response, b"connection") == b"close"
    assert protocol.must_close
    assert protocol.receive_data(request_bytes()) == b""


def test_oversized_request_head_is_refused_without_buffering_it() -> None:
    protocol = Conversation(render, max_head_bytes=1024)
    raw = protocol.receive_data(b"GET /metrics HTTP/1.1\r\nX-Filler: " + b"a" * 2048)
    [(response, _)] = parse_responses(raw, ["GET"])
    assert response.status_code == 431
    assert protocol.must_close


def test_pipelined_requests_in_one_chunk_get_responses_in_order() -> None:
    protocol = Conversation(render)
    raw = protocol.receive_data(request_bytes("GET", "/") + request_bytes("GET", "/missing") + request_bytes("HEAD"))
    statuses = [(r.status_code, body) for r, body in parse_responses(raw, ["GET", "GET", "HEAD"])]
    assert statuses == [(200, BODY), (404, b"404 Not Found\n"), (200, b"")]
    assert not protocol.must_close


def test_connection_close_is_honoured() -> None:
    protocol = Conversation(render)
    raw = protocol.receive_data(request_bytes(headers=(("Connection", "close"),)) + request_bytes())
    [(response, body)] = parse_responses(raw, ["GET"])
    assert (response.status_code, body) == (200, BODY)
    assert header(response, b"connection") == b"close"
    assert protocol.must_close
    assert raw.count(b"HTTP/1.1") == 1  # the request after the close is not answered


def test_request_split_byte_by_byte() -> None:
    protocol = Conversation(render)
    request = request_bytes()
    outputs = [protocol.receive_data(request[i : i + 1]) for i in range(len(request))]
    assert outputs[:-1] == [b""] * (len(request) - 1)
    [(response, body)] = parse_responses(outputs[-1], ["GET"])
    assert (response.status_code, body) == (200, BODY)


@pytest.mark.parametrize("before_eof", [b"", b"GET /met", request_bytes()])
def test_eof_means_close(before_eof: bytes) -> None:
    protocol = Conversation(render)
    protocol.receive_data(before_eof)
    protocol.receive_data(b"")
    assert protocol.must_close


def test_failing_render_is_500_and_the_connection_survives(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> bytes:
        raise RuntimeError("collector broke")

    protocol = Conversation(broken)
    [(response, _)] = parse_responses(protocol.receive_data(request_bytes()), ["GET"])
    assert response.status_code == 500
    assert not protocol.must_close
    assert "rendering metrics failed" in caplog.text


# -- server: loopback sockets, driven by the reactor in this thread ----------------------


@contextlib.contextmanager
def fail_after(seconds: float) -> Iterator[None]:
    """Turn a hang, including a reactor blocked inside a system call, into a failure."""

    def expire(_signum: int, _frame: object) -> None:
        pytest.fail(f"still waiting after {seconds} s: is the reactor blocked?")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_until(reactor: Reactor, done: Callable[[], bool]) -> None:
    """Run reactor iterations in this thread until `done()`."""
    with fail_after(5.0):
        while not done():
            # bound the real-clock select so `done` is polled even when nothing is due
            tick = None if reactor.clock.virtual else reactor.call_later(10_000_000, lambda: None)
            reactor.run_once()
            if tick is not None:
                tick.cancel()


def registered_events(reactor: Reactor) -> list[int]:
    # The reactor has no public view of its registrations; its selector is the truth.
    return [key.events for key in reactor._selector.get_map().values()]


class Client:
    """A non-blocking HTTP client, polled from `run_until` conditions."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setblocking(False)
        self.conn = h11.Connection(h11.CLIENT)

    def request(self, target: str = "/metrics") -> None:
        if self.conn.our_state is h11.DONE:
            self.conn.start_next_cycle()
        head = self.conn.send(h11.Request(method="GET", target=target, headers=[("Host", "test")]))
        self.sock.sendall(head + self.conn.send(h11.EndOfMessage()))

    def read_response(self, reactor: Reactor) -> tuple[h11.Response, bytes]:
        events: list[h11.Event] = []

        def complete() -> bool:
            try:
                self.conn.receive_data(self.sock.recv(1 << 20))
            except BlockingIOError:
                pass
            while isinstance(event := self.conn.next_event(), h11.Event):
                events.append(event)
                if isinstance(event, h11.EndOfMessage):
                    return True
            return False

        run_until(reactor, complete)
        [response] = [e for e in events if isinstance(e, h11.Response)]
        return response, b"".join(e.data for e in events if isinstance(e, h11.Data))

    def closed_by_server(self) -> bool:
        try:
            return self.sock.recv(1 << 20) == b""
        except BlockingIOError:
            return False
        except ConnectionResetError:
            return True


@pytest.fixture
def reactor(request: pytest.FixtureRequest) -> Iterator[Reactor]:
    reactor = Reactor(ManualClock() if getattr(request, "param", None) == "manual clock" else None)
    yield reactor
    reactor.close()


@pytest.fixture
def serve(reactor: Reactor) -> Iterator[Callable[..., MetricsServer]]:
    servers: list[MetricsServer] = []

    def start(render: Callable[[], bytes], **options: int) -> MetricsServer:
        servers.append(MetricsServer(reactor, "127.0.0.1", 0, render, **options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def connect() -> Iterator[Callable[..., Client]]:
    clients: list[Client] = []

    def open_client(port: int) -> Client:
        clients.append(Client(port))
        return clients[-1]

    yield open_client
    for client in clients:
        client.sock.close()


@pytest.fixture
def registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("dmabot_orders", "Orders sent to gateways.", ["gateway"], registry=registry).labels("mock").inc(3)
    position = Gauge("dmabot_position", "Net position in base units.", ["symbol"], registry=registry)
    position.labels("BTCUSDT").set(0.5)
    position.labels("ETHUSDT").set(-2)
    latency = Histogram("dmabot_tick_to_order_seconds", "Tick to order latency.", registry=registry)
    latency.observe(0.00042)
    return registry


def test_scrape_over_loopback_with_keep_alive(
    reactor: Reactor, serve: Callable[..., MetricsServer], connect: Callable[..., Client],
    registry: CollectorRegistry, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="dmabot.metrics"):
        server = serve(render_registry(registry))
    assert f"metrics listening on http://127.0.0.1:{server.port}/ (and /metrics)" in caplog.messages
    client = connect(server.port)
    for target in ("/metrics", "/"):
        client.request(target)
        response, body = client.read_response(reactor)
        assert response.status_code == 200
        assert header(response, b"content-type") == CONTENT_TYPE_LATEST.encode()
        assert body == generate_latest(registry)
    assert b'dmabot_orders_total{gateway="mock"} 3.0' in body
    assert b'dmabot_position{symbol="ETHUSDT"} -2.0' in body
    assert b"dmabot_tick_to_order_seconds_count 1.0" in body
    assert server.connection_count == 1


def test_scraped_page_passes_promtool(
    reactor: Reactor, serve: Callable[..., MetricsServer], connect: Callable[..., Client],
    registry: CollectorRegistry,
) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: install the Debian package `prometheus` (apt-get install prometheus)")
    client = connect(serve(render_registry(registry)).port)
    client.request()
    _, body = client.read_response(reactor)
    check = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def test_client_that_never_reads_does_not_stall_the_reactor(
    reactor: Reactor, serve: Callable[..., MetricsServer], connect: Callable[..., Client],
) -> None:
    # More than the socket buffers hold while the client does not read (the kernel only
    # grows a receive window as the application reads from it).
    big = b"x" * (8 << 20)
    server = serve(lambda: big)
    stuck = connect(server.port)
    stuck.request()
    run_until(reactor, lambda: any(events & selectors.EVENT_WRITE for events in registered_events(reactor)))

    fired: list[bool] = []
    reactor.call_later(0, fired.append, True)
    run_until(reactor, lambda: bool(fired))
    other = connect(server.port)
    other.request()
    assert other.read_response(reactor)[1] == big

    response, body = stuck.read_response(reactor)  # the stuck client wakes up and gets it all
    assert (response.status_code, body) == (200, big)


@pytest.mark.parametrize("hang_up", ["fin", "rst"])
def test_client_gone_mid_request_is_cleaned_up(
    reactor: Reactor, serve: Callable[..., MetricsServer], connect: Callable[..., Client], hang_up: str,
) -> None:
    server = serve(render)
    client = connect(server.port)
    run_until(reactor, lambda: server.connection_count == 1)
    client.sock.sendall(b"GET /metr")
    if hang_up == "rst":
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.sock.close()
    run_until(reactor, lambda: server.connection_count == 0)
    assert registered_events(reactor) == [selectors.EVENT_READ]  # the listener alone


def test_connections_beyond_the_limit_are_refused(
    reactor: Reactor, serve: Callable[..., MetricsServer], connect: Callable[..., Client],
) -> None:
    server = serve(render, max_connections=1)
    first = connect(server.port)
    run_until(reactor, lambda: server.connection_count == 1)
    second = connect(server.port)
    run_until(reactor, second.closed_by_server)
    first.request()
    assert first.read_response(reactor)[1] == BODY


@pytest.mark.parametrize("reactor", ["manual clock"], indirect=True)
def test_idle_connection_is_closed_after_the_timeout(
    reactor: Reactor, serve: Callable[..., MetricsServer], connect: Callable[..., Client],
) -> None:
    timeout_ns = 5 * 10**9
    server = serve(render, idle_timeout_ns=timeout_ns)
    silent = connect(server.port)
    run_until(reactor, lambda: server.connection_count == 1)
    accepted_at = reactor.now()
    run_until(reactor, silent.closed_by_server)
    assert reactor.now() - accepted_at >= timeout_ns
    run_until(reactor, lambda: server.connection_count == 0)  # connection_lost comes a callback later
    assert registered_events(reactor) == [selectors.EVENT_READ]


@pytest.mark.parametrize("reactor", ["manual clock"], indirect=True)
def test_activity_postpones_the_idle_timeout(
    reactor: Reactor, serve: Callable[..., MetricsServer], connect: Callable[..., Client],
) -> None:
    timeout_ns = 5 * 10**9
    server = serve(render, idle_timeout_ns=timeout_ns)
    client = connect(server.port)
    run_until(reactor, lambda: server.connection_count == 1)
    accepted_at = reactor.now()
    reactor.call_later(timeout_ns // 2, client.sock.sendall, b"GET /metr")
    run_until(reactor, client.closed_by_server)
    assert reactor.now() - accepted_at > timeout_ns


# -- hostile clients: the reactor keeps its timers running ---------------------------------


class Ticks:
    """A timer re-armed for every loop iteration, as the engine's feed and housekeeping are;
    it notes how many pages were rendered between two of its runs."""

    def __init__(self, reactor: Reactor, rendered: Callable[[], int]) -> None:
        self._reactor = reactor
        self._rendered = rendered
        self._last = rendered()
        self.count = 0
        self.most_renders_between = 0
        self._timer = reactor.call_soon(self._tick)

    def _tick(self) -> None:
        self.count += 1
        self._note_renders()
        self._timer = self._reactor.call_soon(self._tick)

    def _note_renders(self) -> None:
        now = self._rendered()
        self.most_renders_between = max(self.most_renders_between, now - self._last)
        self._last = now

    def stop(self) -> None:
        self._timer.cancel()
        self._note_renders()  # those since the last run count too


class CountingPage:
    """A render whose page says how many times it was rendered."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> bytes:
        self.count += 1
        return b"rendered %d\n" % self.count


def read_all(reactor: Reactor, client: Client, methods: list[str]) -> list[tuple[h11.Response, bytes]]:
    """Run the reactor until `client` holds one whole response per request, then parse them."""
    raw = bytearray()

    def complete() -> bool:
        try:
            raw.extend(client.sock.recv(1 << 20))
        except BlockingIOError:
            pass
        return raw.count(b"HTTP/1.1 ") >= len(methods) and raw.endswith(b"\n")

    run_until(reactor, complete)
    return parse_responses(bytes(raw), methods)


@pytest.mark.parametrize("sockets", [1, 5])
def test_pipelined_burst_is_served_a_few_requests_per_callback_in_order(
    reactor: Reactor, serve: Callable[..., MetricsServer], connect: Callable[..., Client], sockets: int,
) -> None:
    page = CountingPage()
    server = serve(page)
    clients = [connect(server.port) for _ in range(sockets)]
    run_until(reactor, lambda: server.connection_count == sockets)
    ticks = Ticks(reactor, lambda: page.count)
    burst = request_bytes() * 1000  # 34 KB, one send
    for client in clients:
        client.sock.sendall(burst)
    bodies = [[body for _, body in read_all(reactor, client, ["GET"] * 1000)] for client in clients]
    ticks.stop()
    assert page.count == 1000 * sockets
    for served in bodies:  # each client's in the order it asked, numbered as rendered
        numbers = [int(body.split()[1]) for body in served]
        assert numbers == sorted(numbers)
    # Before, one callback rendered every request of a read: the timer waited for all 1,000.
    assert ticks.most_renders_between <= 16 * sockets
    assert ticks.count >= 1000 * sockets // (16 * sockets)


@pytest.mark.parametrize("reactor", ["manual clock"], indirect=True)
def test_slowloris_is_closed_a_request_timeout_after_its_first_byte(
    reactor: Reactor, serve: Callable[..., MetricsServer], connect: Callable[..., Client],
) -> None:
    idle_timeout_ns = 5 * 10**9  # each drip comes well within it
    request_timeout_ns = 10 * 10**9  # the server's default
    server = serve(render, max_connections=9, idle_timeout_ns=idle_timeout_ns)
    loris = [connect(server.port) for _ in range(8)]
    run_until(reactor, lambda: server.connection_count == 8)
    started = reactor.now()
    head = b"GET /metrics HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"a" * 1000

    def drip(i: int) -> None:
        with contextlib.suppress(OSError):  # closed by the server: the drip ends
            for client in loris:
                client.sock.send(head[i : i + 1])
            if i + 1 < len(head):
                reactor.call_later(10**9, drip, i + 1)

    drip(0)
    reactor.call_later(idle_timeout_ns, lambda: None)
    run_until(reactor, lambda: reactor.now() >= started + request_timeout_ns // 2)
    normal = connect(server.port)  # the ninth slot, while the slow ones hold theirs
    normal.request()
    assert normal.read_response(reactor)[1] == BODY

    run_until(reactor, lambda: all(client.closed_by_server() for client in loris))
    assert reactor.now() - started <= request_timeout_ns + 10**9  # from the first byte, not the last
    run_until(reactor, lambda: server.connection_count <= 1)  # the normal client may be gone idle
    late = [connect(server.port) for _ in range(8)]  # the slots are free again
    for client in late:
        client.request()
        assert client.read_response(reactor)[1] == BODY


def test_oversized_request_head_over_a_socket_is_431_and_closed(
    reactor: Reactor, serve: Callable[..., MetricsServer], connect: Callable[..., Client],
) -> None:
    server = serve(render, max_head_bytes=1024)
    client = connect(server.port)
    client.sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: test\r\nX-Filler: " + b"a" * 4096)
    raw = bytearray()

    def closed() -> bool:
        try:
            data = client.sock.recv(1 << 20)
        except BlockingIOError:
            return False
        except ConnectionResetError:
            return True
        raw.extend(data)
        return data == b""

    run_until(reactor, closed)
    [(response, _)] = parse_responses(bytes(raw), ["GET"])
    assert response.status_code == 431
    assert header(response, b"connection") == b"close"

"""dmabot.io.server over loopback: the listener's connection limit (plain and TLS) and the
HTTP connection's limits, with a plain handler; the metrics page's hostile-client tests are
in tests/unit/app/test_metrics_http.py."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from dmabot.io.http import HttpRequest, HttpResponse
from dmabot.io.reactor import Reactor
from dmabot.io.server import HttpServerConnection, ListenError, Server
from dmabot.io.transport import Transport, TransportError, server_tls_context
from tests.helpers.sim_clients import run_until


class Hello:
    """Answers each request with its target."""

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse(200, request.target)


class Echo:
    def __init__(self) -> None:
        self.transport: Transport | None = None
        self.lost = False

    def connection_made(self, transport: Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def connection_lost(self, exc: TransportError | None) -> None:
        self.lost = True

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass


@pytest.fixture
def reactor() -> Iterator[Reactor]:
    reactor = Reactor()
    yield reactor
    reactor.close()


def recv_or_closed(sock: socket.socket) -> bytes | None:
    """What the peer sent so far; None once it closed."""
    try:
        data = sock.recv(1 << 16)
    except BlockingIOError:
        return b""
    except ConnectionResetError:
        return None
    return data or None


def client(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


def echo_round_trip(reactor: Reactor, sock: socket.socket, data: bytes) -> None:
    sock.sendall(data)
    got = bytearray()

    def done() -> bool:
        chunk = recv_or_closed(sock)
        assert chunk is not None, "closed by the server"
        got.extend(chunk)
        return len(got) >= len(data)

    run_until(reactor, done)
    assert got == data


def test_connections_past_the_limit_are_closed_and_the_others_keep_working(reactor: Reactor) -> None:
    server = Server(reactor, "127.0.0.1", 0, Echo, max_connections=3)
    kept = [client(server.port) for _ in range(3)]
    run_until(reactor, lambda: server.connection_count == 3)
    extra = [client(server.port) for _ in range(4)]
    run_until(reactor, lambda: all(recv_or_closed(sock) is None for sock in extra))
    for sock in kept:
        echo_round_trip(reactor, sock, b"still here")
    kept[0].close()
    run_until(reactor, lambda: server.connection_count == 2)
    again = client(server.port)  # the freed slot takes a new connection
    echo_round_trip(reactor, again, b"a new one")
    server.close()
    run_until(reactor, lambda: all(recv_or_closed(sock) is None for sock in [*kept[1:], again]))
    assert server.connection_count == 0


def test_a_failed_tls_handshake_frees_its_slot(reactor: Reactor, tmp_path: Path) -> None:
    ca = trustme.CA()
    pem = str(tmp_path / "server.pem")
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(pem)
    server = Server(reactor, "127.0.0.1", 0, Echo, tls=server_tls_context(pem, pem), max_connections=1)
    garbage = client(server.port)
    garbage.sendall(b"GET / HTTP/1.1\r\n\r\n")  # not a TLS ClientHello
    run_until(reactor, lambda: recv_or_closed(garbage) is None)
    run_until(reactor, lambda: server.connection_count == 0)
    context = ssl.create_default_context(cafile=None)
    ca.configure_trust(context)
    raw = socket.create_connection(("127.0.0.1", server.port))
    raw.setblocking(False)
    tls = context.wrap_socket(raw, server_hostname="127.0.0.1", do_handshake_on_connect=False)

    def handshake_done() -> bool:
        try:
            tls.do_handshake()
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        return True

    run_until(reactor, handshake_done)
    tls.sendall(b"over tls")
    got = bytearray()

    def echoed() -> bool:
        try:
            got.extend(tls.recv(100))
        except ssl.SSLWantReadError:
            pass
        return len(got) >= 8

    run_until(reactor, echoed)
    assert got == b"over tls"
    tls.close()
    server.close()


def test_a_port_taken_is_a_listen_error_and_an_os_error(reactor: Reactor) -> None:
    server = Server(reactor, "127.0.0.1", 0, Echo)
    with pytest.raises(ListenError, match=rf"cannot listen on 127\.0\.0\.1:{server.port}: ") as raised:
        Server(reactor, "127.0.0.1", server.port, Echo)
    assert isinstance(raised.value, OSError) and raised.value.strerror
    server.close()


def test_http_connections_take_turns_with_pipelined_bursts(reactor: Reactor) -> None:
    answered: list[int] = []

    def handler(request: HttpRequest) -> HttpResponse:
        answered.append(int(request.target[1:]) // 1000)  # which client asked
        return HttpResponse(200, request.target)

    server = Server(reactor, "127.0.0.1", 0, lambda: HttpServerConnection(reactor, handler))
    socks = [client(server.port) for _ in range(2)]
    run_until(reactor, lambda: server.connection_count == 2)
    for n, sock in enumerate(socks):
        sock.sendall(b"".join(b"GET /%d HTTP/1.1\r\nHost: t\r\n\r\n" % (n * 1000 + i) for i in range(200)))
    got = [bytearray(), bytearray()]

    def all_answered() -> bool:
        for sock, buf in zip(socks, got):
            buf.extend(recv_or_closed(sock) or b"")
        return all(buf.count(b"HTTP/1.1 200") == 200 for buf in got)

    run_until(reactor, all_answered)
    # each request's body is its target: the answers of one client come back in its order
    for n, buf in enumerate(got):
        bodies = [part.split(b"HTTP/1.1")[0] for part in buf.split(b"\r\n\r\n")[1:]]
        assert bodies == [b"/%d" % (n * 1000 + i) for i in range(200)]
    # neither client waited for all of the other's 200: their requests were answered interleaved
    first_of_second = answered.index(1)
    assert first_of_second < 50 and answered[first_of_second:].count(0) > 100
    server.close()


def test_a_handler_that_raises_costs_its_request_a_500(reactor: Reactor) -> None:
    def handler(request: HttpRequest) -> HttpResponse:
        if request.target == b"/boom":
            raise RuntimeError("broken handler")
        return HttpResponse(200, b"fine")

    server = Server(reactor, "127.0.0.1", 0, lambda: HttpServerConnection(reactor, handler))
    sock = client(server.port)
    sock.sendall(b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\nGET /ok HTTP/1.1\r\nHost: t\r\n\r\n")
    got = bytearray()
    run_until(reactor, lambda: got.extend(recv_or_closed(sock) or b"") or got.endswith(b"fine"))
    assert got.startswith(b"HTTP/1.1 500 ") and b"HTTP/1.1 200 " in got
    server.close()

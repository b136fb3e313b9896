"""dmabot.io.transport over real loopback sockets: TLS and plain, client and server on one reactor."""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass

import pytest
import trustme

from dmabot.io.reactor import Reactor
from dmabot.io.server import Server
from dmabot.io.transport import (
    HIGH_WATER,
    LOW_WATER,
    CertificateVerifyError,
    ConnectError,
    ConnectTimeout,
    TLSError,
    TransportError,
    client_tls_context,
    connect,
    resolve,
    server_tls_context,
)
from tests.helpers.sim_clients import ClientBase, open_client, run_until


@dataclass
class Certs:
    cert: str  # server chain + key for 127.0.0.1 and localhost
    ca: str  # the CA that issued it
    other_ca: str  # a CA that did not
    localhost_only: str  # server chain + key naming only "localhost"


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    folder = tmp_path_factory.mktemp("certs")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(folder / "other_ca.pem"))
    ca.issue_cert("127.0.0.1", "localhost").private_key_and_cert_chain_pem.write_to_path(str(folder / "server.pem"))
    ca.issue_cert("localhost").private_key_and_cert_chain_pem.write_to_path(str(folder / "localhost.pem"))
    return Certs(
        str(folder / "server.pem"), str(folder / "ca.pem"), str(folder / "other_ca.pem"), str(folder / "localhost.pem")
    )


class Echo(ClientBase):
    """Server side: echoes what it reads; records pause/resume."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = 0
        self.resumed = 0

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def pause_writing(self) -> None:
        self.paused += 1

    def resume_writing(self) -> None:
        self.resumed += 1


class Collector(ClientBase):
    def __init__(self) -> None:
        super().__init__()
        self.received = bytearray()

    def data_received(self, data: bytes) -> None:
        self.received += data


def start_echo_server(reactor: Reactor, certfile: str | None = None) -> tuple[Server, list[Echo]]:
    accepted: list[Echo] = []

    def factory() -> Echo:
        accepted.append(Echo())
        return accepted[-1]

    tls = server_tls_context(certfile, certfile) if certfile else None
    return Server(reactor, "127.0.0.1", 0, factory, tls=tls), accepted


@pytest.mark.parametrize("use_tls", [False, True], ids=["tcp", "tls"])
def test_large_round_trip_then_clean_close(reactor: Reactor, certs: Certs, use_tls: bool) -> None:
    server, accepted = start_echo_server(reactor, certs.cert if use_tls else None)
    client = open_client(reactor, server.port, Collector(), certs.ca if use_tls else None)
    assert client.transport is not None and not client.lost
    payload = bytes(range(256)) * 16384  # 4 MiB: more than the socket buffers hold
    client.transport.write(payload)
    run_until(reactor, lambda: len(client.received) >= len(payload))
    assert client.received == payload
    client.transport.close()
    run_until(reactor, lambda: client.lost and accepted[0].lost)
    assert client.error is None and accepted[0].error is None
    server.close()


def test_untrusted_certificate_is_reported_clearly(reactor: Reactor, certs: Certs) -> None:
    server, accepted = start_echo_server(reactor, certs.cert)
    client = open_client(reactor, server.port, Collector(), certs.other_ca)
    assert client.lost and client.transport is None
    assert isinstance(client.error, CertificateVerifyError)
    assert re.fullmatch(rf"TLS certificate verification failed for 127\.0\.0\.1:{server.port}: .+", str(client.error))
    # the server side learns of it through connection_lost, without connection_made
    run_until(reactor, lambda: bool(accepted) and accepted[0].lost)
    assert isinstance(accepted[0].error, TLSError) and accepted[0].transport is None


def test_certificate_for_another_name_is_rejected(reactor: Reactor, certs: Certs) -> None:
    server, _ = start_echo_server(reactor, certs.localhost_only)
    client = open_client(reactor, server.port, Collector(), certs.ca)  # dials 127.0.0.1
    assert isinstance(client.error, CertificateVerifyError)
    assert "mismatch" in str(client.error)


def test_sni_and_host_name_check_use_the_given_name(reactor: Reactor, certs: Certs) -> None:
    server, _ = start_echo_server(reactor, certs.localhost_only)
    address = next(a for a in resolve("localhost", server.port) if a.family == socket.AF_INET)
    client = Collector()
    connect(reactor, address, client, tls=client_tls_context(certs.ca))
    run_until(reactor, lambda: client.transport is not None or client.lost)
    assert client.transport is not None, client.error


def test_refused_connection(reactor: Reactor) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = open_client(reactor, port, Collector(), None)
    assert isinstance(client.error, ConnectError)
    assert str(client.error) == f"connection to 127.0.0.1:{port} refused"


def test_handshake_timeout(reactor: Reactor, certs: Certs) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (in the backlog), never answers
        port = silent.getsockname()[1]
        client = Collector()
        connect(
            reactor, resolve("127.0.0.1", port)[0], client, tls=client_tls_context(certs.ca), timeout_ns=200_000_000
        )
        run_until(reactor, lambda: client.lost)
    assert isinstance(client.error, ConnectTimeout)
    assert str(client.error) == f"TLS handshake with 127.0.0.1:{port} timed out after 0.2 s"


def test_pause_writing_bounds_the_buffer_and_resume_follows_the_drain(reactor: Reactor) -> None:
    server, accepted = start_echo_server(reactor)
    with socket.create_connection(("127.0.0.1", server.port)) as reader:
        run_until(reactor, lambda: bool(accepted) and accepted[0].transport is not None)
        echo = accepted[0]
        assert echo.transport is not None
        for _ in range(1000):  # far more than the kernel buffers take
            echo.transport.write(b"x" * 65536)
            if echo.paused:  # a well-behaved protocol stops writing here
                break
        assert echo.paused == 1
        assert HIGH_WATER < echo.transport.write_buffer_size <= HIGH_WATER + 65536
        reader.setblocking(False)

        def drained() -> bool:
            try:
                while reader.recv(1 << 20):
                    pass
            except BlockingIOError:
                pass
            return echo.resumed == 1

        run_until(reactor, drained)
        assert echo.transport.write_buffer_size <= LOW_WATER
    server.close()


def test_server_reports_bind_failure(reactor: Reactor) -> None:
    server, _ = start_echo_server(reactor)
    with pytest.raises(TransportError, match=rf"cannot listen on 127\.0\.0\.1:{server.port}"):
        Server(reactor, "127.0.0.1", server.port, Echo)

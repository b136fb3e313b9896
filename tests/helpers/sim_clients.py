"""Loopback test clients (WebSocket and HTTP over dmabot.io.transport) and reactor stepping."""

from __future__ import annotations

import time
from collections.abc import Callable

import h11
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import AcceptConnection, CloseConnection, Ping, Pong, RejectConnection, Request, TextMessage

from dmabot.io.reactor import Reactor
from dmabot.io.transport import Transport, TransportError, client_tls_context, connect, resolve


def run_until(reactor: Reactor, predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Step `reactor` until `predicate()` holds; fail after a generous deadline."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        wake = reactor.call_later(20_000_000, lambda: None)  # never sleep past our deadline check
        reactor.run_once()
        wake.cancel()


def run_for(reactor: Reactor, seconds: float) -> None:
    end = time.monotonic() + seconds
    run_until(reactor, lambda: time.monotonic() >= end, seconds + 1)


class ClientBase:
    """Records the transport's callbacks."""

    def __init__(self) -> None:
        self.transport: Transport | None = None
        self.lost = False
        self.error: TransportError | None = None

    def connection_made(self, transport: Transport) -> None:
        self.transport = transport

    def connection_lost(self, exc: TransportError | None) -> None:
        self.lost = True
        self.error = exc

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        pass

    def data_received(self, data: bytes) -> None:
        raise NotImplementedError


class WsClient(ClientBase):
    def __init__(self, host: str, target: str, *, answer_pings: bool = True) -> None:
        super().__init__()
        self.ws = WSConnection(ConnectionType.CLIENT)
        self._host = host
        self._target = target
        self.answer_pings = answer_pings
        self.accepted = False
        self.rejected: RejectConnection | None = None
        self.messages: list[str] = []
        self.pings: list[bytes] = []
        self.pongs: list[bytes] = []
        self.close_event: CloseConnection | None = None

    def connection_made(self, transport: Transport) -> None:
        super().connection_made(transport)
        transport.write(self.ws.send(Request(host=self._host, target=self._target)))

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.ws.receive_data(data)
        for event in self.ws.events():
            if isinstance(event, AcceptConnection):
                self.accepted = True
            elif isinstance(event, RejectConnection):
                self.rejected = event
            elif isinstance(event, TextMessage):
                assert event.message_finished
                self.messages.append(event.data)
            elif isinstance(event, Ping):
                self.pings.append(bytes(event.payload))
                if self.answer_pings:
                    self.transport.write(self.ws.send(event.response()))
            elif isinstance(event, Pong):
                self.pongs.append(bytes(event.payload))
            elif isinstance(event, CloseConnection):
                self.close_event = event
                if self.ws.state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING):
                    self.transport.write(self.ws.send(event.response()))
                self.transport.close()

    def send_text(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(self.ws.send(TextMessage(data=text)))

    def send_ping(self, payload: bytes) -> None:
        assert self.transport is not None
        self.transport.write(self.ws.send(Ping(payload=payload)))


class HttpClient(ClientBase):
    """One request at a time over a kept-alive connection."""

    def __init__(self, host: str) -> None:
        super().__init__()
        self.http = h11.Connection(h11.CLIENT)
        self._host = host
        self.response: h11.Response | None = None
        self.body = b""
        self.done = False

    def request(self, method: str, target: str, body: bytes = b"", extra_headers: tuple = ()) -> None:
        assert self.transport is not None
        if self.http.our_state is h11.DONE:
            self.http.start_next_cycle()
        self.response, self.body, self.done = None, b"", False
        headers = [("Host", self._host), ("Content-Length", str(len(body))), *extra_headers]
        if body:
            headers.append(("Content-Type", "application/x-www-form-urlencoded"))
        out = self.http.send(h11.Request(method=method, target=target, headers=headers))
        out += self.http.send(h11.Data(data=body)) if body else b""
        self.transport.write(out + self.http.send(h11.EndOfMessage()))

    def data_received(self, data: bytes) -> None:
        self.http.receive_data(data)
        while True:
            event = self.http.next_event()
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Response):
                self.response = event
            elif isinstance(event, h11.Data):
                self.body += event.data
            elif isinstance(event, h11.EndOfMessage):
                self.done = True
            elif isinstance(event, h11.ConnectionClosed):
                return


def open_client(reactor: Reactor, port: int, client: ClientBase, cafile: str | None, host: str = "127.0.0.1"):
    [address] = resolve(host, port)[:1]
    tls = client_tls_context(cafile) if cafile is not None else None
    connect(reactor, address, client, tls=tls)
    run_until(reactor, lambda: client.transport is not None or client.lost)
    return client


def fetch(reactor: Reactor, client: HttpClient, method: str, target: str, body: bytes = b"") -> HttpClient:
    client.request(method, target, body)
    run_until(reactor, lambda: client.done or client.lost)
    return client

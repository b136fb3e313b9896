"""The metrics HTTP server: Prometheus text exposition over h11, driven by the reactor.

`MetricsHttpProtocol` is sans-IO (bytes in, bytes out, one per connection), so every HTTP
behaviour is tested with plain bytes. `MetricsServer` is the driver: a non-blocking
listening socket on the reactor that feeds each connection's bytes to its protocol and
writes back what it returns. It never blocks: unsent bytes wait for the socket to become
writable, and a connection that makes no progress for `idle_timeout_ns` is closed.
"""
from __future__ import annotations

import logging
import socket
from http import HTTPStatus
from typing import Callable

import h11
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from dmabot.io.reactor import Reactor

log = logging.getLogger("dmabot.metrics")

METRICS_PATHS = frozenset({b"/", b"/metrics"})
ALLOWED_METHODS = b"GET, HEAD"
TEXT_PLAIN = b"text/plain; charset=utf-8"
DEFAULT_MAX_HEAD_BYTES = 8 * 1024
DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_IDLE_TIMEOUT_NS = 30 * 10**9
RECV_BYTES = 64 * 1024

_Headers = tuple[tuple[bytes, bytes], ...]

# Past these states h11 will not start another request/response cycle.
_FINAL_STATES = frozenset({h11.MUST_CLOSE, h11.CLOSED, h11.ERROR})


def render_registry(registry: CollectorRegistry) -> Callable[[], bytes]:
    """A `render` callable giving the registry's text exposition as of each call."""
    return lambda: generate_latest(registry)


class MetricsHttpProtocol:
    """The HTTP/1.1 server side of one connection serving the metrics page; sans-IO.

    GET or HEAD on ``/`` or ``/metrics`` (query ignored) answers with `render()`; other
    paths get 404, other methods 405, malformed requests h11's suggested 4xx and a close.
    Keep-alive and pipelining are supported; an incomplete request head larger than
    `max_head_bytes` is refused (431), so a client cannot grow our buffer.
    """

    def __init__(self, render: Callable[[], bytes], max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES) -> None:
        self._render = render
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=max_head_bytes)

    @property
    def must_close(self) -> bool:
        """True once no further request can be served: send what is left, then close."""
        return self._conn.our_state in _FINAL_STATES or self._conn.their_state in _FINAL_STATES

    def receive_data(self, data: bytes) -> bytes:
        """Take bytes from the peer (``b""`` at EOF); return every response they complete.

        Data received once `must_close` is True is ignored.
        """
        if self.must_close:
            return b""
        self._conn.receive_data(data)
        out: list[bytes] = []
        while not self.must_close:
            if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
                self._conn.start_next_cycle()
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                out += self._refuse(exc.error_status_hint)
                break
            if event is h11.NEED_DATA or event is h11.PAUSED:
                break
            if isinstance(event, h11.Request):
                # Answered at once: a request body, if any, is read and dropped afterwards.
                out += self._respond(event)
        return b"".join(out)

    def _respond(self, request: h11.Request) -> list[bytes]:
        with_body = request.method != b"HEAD"
        if request.method not in (b"GET", b"HEAD"):
            return self._plain(HTTPStatus.METHOD_NOT_ALLOWED, with_body, ((b"Allow", ALLOWED_METHODS),))
        if request.target.partition(b"?")[0] not in METRICS_PATHS:
            return self._plain(HTTPStatus.NOT_FOUND, with_body)
        try:
            body = self._render()
        except Exception:  # a failing collector must cost one scrape, not the engine
            log.exception("rendering metrics failed")
            return self._plain(HTTPStatus.INTERNAL_SERVER_ERROR, with_body)
        return self._response(HTTPStatus.OK, CONTENT_TYPE_LATEST.encode(), body, with_body)

    def _refuse(self, status: int) -> list[bytes]:
        # h11 can still answer if the bad bytes came before we started a response.
        if self._conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return []
        return self._plain(HTTPStatus(status), True, ((b"Connection", b"close"),))

    def _plain(self, status: HTTPStatus, with_body: bool, extra_headers: _Headers = ()) -> list[bytes]:
        body = f"{status.value} {status.phrase}\n".encode()
        return self._response(status, TEXT_PLAIN, body, with_body, extra_headers)

    def _response(
        self,
        status: HTTPStatus,
        content_type: bytes,
        body: bytes,
        with_body: bool,
        extra_headers: _Headers = (),
    ) -> list[bytes]:
        # HEAD gets the same headers as GET (Content-Length included) and no body.
        headers = [(b"Content-Type", content_type), (b"Content-Length", b"%d" % len(body)), *extra_headers]
        response = h11.Response(status_code=status.value, reason=status.phrase.encode(), headers=headers)
        out = [self._conn.send(response)]
        if with_body:
            out.append(self._conn.send(h11.Data(data=body)))
        out.append(self._conn.send(h11.EndOfMessage()))
        return out


class MetricsServer:
    """Serve the metrics page on `host`:`port` (0 picks a free port) from the reactor.

    At most `max_connections` at once (extra ones are closed on accept); a connection
    that neither sends nor takes bytes for `idle_timeout_ns` is closed.
    """

    def __init__(
        self,
        reactor: Reactor,
        host: str,
        port: int,
        render: Callable[[], bytes],
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        idle_timeout_ns: int = DEFAULT_IDLE_TIMEOUT_NS,
        max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES,
    ) -> None:
        self._reactor = reactor
        self._render = render
        self._max_connections = max_connections
        self._idle_timeout_ns = idle_timeout_ns
        self._max_head_bytes = max_head_bytes
        self._connections: set[_Connection] = set()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # create_server sets SO_REUSEADDR (POSIX), so a restart can rebind at once.
        self._listener = socket.create_server((host, port), family=family, backlog=max_connections)
        self._listener.setblocking(False)
        reactor.add_reader(self._listener, self._accept)
        url_host = f"[{host}]" if family == socket.AF_INET6 else host
        log.info("metrics listening on http://%s:%d/ (and /metrics)", url_host, self.port)

    @property
    def port(self) -> int:
        """The bound port (the chosen one when constructed with port 0)."""
        return int(self._listener.getsockname()[1])

    @property
    def connection_count(self) -> int:
        """Connections currently open."""
        return len(self._connections)

    def close(self) -> None:
        """Stop listening and close every connection."""
        self._reactor.remove_reader(self._listener)
        self._listener.close()
        for connection in list(self._connections):
            connection.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:  # e.g. EMFILE: the listener stays readable, retried next poll
                log.warning("metrics accept failed: %s", exc)
                return
            if len(self._connections) >= self._max_connections:
                sock.close()
                continue
            protocol = MetricsHttpProtocol(self._render, self._max_head_bytes)
            connection = _Connection(self._reactor, sock, protocol, self._idle_timeout_ns, self._connections.discard)
            self._connections.add(connection)


class _Connection:
    """One accepted socket: feeds its protocol and writes back without ever blocking."""

    def __init__(
        self,
        reactor: Reactor,
        sock: socket.socket,
        protocol: MetricsHttpProtocol,
        idle_timeout_ns: int,
        on_close: Callable[[_Connection], None],
    ) -> None:
        self._reactor = reactor
        self._sock = sock
        self._protocol = protocol
        self._idle_timeout_ns = idle_timeout_ns
        self._on_close = on_close
        self._outbox = bytearray()
        self._writing = False
        self._closed = False
        sock.setblocking(False)  # accept() does not inherit it from the listener
        # Each response goes out in one send; don't let Nagle hold back its tail.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._last_activity = reactor.now()
        self._idle_timer = reactor.call_later(idle_timeout_ns, self._check_idle)
        reactor.add_reader(sock, self._on_readable)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._idle_timer.cancel()
        self._reactor.remove_reader(self._sock)
        self._reactor.remove_writer(self._sock)
        self._sock.close()
        self._on_close(self)

    def _on_readable(self) -> None:
        try:
            data = self._sock.recv(RECV_BYTES)
        except BlockingIOError:
            return
        except OSError:  # ECONNRESET and the like: nobody left to answer
            self.close()
            return
        self._last_activity = self._reactor.now()
        self._outbox += self._protocol.receive_data(data)
        self._flush()

    def _flush(self) -> None:
        try:
            while self._outbox:
                sent = self._sock.send(self._outbox)
                del self._outbox[:sent]
                self._last_activity = self._reactor.now()
        except BlockingIOError:
            pass
        except OSError:
            self.close()
            return
        if self._outbox:
            self._wait_writable(True)
        elif self._protocol.must_close:
            self.close()
        else:
            self._wait_writable(False)

    def _wait_writable(self, writing: bool) -> None:
        # While output is pending we stop reading, so a client that pipelines requests
        # but never reads holds us to one receive's worth of responses.
        if writing == self._writing:
            return
        self._writing = writing
        if writing:
            self._reactor.remove_reader(self._sock)
            self._reactor.add_writer(self._sock, self._flush)
        else:
            self._reactor.remove_writer(self._sock)
            self._reactor.add_reader(self._sock, self._on_readable)

    def _check_idle(self) -> None:
        # One timer re-armed from the last activity, rather than a cancel and a new timer
        # on every read or write.
        deadline = self._last_activity + self._idle_timeout_ns
        if self._reactor.now() >= deadline:
            self.close()
        else:
            self._idle_timer = self._reactor.call_at(deadline, self._check_idle)

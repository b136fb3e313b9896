"""Listening servers on the reactor, built to survive a hostile client.

`Server` accepts connections (plain TCP, or TLS through `Transport`), at most
`max_connections` at once: one accepted past that is closed at once, and the ones open keep
working. `HttpServerConnection` is the protocol of one HTTP/1.1 connection over
`dmabot.io.http`, with the limits a client cannot talk its way around:

- a request must arrive whole within `request_timeout_ns` of its first byte; bytes dripping
  in do not extend it (a slowloris holds a slot for that long, not for good);
- a connection waiting for its next request is closed after `idle_timeout_ns`;
- at most `REQUESTS_PER_CALLBACK` pipelined requests are answered per reactor callback, the
  rest in later ones (`call_soon`), so a burst of pipelined requests cannot hold up other
  connections or the engine's timers;
- no request is answered while the responses before it wait to be sent past the transport's
  high-water mark, and a client that keeps sending then (requests it does not read the
  answers of) is cut once `MAX_BACKLOG_BYTES` are waiting, so its memory stays bounded.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable

from dmabot.io.http import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_HEAD_BYTES,
    HttpRefused,
    HttpRequest,
    HttpRequestReader,
    HttpResponse,
)
from dmabot.io.reactor import Reactor, TimerHandle
from dmabot.io.transport import (
    DEFAULT_CONNECT_TIMEOUT_NS,
    Transport,
    TransportError,
    TransportProtocol,
    format_hostport,
)

log = logging.getLogger("dmabot.server")

ACCEPT_BATCH = 64
DEFAULT_MAX_CONNECTIONS = 1024
DEFAULT_REQUEST_TIMEOUT_NS = 10 * 10**9
DEFAULT_IDLE_TIMEOUT_NS = 30 * 10**9
REQUESTS_PER_CALLBACK = 8
MAX_BACKLOG_BYTES = 1 << 20


class ListenError(TransportError, OSError):
    """The listening socket could not be bound; an `OSError` too, with the bind's `strerror`."""

    def __init__(self, where: str, exc: OSError) -> None:
        super().__init__(exc.errno, exc.strerror)
        self.message = f"cannot listen on {where}: {exc.strerror}"

    def __str__(self) -> str:
        return self.message


class Server:
    """A listening socket that wraps each accepted connection in a `Transport`.

    `protocol_factory()` is called once per accepted connection. Binding resolves `host`
    and may block: create servers at start-up.
    """

    def __init__(
        self,
        reactor: Reactor,
        host: str,
        port: int,
        protocol_factory: Callable[[], TransportProtocol],
        *,
        tls: ssl.SSLContext | None = None,
        handshake_timeout_ns: int = DEFAULT_CONNECT_TIMEOUT_NS,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        backlog: int = 128,
    ) -> None:
        self._reactor = reactor
        self._protocol_factory = protocol_factory
        self._tls = tls
        self._handshake_timeout_ns = handshake_timeout_ns
        self._max_connections = max_connections
        self._transports: set[Transport] = set()
        try:
            # create_server sets SO_REUSEADDR (POSIX), so a restart can rebind at once.
            self._sock = socket.create_server((host, port), family=_family_of(host), backlog=backlog)
        except OSError as exc:
            raise ListenError(format_hostport(host, port), exc) from exc
        self._sock.setblocking(False)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        reactor.add_reader(self._sock, self._on_acceptable)

    @property
    def connection_count(self) -> int:
        """Connections accepted and not yet closed."""
        return len(self._transports)

    def _on_acceptable(self) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. EMFILE: keep listening, the next accept may work
                log.warning("accept on %s failed: %s", format_hostport(self.host, self.port), exc.strerror)
                return
            if len(self._transports) >= self._max_connections:
                sock.close()
                continue
            sock.setblocking(False)
            peer = format_hostport(addr[0], addr[1])
            protocol = _Counted(self._protocol_factory(), self._transports)
            transport = protocol.transport = Transport(self._reactor, sock, protocol, peer, self._tls)
            self._transports.add(transport)
            transport.start_accepted(self._handshake_timeout_ns)

    def close(self) -> None:
        """Stop accepting and abort every connection still open."""
        self._reactor.remove_reader(self._sock)
        self._sock.close()
        for transport in list(self._transports):
            transport.abort()
        self._transports.clear()


class _Counted:
    """The protocol of one accepted connection, seen by the server only as it closes (a
    failed TLS handshake included): the other callbacks are the protocol's own bound methods,
    so reading and writing pay nothing for it."""

    def __init__(self, protocol: TransportProtocol, open_transports: set[Transport]) -> None:
        self._open = open_transports
        self._lost = protocol.connection_lost
        self.transport: Transport | None = None  # set by the server once it made the transport
        self.connection_made = protocol.connection_made
        self.data_received = protocol.data_received
        self.pause_writing = protocol.pause_writing
        self.resume_writing = protocol.resume_writing

    def connection_lost(self, exc: TransportError | None) -> None:
        if self.transport is not None:
            self._open.discard(self.transport)
        self._lost(exc)


def _family_of(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


HttpHandler = Callable[[HttpRequest], HttpResponse]


class HttpServerConnection:
    """One HTTP/1.1 connection answering each request with `handler(request)`; see the module
    docstring for its limits. A handler that raises costs its request a 500, not the reactor."""

    def __init__(
        self,
        reactor: Reactor,
        handler: HttpHandler,
        *,
        request_timeout_ns: int = DEFAULT_REQUEST_TIMEOUT_NS,
        idle_timeout_ns: int = DEFAULT_IDLE_TIMEOUT_NS,
        max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        self._reactor = reactor
        self._handler = handler
        self._request_timeout_ns = request_timeout_ns
        self._idle_timeout_ns = idle_timeout_ns
        self._reader = HttpRequestReader(max_head_bytes, max_body_bytes)
        self._transport: Transport | None = None
        self._writing_paused = False
        self._serve_scheduled: TimerHandle | None = None
        self._backlog_bytes = 0  # received since the reader last ran dry
        self._request_started: int | None = None  # first byte of the request being read
        self._idle_since = reactor.now()
        self._deadline: TimerHandle | None = None

    # -- transport callbacks -------------------------------------------------------------
    def connection_made(self, transport: Transport) -> None:
        self._transport = transport
        self._idle_since = self._reactor.now()
        self._deadline = self._reactor.call_at(self._idle_since + self._idle_timeout_ns, self._on_deadline)

    def data_received(self, data: bytes) -> None:
        self._reader.receive_data(data)
        self._backlog_bytes += len(data)
        if self._request_started is None:
            self._start_request_clock()
        if self._serve_scheduled is None and not self._writing_paused:
            self._serve()
        elif self._backlog_bytes > MAX_BACKLOG_BYTES:
            log.warning("http peer=%s: %d bytes of requests wait unanswered; closing", self._peer, self._backlog_bytes)
            self._abort()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._serve_scheduled is None:
            self._serve_scheduled = self._reactor.call_soon(self._serve)

    def connection_lost(self, exc: TransportError | None) -> None:
        for timer in (self._deadline, self._serve_scheduled):
            if timer is not None:
                timer.cancel()
        self._deadline = self._serve_scheduled = None
        self._transport = None

    # -- serving -------------------------------------------------------------------------
    def _serve(self) -> None:
        self._serve_scheduled = None
        transport = self._transport
        if transport is None:
            return
        for _ in range(REQUESTS_PER_CALLBACK):
            if self._writing_paused:
                # resume_writing serves on; meanwhile the wait counts against the request
                self._start_request_clock()
                return
            item = self._reader.next_request()
            if item is None:
                break
            if isinstance(item, HttpRefused):
                transport.write(item.data)
                transport.close()
                return
            transport.write(self._reader.respond(item, self._answer(item)))
            self._request_started = None
            if self._reader.must_close:
                break
        else:
            self._serve_scheduled = self._reactor.call_soon(self._serve)
            self._start_request_clock()  # the next pipelined request is read from now
            return
        if self._reader.must_close:
            transport.close()  # sends what is buffered first
            return
        self._backlog_bytes = 0
        if self._reader.partial:
            self._start_request_clock()
        else:
            self._request_started = None
            self._idle_since = self._reactor.now()

    def _answer(self, request: HttpRequest) -> HttpResponse:
        try:
            return self._handler(request)
        except Exception:  # a broken handler must cost one request, not the reactor
            log.exception("http peer=%s %r: handler failed", self._peer, request.target)
            return HttpResponse(500, b"500 Internal Server Error\n", ((b"Content-Type", b"text/plain; charset=utf-8"),))

    # -- timeouts ------------------------------------------------------------------------
    def _start_request_clock(self) -> None:
        if self._request_started is not None:
            return
        self._request_started = now = self._reactor.now()
        due = now + self._request_timeout_ns
        if self._deadline is not None and due < self._deadline.due:
            self._deadline.cancel()
            self._deadline = self._reactor.call_at(due, self._on_deadline)

    def _on_deadline(self) -> None:
        # One timer re-armed at the deadline in force when it fires, rather than a cancel and
        # a new timer on every read.
        if self._request_started is not None:
            due, what = self._request_started + self._request_timeout_ns, "request not complete"
        else:
            due, what = self._idle_since + self._idle_timeout_ns, "idle"
        if self._reactor.now() >= due:
            self._deadline = None
            log.info("http peer=%s: %s after the timeout; closing", self._peer, what)
            self._abort()
        else:
            self._deadline = self._reactor.call_at(due, self._on_deadline)

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    @property
    def _peer(self) -> str:
        return self._transport.peer if self._transport is not None else "?"

"""The metrics HTTP server: Prometheus text exposition on the reactor.

`MetricsPage` is what is served, a plain function of a request (GET or HEAD on ``/`` or
``/metrics``); `MetricsServer` puts it on a `dmabot.io.server.Server`, whose HTTP
connections bound what a scraper, or anyone else who reaches the port, can make us do.
"""
from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Callable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from dmabot.io.http import DEFAULT_MAX_HEAD_BYTES, Headers, HttpRequest, HttpResponse
from dmabot.io.reactor import Reactor
from dmabot.io.server import DEFAULT_IDLE_TIMEOUT_NS, DEFAULT_REQUEST_TIMEOUT_NS, HttpServerConnection, Server

log = logging.getLogger("dmabot.metrics")

METRICS_PATHS = frozenset({b"/", b"/metrics"})
ALLOWED_METHODS = b"GET, HEAD"
TEXT_PLAIN = b"text/plain; charset=utf-8"
DEFAULT_MAX_CONNECTIONS = 64
# a scrape has no body; one that comes is read and dropped, up to this
MAX_BODY_BYTES = 4 * 1024


def render_registry(registry: CollectorRegistry) -> Callable[[], bytes]:
    """A `render` callable giving the registry's text exposition as of each call."""
    return lambda: generate_latest(registry)


class MetricsPage:
    """GET or HEAD on ``/`` or ``/metrics`` (query ignored) answers with `render()`; other
    paths get 404, other methods 405."""

    def __init__(self, render: Callable[[], bytes]) -> None:
        self._render = render

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in (b"GET", b"HEAD"):
            return _plain(HTTPStatus.METHOD_NOT_ALLOWED, ((b"Allow", ALLOWED_METHODS),))
        if request.path not in METRICS_PATHS:
            return _plain(HTTPStatus.NOT_FOUND)
        try:
            body = self._render()
        except Exception:  # a failing collector must cost one scrape, not the engine
            log.exception("rendering metrics failed")
            return _plain(HTTPStatus.INTERNAL_SERVER_ERROR)
        return HttpResponse(HTTPStatus.OK, body, ((b"Content-Type", CONTENT_TYPE_LATEST.encode()),))


def _plain(status: HTTPStatus, extra_headers: Headers = ()) -> HttpResponse:
    body = f"{status.value} {status.phrase}\n".encode()
    return HttpResponse(status.value, body, ((b"Content-Type", TEXT_PLAIN), *extra_headers))


class MetricsServer:
    """Serve the metrics page on `host`:`port` (0 picks a free port) from the reactor.

    At most `max_connections` at once (extra ones are closed on accept); a request must
    arrive whole within `request_timeout_ns` of its first byte, and a connection waiting for
    its next request is closed after `idle_timeout_ns`. Binding raises `OSError`.
    """

    def __init__(
        self,
        reactor: Reactor,
        host: str,
        port: int,
        render: Callable[[], bytes],
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        request_timeout_ns: int = DEFAULT_REQUEST_TIMEOUT_NS,
        idle_timeout_ns: int = DEFAULT_IDLE_TIMEOUT_NS,
        max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES,
    ) -> None:
        page = MetricsPage(render)

        def connection() -> HttpServerConnection:
            return HttpServerConnection(
                reactor, page, request_timeout_ns=request_timeout_ns, idle_timeout_ns=idle_timeout_ns,
                max_head_bytes=max_head_bytes, max_body_bytes=MAX_BODY_BYTES,
            )

        self._server = Server(reactor, host, port, connection, max_connections=max_connections,
                              backlog=max_connections)
        url_host = f"[{host}]" if ":" in host else host
        log.info("metrics listening on http://%s:%d/ (and /metrics)", url_host, self.port)

    @property
    def port(self) -> int:
        """The bound port (the chosen one when constructed with port 0)."""
        return self._server.port

    @property
    def connection_count(self) -> int:
        """Connections currently open."""
        return self._server.connection_count

    def close(self) -> None:
        """Stop listening and close every connection."""
        self._server.close()

"""The metrics HTTP server: Prometheus text exposition over h11.

`MetricsHttpProtocol` is sans-IO (bytes in, bytes out, one per connection), so every HTTP
behaviour is tested with plain bytes.
"""
from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Callable

import h11
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

log = logging.getLogger("dmabot.metrics")

METRICS_PATHS = frozenset({b"/", b"/metrics"})
ALLOWED_METHODS = b"GET, HEAD"
TEXT_PLAIN = b"text/plain; charset=utf-8"
DEFAULT_MAX_HEAD_BYTES = 8 * 1024

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

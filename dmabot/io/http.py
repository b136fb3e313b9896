"""The server side of HTTP/1.1 over h11, sans-IO: bytes in, whole bounded requests out,
responses to bytes. The one copy of this for every server in the package (the metrics page,
the simulator's REST and WebSocket upgrade); `dmabot.io.server` drives it over sockets.

A request is handed out only once it is complete (head and body), so a handler sees every
request whole. The peer cannot grow our buffers: an unfinished request head larger than
`max_head_bytes` is refused with 431 (h11 stops buffering there), a body larger than
`max_body_bytes` with 413; bytes h11 cannot parse get its suggested 4xx (mostly 400). A
refusal always closes the connection, since the stream can no longer be trusted to be in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

import h11

DEFAULT_MAX_HEAD_BYTES = 8 * 1024
DEFAULT_MAX_BODY_BYTES = 64 * 1024

Headers = tuple[tuple[bytes, bytes], ...]

# Past these states h11 will not start another request/response cycle.
_FINAL_STATES = frozenset({h11.MUST_CLOSE, h11.CLOSED, h11.ERROR})


@dataclass(frozen=True)
class HttpRequest:
    method: bytes
    target: bytes
    headers: Headers  # as h11 gives them: names lower-cased
    body: bytes

    @property
    def path(self) -> bytes:
        """The target without its query."""
        return self.target.partition(b"?")[0]


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: Headers = ()  # Content-Length is added when sent


@dataclass(frozen=True)
class HttpRefused:
    """A request that will not be served: send `data` (a 4xx, or nothing), then close."""

    data: bytes


class HttpRequestReader:
    """One server connection's HTTP/1.1 state: `receive_data`, then `next_request` until it
    returns None, answering each request with `respond` before asking for the next."""

    def __init__(
        self, max_head_bytes: int = DEFAULT_MAX_HEAD_BYTES, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    ) -> None:
        self._conn = h11.Connection(h11.SERVER, max_incomplete_event_size=max_head_bytes)
        self._max_body_bytes = max_body_bytes
        self._request: h11.Request | None = None
        self._body = bytearray()

    @property
    def must_close(self) -> bool:
        """True once no further request can be served: send what is left, then close."""
        return self._conn.our_state in _FINAL_STATES or self._conn.their_state in _FINAL_STATES

    @property
    def partial(self) -> bool:
        """Bytes of a request not yet complete are buffered (what a request timeout times)."""
        their_state = self._conn.their_state
        if their_state is h11.IDLE:
            return bool(self._conn.trailing_data[0])  # a copy, but of an unfinished head only
        return their_state is h11.SEND_BODY

    @property
    def trailing_data(self) -> bytes:
        """Bytes received past the last request (what follows a WebSocket upgrade request)."""
        return self._conn.trailing_data[0]

    def receive_data(self, data: bytes) -> None:
        """Take bytes from the peer, ``b""`` at EOF; ignored once `must_close`."""
        if not self.must_close:
            self._conn.receive_data(data)

    def next_request(self) -> HttpRequest | HttpRefused | None:
        """The next complete request, a refusal, or None: more bytes are needed (or `must_close`)."""
        while not self.must_close:
            try:
                event = self._conn.next_event()
            except h11.RemoteProtocolError as exc:
                return self._refuse(exc.error_status_hint, f"{exc}\n".encode())
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return None
            if isinstance(event, h11.Request):
                self._request = event
                self._body.clear()
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > self._max_body_bytes:
                    return self._refuse(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b"request body too large\n")
            elif isinstance(event, h11.EndOfMessage):
                request = self._request
                assert request is not None
                self._request = None
                return HttpRequest(request.method, request.target, tuple(request.headers), bytes(self._body))
        return None

    def respond(self, request: HttpRequest, response: HttpResponse, *, close: bool = False) -> bytes:
        """The bytes of `response` to `request` (a HEAD gets GET's headers and no body); the
        connection is ready for the next request afterwards unless `close` or the peer asked."""
        headers = [*response.headers, (b"Content-Length", b"%d" % len(response.body))]
        if close:
            headers.append((b"Connection", b"close"))
        status = HTTPStatus(response.status)
        out = self._conn.send(h11.Response(status_code=status.value, headers=headers, reason=status.phrase.encode()))
        assert out is not None
        if response.body and request.method != b"HEAD":
            out += self._conn.send(h11.Data(data=response.body)) or b""
        out += self._conn.send(h11.EndOfMessage()) or b""
        if self._conn.our_state is h11.DONE and self._conn.their_state is h11.DONE:
            self._conn.start_next_cycle()
        return out

    def _refuse(self, status: int, body: bytes) -> HttpRefused:
        # h11 can still answer if the bad bytes came before we started a response.
        if self._conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            self._conn.send_failed()
            return HttpRefused(b"")
        phrase = HTTPStatus(status).phrase.encode()
        headers = [(b"Content-Type", b"text/plain; charset=utf-8"), (b"Content-Length", b"%d" % len(body)),
                   (b"Connection", b"close")]
        out = self._conn.send(h11.Response(status_code=status, headers=headers, reason=phrase)) or b""
        out += self._conn.send(h11.Data(data=body)) or b""
        out += self._conn.send(h11.EndOfMessage()) or b""
        return HttpRefused(out)

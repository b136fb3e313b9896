"""Sans-IO HTTP/1.1 keep-alive client for Binance REST: one request in flight, the rest queued.

The driver writes what `RestConnection.data_to_send` returns, feeds what it reads to
`receive_data`, and calls `expire` from a timer at `next_deadline_ns`. Nothing here reads a
clock or touches a socket; every method takes the reactor time.

Requests arrive as finished bytes (`rest_request`), so the send path never goes through h11.
h11 only *parses* the replies: it has to believe it sent a request before it will read a
response, so a stand-in request is passed through its state machine when the reply's first
bytes arrive, not when the real one is written. Only the method would change how a reply is
framed (HEAD), and Binance requests never use it.

What can happen to a request (`Outcome`):

* a `Response` (any status: error bodies are the gateway's to read);
* `RequestFailed` with TIMED_OUT or CONNECTION_LOST: it was written, so the exchange may have
  acted on it. For an order that is "status unknown" (docs/binance.md, REST order entry). A timed-out
  request's reply could still arrive and be taken for the next one's, so a timeout closes the
  connection;
* `RequestFailed` with NOT_SENT: it was queued behind one that failed and never written; safe
  to send again (re-signed: its timestamp is getting old).

`RateLimitState` reads the ``X-MBX-USED-WEIGHT-*`` and ``X-MBX-ORDER-COUNT-*`` headers of every
reply and turns 429 and 418 into waits (docs/binance.md, Rate limits): a 418 (IP ban) or a 429
for request weight (-1003) is a time before which no request at all may be sent, a 429 for
the account's order count (-1015) one before which no new order may be sent, while queries and
cancels go on. The requests queued behind a 429 or 418 come back NOT_SENT; their owner asks
again, re-signed, when the wait allows.
"""

from __future__ import annotations

import enum
import json
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import h11

from dmabot.venues.binance.protocol.wire import RateLimit, RateLimitInterval, RateLimitType

NS_PER_S = 1_000_000_000
DEFAULT_TIMEOUT_NS = 10 * NS_PER_S  # the exchange's own processing timeout is 10 s (-1007)
_STAND_IN = h11.Request(method="POST", target="/", headers=[("Host", "binance"), ("Content-Length", "0")])

Headers = Sequence[tuple[bytes, bytes]]


class ConnectionState(enum.Enum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"  # make a new RestConnection (and socket) to send more


class FailureReason(enum.Enum):
    TIMED_OUT = "TIMED_OUT"
    CONNECTION_LOST = "CONNECTION_LOST"  # peer closed, socket error, or an unparseable reply
    NOT_SENT = "NOT_SENT"

    @property
    def outcome_unknown(self) -> bool:
        """The request reached the wire, so the exchange may have executed it."""
        return self is not FailureReason.NOT_SENT


@dataclass(frozen=True, slots=True)
class Response:
    """A complete reply to the request submitted with `tag`."""

    tag: Any
    status: int
    headers: Headers  # names lower-case, as h11 gives them
    body: bytes
    sent_ns: int  # when the request was handed to the driver: with received_ns, its round trip
    received_ns: int

    def header(self, name: str) -> str | None:
        key = name.lower().encode("ascii")
        return next((v.decode("latin-1") for k, v in self.headers if k == key), None)

    def json(self) -> Any:
        return json.loads(self.body)

    def text(self, limit: int = 200) -> str:
        """The body's first `limit` bytes as text, for a log line (never a ``b'...'`` repr)."""
        return self.body[:limit].decode("utf-8", "replace")


@dataclass(frozen=True, slots=True)
class RequestFailed:
    tag: Any
    reason: FailureReason


Outcome = Response | RequestFailed


class ConnectionClosedError(RuntimeError):
    """A request was submitted to a closed connection."""


class _Pending:
    __slots__ = ("tag", "wire", "deadline_ns", "sent_ns")

    def __init__(self, tag: Any, wire: bytes, deadline_ns: int) -> None:
        self.tag = tag
        self.wire = wire
        self.deadline_ns = deadline_ns
        self.sent_ns = 0


class RestConnection:
    """One keep-alive HTTP/1.1 connection to a Binance REST host."""

    def __init__(self, timeout_ns: int = DEFAULT_TIMEOUT_NS, rate_limits: RateLimitState | None = None) -> None:
        self.timeout_ns = timeout_ns
        self.rate_limits = rate_limits
        self.state = ConnectionState.OPEN
        self._h11 = h11.Connection(h11.CLIENT)
        self._queue: deque[_Pending] = deque()
        self._in_flight: _Pending | None = None
        self._h11_knows_request = False
        self._outbox: list[bytes] = []
        self._status = 0
        self._headers: Headers = ()
        self._body: list[bytes] = []

    @property
    def in_flight(self) -> Any:
        """The tag of the request awaiting its reply, or None."""
        return None if self._in_flight is None else self._in_flight.tag

    @property
    def queued(self) -> int:
        return len(self._queue)

    @property
    def next_deadline_ns(self) -> int | None:
        """When `expire` next has something to do, or None when nothing is pending."""
        # The one in flight was queued first, so its deadline is the earliest unless a request
        # queued behind it was given a shorter timeout.
        in_flight, queue = self._in_flight, self._queue
        if not queue:
            return None if in_flight is None else in_flight.deadline_ns
        deadlines = [p.deadline_ns for p in queue]
        if in_flight is not None:
            deadlines.append(in_flight.deadline_ns)
        return min(deadlines)

    def submit(self, tag: Any, wire: bytes, now_ns: int, timeout_ns: int | None = None) -> None:
        """Queue a finished request; it is written at once if nothing is in flight."""
        if self.state is ConnectionState.CLOSED:
            raise ConnectionClosedError(f"cannot send {tag!r}: the connection is closed")
        deadline = now_ns + (self.timeout_ns if timeout_ns is None else timeout_ns)
        self._queue.append(_Pending(tag, wire, deadline))
        if self._in_flight is None:
            self._send_next(now_ns)

    @property
    def has_data_to_send(self) -> bool:
        return bool(self._outbox)

    def data_to_send(self) -> bytes:
        """Bytes the driver must write now (empty if none)."""
        data = b"".join(self._outbox)
        self._outbox.clear()
        return data

    def receive_data(self, data: bytes, now_ns: int) -> list[Outcome]:
        """Feed bytes read from the socket; ``b""`` means the peer closed."""
        if self.state is ConnectionState.CLOSED:
            return []
        if self._in_flight is not None and not self._h11_knows_request:
            self._h11.send(_STAND_IN)
            self._h11.send(h11.EndOfMessage())
            self._h11_knows_request = True
        outcomes: list[Outcome] = []
        try:
            self._h11.receive_data(data)
            while self.state is ConnectionState.OPEN:
                event = self._h11.next_event()
                if event is h11.NEED_DATA:
                    break
                if isinstance(event, h11.Response):
                    if self._in_flight is None or not self._h11_knows_request:
                        # A reply to nothing we have written: the pairing can no longer be trusted.
                        outcomes += self.close()
                        break
                    self._status, self._headers, self._body = event.status_code, event.headers, []
                elif isinstance(event, h11.Data):
                    self._body.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    outcomes += self._complete(now_ns)
                elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                    # PAUSED here means the server sent more than one reply: nothing to pair it with.
                    outcomes += self.close()
        except h11.RemoteProtocolError:
            # Reply bytes that are not HTTP: whatever was in flight may have been executed.
            outcomes += self.close()
        return outcomes

    def expire(self, now_ns: int) -> list[RequestFailed]:
        """Requests whose deadline passed. A timed-out one in flight closes the connection."""
        if self._in_flight is not None and now_ns >= self._in_flight.deadline_ns:
            timed_out = RequestFailed(self._in_flight.tag, FailureReason.TIMED_OUT)
            self._in_flight = None
            return [timed_out, *self.close()]
        late = [p for p in self._queue if now_ns >= p.deadline_ns]
        for p in late:
            self._queue.remove(p)
        return [RequestFailed(p.tag, FailureReason.NOT_SENT) for p in late]

    def close(self) -> list[RequestFailed]:
        """Close (socket error, shutdown): what was in flight is unknown, the queue unsent."""
        if self.state is ConnectionState.CLOSED:
            return []
        self.state = ConnectionState.CLOSED
        failed = []
        if self._in_flight is not None:
            failed.append(RequestFailed(self._in_flight.tag, FailureReason.CONNECTION_LOST))
            self._in_flight = None
        failed += [RequestFailed(p.tag, FailureReason.NOT_SENT) for p in self._queue]
        self._queue.clear()
        self._outbox.clear()
        return failed

    def _send_next(self, now_ns: int) -> None:
        if not self._queue:
            return
        pending = self._queue.popleft()
        pending.sent_ns = now_ns
        self._in_flight = pending
        self._h11_knows_request = False
        self._outbox.append(pending.wire)

    def _complete(self, now_ns: int) -> list[Outcome]:
        pending = self._in_flight
        assert pending is not None  # a Response event was only accepted with a request in flight
        self._in_flight = None
        response = Response(pending.tag, self._status, self._headers, b"".join(self._body), pending.sent_ns, now_ns)
        if self.rate_limits is not None:
            self.rate_limits.on_response(response.status, response.headers, response.body, now_ns)
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
            if self.rate_limits is not None and response.status in (418, 429):
                # What is queued behind a 429 or 418 is not written into the wait (that is how a
                # 429 becomes a ban). Its owner asks again, re-signed, when the wait allows.
                held = [RequestFailed(p.tag, FailureReason.NOT_SENT) for p in self._queue]
                self._queue.clear()
                return [response, *held]
            self._send_next(now_ns)
            return [response]
        # "Connection: close" or HTTP/1.0: this reply was the connection's last.
        return [response, *self.close()]


# --- rate limits ---------------------------------------------------------------------------


class RateLimitStatus(enum.Enum):
    OPEN = "OPEN"
    SLOW_DOWN = "SLOW_DOWN"  # above the share of a limit the engine allows itself: pace requests
    ORDERS_HELD = "ORDERS_HELD"  # HTTP 429 -1015: no new orders until orders_resume_at_ns
    BACKING_OFF = "BACKING_OFF"  # HTTP 429 -1003: no requests until resume_at_ns
    BANNED = "BANNED"  # HTTP 418: the IP is banned until resume_at_ns


_WEIGHT_PREFIX = b"x-mbx-used-weight-"
_ORDER_COUNT_PREFIX = b"x-mbx-order-count-"
_TOO_MANY_ORDERS = -1015
# Used when a 429/418 comes without Retry-After: the ORDERS window (10 s), the weight window
# (1 min), and the shortest ban (2 min).
_DEFAULT_BACKOFF_NS = {_TOO_MANY_ORDERS: 10 * NS_PER_S, None: 60 * NS_PER_S}
_DEFAULT_BAN_NS = 120 * NS_PER_S
# WebSocket API replies count usage in `rateLimits` instead of headers.
_WS_COUNTS = {RateLimitType.REQUEST_WEIGHT: "used_weight", RateLimitType.ORDERS: "order_count"}


class RateLimitState:
    """Binance's view of our usage, from reply headers, and when requests and orders may resume.

    Counts are per window as the headers name them (``1m``, ``10s``, ``1d``); they are as fresh
    as the last reply. `status` says SLOW_DOWN above `slow_down_at` (a share) of a known limit.
    Two waits: `resume_at_ns` for every request (a 429 -1003, a 418), `orders_resume_at_ns` for
    new orders alone (a 429 -1015, which can last until the day's window ends).
    """

    def __init__(
        self,
        weight_limit_1m: int | None = None,
        order_limit_10s: int | None = None,
        order_limit_1d: int | None = None,
        slow_down_at: float = 0.5,
    ) -> None:
        self.weight_limit_1m = weight_limit_1m
        self.order_limit_10s = order_limit_10s
        self.order_limit_1d = order_limit_1d
        self.slow_down_at = slow_down_at
        self.used_weight: dict[str, int] = {}  # "1m" -> X-MBX-USED-WEIGHT-1M
        self.order_count: dict[str, int] = {}  # "10s", "1d" -> X-MBX-ORDER-COUNT-*
        self.resume_at_ns = 0
        self.orders_resume_at_ns = 0
        self._blocked = RateLimitStatus.OPEN
        self.backoffs = 0
        self.bans = 0

    @classmethod
    def from_exchange_info(cls, limits: Iterable[RateLimit], slow_down_at: float = 0.5) -> RateLimitState:
        """Limits from ``exchangeInfo.rateLimits`` (the live values; the docs' are examples)."""
        found: dict[tuple[RateLimitType, RateLimitInterval, int], int] = {
            (x.kind, x.interval, x.interval_num): x.limit for x in limits
        }
        return cls(
            found.get((RateLimitType.REQUEST_WEIGHT, RateLimitInterval.MINUTE, 1)),
            found.get((RateLimitType.ORDERS, RateLimitInterval.SECOND, 10)),
            found.get((RateLimitType.ORDERS, RateLimitInterval.DAY, 1)),
            slow_down_at,
        )

    @property
    def used_weight_1m(self) -> int | None:
        return self.used_weight.get("1m")

    @property
    def order_count_10s(self) -> int | None:
        return self.order_count.get("10s")

    @property
    def order_count_1d(self) -> int | None:
        return self.order_count.get("1d")

    def status(self, now_ns: int) -> RateLimitStatus:
        if now_ns < self.resume_at_ns:
            return self._blocked
        if now_ns < self.orders_resume_at_ns:
            return RateLimitStatus.ORDERS_HELD
        for used, limit in (
            (self.used_weight_1m, self.weight_limit_1m),
            (self.order_count_10s, self.order_limit_10s),
            (self.order_count_1d, self.order_limit_1d),
        ):
            if used is not None and limit and used >= limit * self.slow_down_at:
                return RateLimitStatus.SLOW_DOWN
        return RateLimitStatus.OPEN

    def may_send(self, now_ns: int) -> bool:
        """False while a request-weight 429 back-off or a 418 ban lasts: no request at all."""
        return now_ns >= self.resume_at_ns

    def may_send_orders(self, now_ns: int) -> bool:
        """False while any wait lasts, an order-count 429 (-1015) included: no new order."""
        return now_ns >= max(self.resume_at_ns, self.orders_resume_at_ns)

    def orders_resume_in_ns(self, now_ns: int) -> int:
        """How long until a new order may be sent (0: now)."""
        return max(0, self.resume_at_ns - now_ns, self.orders_resume_at_ns - now_ns)

    def on_response(self, status: int, headers: Headers, body: bytes, now_ns: int) -> None:
        """Update from one reply (any status)."""
        retry_after_s: int | None = None
        for name, value in headers:
            if name.startswith(_WEIGHT_PREFIX):
                self._count(self.used_weight, name[len(_WEIGHT_PREFIX) :], value)
            elif name.startswith(_ORDER_COUNT_PREFIX):
                self._count(self.order_count, name[len(_ORDER_COUNT_PREFIX) :], value)
            elif name == b"retry-after" and value.isdigit():
                retry_after_s = int(value)
        if status in (418, 429):
            self._limited(status, _error_code(body), None if retry_after_s is None else retry_after_s * NS_PER_S,
                          now_ns)

    def on_ws_api_reply(self, status: int, limits: Iterable[RateLimit], error_code: int | None,
                        wait_ns: int | None, now_ns: int) -> None:
        """Update from one WebSocket API reply: the ``count`` of each of its ``rateLimits``,
        and a 429/418, whose wait the caller works out from ``retryAfter`` (an epoch time in
        the venue's clock, where REST gives seconds)."""
        for x in limits:
            if x.count is not None and x.kind in _WS_COUNTS:
                window = f"{x.interval_num}{x.interval.value[0].lower()}"  # as the headers name it: 1m, 10s
                getattr(self, _WS_COUNTS[x.kind])[window] = x.count
        if status in (418, 429):
            self._limited(status, error_code, wait_ns, now_ns)

    def _limited(self, status: int, error_code: int | None, wait_ns: int | None, now_ns: int) -> None:
        if status == 418:
            self.bans += 1
            self._block(RateLimitStatus.BANNED, now_ns, now_ns + (_DEFAULT_BAN_NS if wait_ns is None else wait_ns))
        else:
            self.backoffs += 1
            if wait_ns is None:
                wait_ns = _DEFAULT_BACKOFF_NS.get(error_code, _DEFAULT_BACKOFF_NS[None])
            if error_code == _TOO_MANY_ORDERS:
                # Only new orders count against the ORDERS limits: queries, reconciliation and
                # cancels go on within the weight limit, and the day's window can last hours.
                self.orders_resume_at_ns = max(self.orders_resume_at_ns, now_ns + wait_ns)
            else:
                self._block(RateLimitStatus.BACKING_OFF, now_ns, now_ns + wait_ns)

    def _block(self, status: RateLimitStatus, now_ns: int, until_ns: int) -> None:
        # A ban still running outranks a back-off, and no reply shortens a wait already set.
        still_banned = now_ns < self.resume_at_ns and self._blocked is RateLimitStatus.BANNED
        self._blocked = RateLimitStatus.BANNED if still_banned else status
        self.resume_at_ns = max(self.resume_at_ns, until_ns)

    @staticmethod
    def _count(counts: dict[str, int], window: bytes, value: bytes) -> None:
        if value.isdigit():
            counts[window.decode("ascii").lower()] = int(value)


def _error_code(body: bytes) -> int | None:
    try:
        code = json.loads(body).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None

"""The Binance gateway's orchestration as a sans-IO state machine.

Events in (`RestConnected`, `RestData`, `RestLost`, `Tick`, `UserSubscribed`, ...), commands
out (`Connect`, `SendRest`, `Report`, `Fatal`, ...): no reactor, no sockets,
every event carries the reactor's time. `dmabot.venues.binance.gateway` executes the commands
on the reactor and the transports and feeds what happens back.

    start:   GET /api/v3/time -> ServerClock, GET /api/v3/exchangeInfo?symbols=[..] -> rules,
             then READY. Orders before READY, or while the connection is down, are rejected
             locally (nothing is sent; an ExecReport REJECTED goes to the pipeline).
    orders:  see `order_entry.OrderEntry`: rounded, checked, registered, then sent; a -1021
             resyncs the clock and resends once; an unknown outcome is queried, never resent.
    close:   reconnect with capped, jittered exponential backoff, resync the clock, READY again.
    outages: after a REST reconnect or a user data resubscription, `reconcile.Reconciler`.

An unknown symbol cannot be traded, and the engine is already running when exchangeInfo
answers: the session names it in `Fatal`, and the engine exits with a config error. Half an
engine trading some symbols is harder to notice. Credentials the venue refuses (-2014, -2015:
the key; -1022: the signature, i.e. the secret or private key does not belong to the key) end
it the same way, on the first signed REST request, order or user data subscription they fail:
asking again cannot succeed.

`TRANSITIONS` is the one table of what each event does in each state; an event a state does
not list is a bug in the driver and raises `InvalidTransition`.
"""
from __future__ import annotations

import enum
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Union

from dmabot.core.types import ExecReport
from dmabot.io.backoff import Backoff
from dmabot.io.reactor import NS
from dmabot.io.url import Target
from dmabot.venues.binance.order_entry import OrderEntry
from dmabot.venues.binance.protocol.balances import BalanceBook
from dmabot.venues.binance.protocol.clock import ClockState, ServerClock, parse_server_time
from dmabot.venues.binance.protocol.orders import VenueInconsistency
from dmabot.venues.binance.protocol.rest_protocol import (
    ConnectionState,
    RateLimitState,
    RateLimitStatus,
    RequestFailed,
    Response,
    RestConnection,
)
from dmabot.venues.binance.protocol.rest_request import RestRequests
from dmabot.venues.binance.protocol.user_events import AccountPosition, BalanceUpdate, ExecutionReport, UserEvent
from dmabot.venues.binance.protocol.wire import ApiError, ErrorCode, ParseError, is_error_body, parse_api_error
from dmabot.venues.binance.protocol.ws_api import WsApiResponse
from dmabot.venues.binance.reconcile import Reconciled, Reconciler
from dmabot.venues.binance.request_kinds import RECONCILIATION, RequestKind, Tag, json_body
from dmabot.venues.binance.rules_loader import RulesLoader
from dmabot.venues.binance.settings import GatewaySettings

log = logging.getLogger("dmabot.gateway.binance")

HOUSEKEEPING_NS = NS // 2  # how often the driver feeds `Tick`
PRUNE_AFTER_NS = 600 * NS  # keep final orders this long so late duplicates are recognised
SYNC_RETRY_NS = 5 * NS  # while syncing, how often a failed time/exchangeInfo request is asked again


class SessionState(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"  # TCP + TLS
    SYNCING = "syncing"  # connected: clock (and, the first time, exchangeInfo) in flight
    READY = "ready"
    WAITING = "waiting"  # backing off before reconnecting
    FAILED = "failed"  # a fact the engine cannot trade with (unknown symbol)
    STOPPED = "stopped"


LIVE = (SessionState.SYNCING, SessionState.READY)  # the REST transport is up


class InvalidTransition(RuntimeError):
    """An event the current state does not expect: the driver fed it wrongly."""


# -- events in ------------------------------------------------------------------------------
class Start(NamedTuple):
    now: int


class RestConnected(NamedTuple):
    now: int


class RestData(NamedTuple):
    data: bytes
    now: int


class RestDeadline(NamedTuple):
    now: int


class RestLost(NamedTuple):
    why: str
    now: int


class ReconnectDue(NamedTuple):
    now: int


class Tick(NamedTuple):
    """Housekeeping, every HOUSEKEEPING_NS: clock resync, queries of unknown orders, pruning."""

    now: int


class UserSubscribed(NamedTuple):
    now: int


class UserEventReceived(NamedTuple):
    event: UserEvent
    now: int


class WsOrderReply(NamedTuple):
    client_id: str
    response: WsApiResponse
    now: int


class WsOrdersLost(NamedTuple):
    client_ids: tuple[str, ...]
    now: int


class UserSubscribeRefused(NamedTuple):
    """The WebSocket API answered ``userDataStream.subscribe.signature`` with an error."""

    error: ApiError
    now: int


class Stop(NamedTuple):
    now: int


Event = Union[Start, RestConnected, RestData, RestDeadline, RestLost, ReconnectDue, Tick, UserSubscribed,
              UserEventReceived, WsOrderReply, WsOrdersLost, UserSubscribeRefused, Stop]


# -- commands out ---------------------------------------------------------------------------
class Connect(NamedTuple):
    attempt: int  # which resolved address: attempt modulo their number


class ScheduleReconnect(NamedTuple):
    delay_ns: int


class SendRest(NamedTuple):
    data: bytes


class SetRestDeadline(NamedTuple):
    """Feed `RestDeadline` at `at_ns` (None: no deadline pending); replaces the previous one."""

    at_ns: int | None


class CloseRest(NamedTuple):
    """A timeout or an unpairable reply: close the transport (its loss reconnects)."""


class StartUserStream(NamedTuple):
    pass


class Report(NamedTuple):
    report: ExecReport


class Fatal(NamedTuple):
    message: str


Command = Union[Connect, ScheduleReconnect, SendRest, SetRestDeadline, CloseRest, StartUserStream, Report, Fatal]


class BinanceSession:
    """The state of order entry for one account and what to do next; see the module."""

    def __init__(self, symbols: Sequence[str], settings: GatewaySettings, target: Target, session_ms: int,
                 touch: Callable[[int], tuple[float, float]], write_ws_order: Callable[[str, bytes], bool],
                 rng: random.Random | None = None, wall_ns: Callable[[], int] = time.time_ns) -> None:
        self.symbols = tuple(symbols)
        self.settings = settings
        self.requests = RestRequests(target.host_header, settings.credentials, settings.recv_window_ms)
        self.clock = ServerClock()
        self.rate_limits = RateLimitState()
        self.balances = BalanceBook()
        self.backoff = Backoff(settings.backoff_initial_ns, settings.backoff_max_ns, rng)
        self.reconciler = Reconciler(self.symbols, self.requests, self.balances)
        self.rules = RulesLoader(self, target)
        self.orders = OrderEntry(self, session_ms, touch, write_ws_order)
        self.wall_ns = wall_ns
        self.state = SessionState.IDLE
        self.rest: RestConnection | None = None
        self.reconnects = 0
        self._out: list[Command] = []
        self._deadline_set: int | None = None   # the REST deadline the driver was last told
        self._time_in_flight = False
        self._sync_asked_ns = 0
        self._ready_once = False
        self._user_stream_started = False
        self._user_subscriptions = 0
        self._wait_announced: RateLimitStatus | None = None  # the rate-limit wait the log last told of

    # -- what the driver and the metrics read -----------------------------------------------
    @property
    def connected(self) -> bool:
        return self.state in LIVE and self.rest is not None and self.rest.state is ConnectionState.OPEN

    @property
    def ready(self) -> bool:
        # A timeout closes the RestConnection before the transport reports the loss.
        rest = self.rest
        return self.state is SessionState.READY and rest is not None and rest.state is ConnectionState.OPEN

    def wall_clock_offset_ms(self, now: int) -> float:
        """The venue's time minus this host's wall clock (the server clock itself maps the
        reactor's monotonic time, which says nothing to a reader); needs a synced clock."""
        return self.clock.timestamp_ms(now) - self.wall_ns() / 1e6

    @property
    def rest_busy(self) -> bool:
        rest = self.rest
        return self.connected and rest is not None and (rest.in_flight is not None or rest.queued > 0)

    # -- the one entry point ----------------------------------------------------------------
    def handle(self, event: Event) -> list[Command]:
        handler = TRANSITIONS.get((self.state, type(event)))
        if handler is None:
            raise InvalidTransition(f"{type(event).__name__} in state {self.state.name}")
        handler(self, event)
        return self.take_commands()

    def take_commands(self) -> list[Command]:
        """What the last calls asked for, with the REST connection's bytes and deadline."""
        rest = self.rest
        if rest is not None:
            if rest.has_data_to_send:
                self._out.append(SendRest(rest.data_to_send()))
            deadline = rest.next_deadline_ns
            if deadline != self._deadline_set:       # most calls leave it as it was: no timer churn
                self._deadline_set = deadline
                self._out.append(SetRestDeadline(deadline))
            if rest.state is ConnectionState.CLOSED and self.state in LIVE:
                self._out.append(CloseRest())
        out, self._out = self._out, []
        return out

    def emit(self, command: Command) -> None:
        self._out.append(command)

    def report(self, reports: Sequence[ExecReport]) -> None:
        for report in reports:
            self._out.append(Report(report))

    def send_rest(self, tag: Tag, wire: bytes, now: int) -> bool:
        """Queue a request; False if the connection closed (e.g. a reply said close) or while
        Binance asked for a wait (a 429's Retry-After, a 418 ban): every request counts against
        the IP, and asking on turns a 429 into a ban, and a ban into a longer one. A 429 for the
        order count (-1015) holds new orders only: queries and cancels still go.

        Orders only come here after `ready` and the rate limits were checked, so none is dropped
        silently; the other requests are asked again after the reconnect or the wait.
        """
        limits = self.rate_limits
        if self.rest is None or not self.connected or not (
                limits.may_send_orders(now) if tag.kind is RequestKind.ORDER else limits.may_send(now)):
            return False
        self.rest.submit(tag, wire, now)
        return True

    # -- transitions --------------------------------------------------------------------------
    def _on_start(self, ev: Start) -> None:
        self.state = SessionState.CONNECTING
        self.emit(Connect(self.backoff.attempts))

    def _on_connected(self, ev: RestConnected) -> None:
        self.backoff.reset()
        self.state = SessionState.SYNCING
        self.rest = RestConnection(self.settings.request_timeout_ns, self.rate_limits)
        self._deadline_set = None
        self._time_in_flight = False
        log.info("rest connected rest=%s", self.settings.rest_url)
        self.request_time(ev.now)

    def _on_lost(self, ev: RestLost) -> None:
        self.state = SessionState.WAITING
        if self.rest is not None:
            self._route(self.rest.close(), ev.now)
        delay = self.backoff.next_delay()
        log.warning("rest disconnected reason=%s reconnect_in_s=%.2f attempt=%d", ev.why, delay / NS,
                    self.backoff.attempts)
        self.emit(ScheduleReconnect(delay))

    def _on_reconnect(self, ev: ReconnectDue) -> None:
        self.reconnects += 1
        self._on_start(Start(ev.now))

    def _on_data(self, ev: RestData) -> None:
        assert self.rest is not None
        self._route(self.rest.receive_data(ev.data, ev.now), ev.now)
        self.announce_rate_limit(ev.now)

    def _on_deadline(self, ev: RestDeadline) -> None:
        assert self.rest is not None
        self._deadline_set = None      # the driver's timer has fired: the next deadline is new
        self._route(self.rest.expire(ev.now), ev.now)

    def _on_stop(self, ev: Stop) -> None:
        """Orders in flight stay as the venue has them (no cancel yet)."""
        self.state = SessionState.STOPPED
        if self.rest is not None:
            self.rest.close()
        registry = self.orders.registry
        if registry is not None and registry.open_orders():
            log.warning("stopping with %d orders whose final status never came: %s",
                        len(registry.open_orders()), registry.open_orders()[:5])

    def fail(self, message: str, now: int) -> None:
        if self.state is SessionState.FAILED:
            return                  # said once; what follows the first refusal adds nothing
        self._on_stop(Stop(now))
        self.state = SessionState.FAILED
        self.emit(Fatal(message))

    def _on_tick(self, ev: Tick) -> None:
        now = ev.now
        self.announce_rate_limit(now)
        if self.reconciler.due and not self._time_in_flight:
            self.reconcile(now)
        if self.ready and self.clock.state(now) is ClockState.RESYNC_DUE:
            self.request_time(now)
        elif self.state is SessionState.SYNCING and now - self._sync_asked_ns >= SYNC_RETRY_NS:
            self.request_time(now)  # a time or exchangeInfo reply that was an error: ask again
        self.orders.expire_ws_orders(now)
        self.orders.resolve_unknown(now)
        if self.orders.registry is not None:
            self.orders.registry.prune(now - PRUNE_AFTER_NS)

    def _on_user_subscribed(self, ev: UserSubscribed) -> None:
        self._user_subscriptions += 1
        if self._user_subscriptions > 1:       # a resubscription: events may have been missed
            self.reconcile(ev.now)

    def _on_user_event(self, ev: UserEventReceived) -> None:
        """Order updates from the user data stream: the same facts as REST replies, applied
        once each (the registry is idempotent by orderId and tradeId); balance changes go to
        the balance book."""
        event, registry = ev.event, self.orders.registry
        if isinstance(event, ExecutionReport) and registry is not None:
            self.report(registry.on_execution_report(event, ev.now))
        elif isinstance(event, AccountPosition):
            self.balances.on_account_position(event)
        elif isinstance(event, BalanceUpdate):
            self.balances.on_balance_update(event)

    def _on_ws_order_reply(self, ev: WsOrderReply) -> None:
        self.orders.on_ws_order_reply(ev.client_id, ev.response, ev.now)
        self.announce_rate_limit(ev.now)     # a 418 is told now, as from a REST reply, not at housekeeping
        error = ev.response.error
        if error is not None:
            self._refuse_if_credentials(error.code, "order.place", ev.now)

    def _on_user_subscribe_refused(self, ev: UserSubscribeRefused) -> None:
        """Any other refusal the stream asks again, after a backoff, on its own."""
        self._refuse_if_credentials(ev.error.code, "the user data subscription", ev.now)

    def _refuse_if_credentials(self, code: int, what: str, now: int) -> bool:
        problem = CREDENTIAL_PROBLEMS.get(code)
        if problem is not None:
            self.fail(f"binance refused {what} with {code}: {problem}", now)
        return problem is not None

    def _on_ws_orders_lost(self, ev: WsOrdersLost) -> None:
        self.orders.on_ws_orders_lost(ev.client_ids, ev.now)

    def _ignore(self, ev: Event) -> None:
        """Expected here and nothing to do (a late timer or stream callback after the end)."""

    # -- replies ------------------------------------------------------------------------------
    def _route(self, outcomes: Sequence[Response | RequestFailed], now: int) -> None:
        for outcome in outcomes:
            tag: Tag = outcome.tag
            try:
                code = _error_code(outcome) if isinstance(outcome, Response) else None
                if code in CREDENTIAL_PROBLEMS:
                    if tag.kind is RequestKind.ORDER:
                        self.orders.on_outcome(tag, outcome, now)     # refused, so never placed
                    self._refuse_if_credentials(code, f"a signed request ({tag.kind.value})", now)
                elif code == ErrorCode.INVALID_TIMESTAMP and tag.kind is not RequestKind.ORDER:
                    self._on_stale_timestamp(tag, now)
                elif tag.kind in RECONCILIATION:
                    if isinstance(outcome, Response):
                        self._on_reconciled(self.reconciler.on_response(
                            tag, outcome, self.orders.registry, now, self.clock.timestamp_ms(now)), now)
                    else:
                        self.reconciler.on_failure(tag, outcome)
                elif tag.kind is RequestKind.TIME:
                    self._on_time(outcome, now)
                elif tag.kind is RequestKind.EXCHANGE_INFO:
                    self.rules.on_outcome(tag, outcome, now)
                else:
                    self.orders.on_outcome(tag, outcome, now)
            except (ParseError, ValueError, LookupError, VenueInconsistency) as exc:
                # One bad reply must not take the engine down; the order is left to a query.
                log.error("cannot use the %s reply: %s", tag.kind.value, exc)

    def _on_reconciled(self, done: Reconciled, now: int) -> None:
        self.report(done.reports)
        for tag, wire in done.requests:     # the next page of myTrades
            if not self.send_rest(tag, wire, now):
                self.reconciler.due = True  # the pages so far are applied: from there, once possible
        for tracked in done.queries:
            self.orders.query(tracked, now)

    def _on_stale_timestamp(self, tag: Tag, now: int) -> None:
        """-1021 on a query or reconciliation request: the clock drifted. Resync, then ask again
        (queries are asked again by the housekeeping, reconciliation right after the sync)."""
        log.warning("%s %s rejected with -1021: resyncing the clock", tag.kind.value, tag.key)
        self.orders.querying.discard(tag.key)
        if tag.kind in RECONCILIATION:
            self.reconciler.due = True
        self.request_time(now)

    def announce_rate_limit(self, now: int) -> None:
        """Log once that Binance made the gateway wait (a ban as an ERROR: nothing trades until it
        lifts), and once that the wait is over; the orders refused meanwhile are only counted."""
        status = self.rate_limits.status(now)
        if status in _WAITS:
            if status is not self._wait_announced:
                self._wait_announced = status
                limits = self.rate_limits
                until = limits.orders_resume_at_ns if status is RateLimitStatus.ORDERS_HELD else limits.resume_at_ns
                seconds = (until - now) / NS
                if status is RateLimitStatus.BANNED:
                    log.error("binance banned this IP (HTTP 418): no requests, no orders for %.0f s", seconds)
                elif status is RateLimitStatus.BACKING_OFF:
                    log.warning("binance rate limit hit (HTTP 429): no requests for %.0f s (Retry-After)", seconds)
                else:
                    log.warning("binance order rate limit hit (HTTP 429 -1015): no new orders for %.0f s "
                                "(Retry-After); queries and cancels go on", seconds)
        elif self._wait_announced is not None:
            self._wait_announced = None
            log.info("rate-limit wait over: order entry resumes")

    # -- the clock ----------------------------------------------------------------------------
    def request_time(self, now: int) -> None:
        if self._time_in_flight or not self.connected:
            return
        self._sync_asked_ns = now
        self._time_in_flight = self.send_rest(Tag(RequestKind.TIME), self.requests.server_time(), now)

    def _on_time(self, outcome: Response | RequestFailed, now: int) -> None:
        self._time_in_flight = False
        if isinstance(outcome, RequestFailed):
            return
        if outcome.status != 200:
            log.error("GET /api/v3/time failed status=%d body=%s", outcome.status, outcome.text())
            return
        sample = self.clock.on_time_response(outcome.sent_ns, outcome.received_ns, parse_server_time(outcome.json()))
        log.info("clock synced offset_ms=%.1f uncertainty_ms=%.1f (Binance's time minus this host's)",
                 self.wall_clock_offset_ms(now), sample.rtt_ns / 2e6)
        if self.orders.registry is None:
            self.rules.request_all(now)
            return
        self.become_ready(now)
        self.orders.resend_after_sync(now)
        if self.reconciler.due:
            self.reconcile(now)

    def become_ready(self, now: int) -> None:
        if self.state is SessionState.SYNCING and self.orders.registry is not None:
            self.state = SessionState.READY
            log.info("binance gateway ready rest=%s symbols=%s", self.settings.rest_url, ",".join(self.symbols))
            if self.settings.ws_api_url and not self._user_stream_started:
                self._user_stream_started = True    # from then on it reconnects on its own
                self.emit(StartUserStream())
            if self._ready_once:
                self.reconcile(now)                 # after a REST reconnect
            else:
                self._ready_once = True
                for tag, wire in self.reconciler.start_requests(self.clock.timestamp_ms(now)):
                    self.send_rest(tag, wire, now)
            self.orders.resolve_unknown(now)

    def reconcile(self, now: int) -> None:
        """After any outage (user stream resubscribed, REST reconnected), once it may run."""
        if not self.ready or not self.rate_limits.may_send(now):
            self.reconciler.due = True     # all of it, once possible (the housekeeping looks)
            return
        for tag, wire in self.reconciler.requests_after_outage(self.clock.timestamp_ms(now)):
            self.send_rest(tag, wire, now)
        self.orders.resolve_unknown(now)


def _error_code(r: Response) -> int | None:
    body = json_body(r)
    return parse_api_error(body, r.status).code if is_error_body(body) else None


_CHECK_KEYS = "check BINANCE_API_KEY and BINANCE_API_SECRET (or BINANCE_PRIVATE_KEY_FILE)"
# Refusals no retry can turn around: what each says about the configured credentials.
CREDENTIAL_PROBLEMS: dict[int, str] = {
    ErrorCode.INVALID_SIGNATURE: f"the signature is not valid for this API key: {_CHECK_KEYS}",
    ErrorCode.BAD_API_KEY_FMT: f"the API key is not in a valid format: {_CHECK_KEYS}",
    ErrorCode.REJECTED_MBX_KEY: f"the API key is refused (unknown, not allowed from this IP, or without the "
                                f"permission this request needs): {_CHECK_KEYS}",
}


_WAITS = (RateLimitStatus.ORDERS_HELD, RateLimitStatus.BACKING_OFF, RateLimitStatus.BANNED)
_S = SessionState
_Handler = Callable[[BinanceSession, Any], None]  # each takes its own event type
_ALIVE = (_S.CONNECTING, _S.SYNCING, _S.READY, _S.WAITING)
_ENDED = (_S.STOPPED, _S.FAILED)
_B = BinanceSession
TRANSITIONS: dict[tuple[SessionState, type], _Handler] = {
    (_S.IDLE, Start): _B._on_start,
    (_S.CONNECTING, RestConnected): _B._on_connected,
    **{(s, RestLost): _B._on_lost for s in (_S.CONNECTING, *LIVE)},
    **{(s, RestData): _B._on_data for s in LIVE},
    **{(s, RestDeadline): _B._on_deadline for s in LIVE},
    **{(s, RestDeadline): _B._ignore for s in (_S.CONNECTING, _S.WAITING, *_ENDED)},
    (_S.WAITING, ReconnectDue): _B._on_reconnect,
    **{(s, Tick): _B._on_tick for s in _ALIVE},
    **{(s, UserSubscribed): _B._on_user_subscribed for s in _ALIVE},
    **{(s, UserEventReceived): _B._on_user_event for s in _ALIVE},
    **{(s, WsOrderReply): _B._on_ws_order_reply for s in _ALIVE},
    **{(s, UserSubscribeRefused): _B._on_user_subscribe_refused for s in _ALIVE},
    # the user stream's end at stop names the orders whose replies it took along
    **{(s, WsOrdersLost): _B._on_ws_orders_lost for s in (*_ALIVE, *_ENDED)},
    **{(s, Stop): _B._on_stop for s in SessionState},
    # late callbacks of what the end closed: nothing to do
    **{(s, event): _B._ignore for s in _ENDED
       for event in (RestConnected, RestData, RestLost, ReconnectDue, Tick, UserSubscribed, UserEventReceived,
                     WsOrderReply, UserSubscribeRefused)},
}

"""Binance Spot order entry: the sans-IO pieces of `dmabot.venues.binance.protocol` on the reactor.

One kept-alive HTTPS connection (`RestConnection`, one request in flight) carries the clock,
exchangeInfo, queries, reconciliation, the account's balances, the cancels at exit and, with
ORDER_TRANSPORT=rest (the default), the orders:

    start:   GET /api/v3/time -> ServerClock, GET /api/v3/exchangeInfo?symbols=[..] -> rules,
             then READY. Orders before READY, or while the connection is down, are rejected
             locally (nothing is sent; an ExecReport REJECTED goes to the pipeline).
    submit:  round (BUY price down, SELL price up, quantity down), check the filters locally,
             make the client id, register it (PENDING_NEW) *before* writing, send a LIMIT IOC
             at the signal's price with newOrderRespType=FULL so fills ride on the reply.
    replies: OrderRegistry turns each venue fact into the ExecReports for pipeline.on_exec.
             -1021 -> resync the clock and resend once (ServerClock's rule). A timeout or a
             lost connection makes the order UNKNOWN; it is resolved by GET /api/v3/order by
             origClientOrderId (then myTrades for its fills), never by a resend.
    close:   reconnect with capped exponential backoff, resync the clock, READY again.
    outages: after a REST reconnect or a user data resubscription, myTrades since the last
             trade id and openOrders per symbol, through the same registry (each fill once).

An unknown symbol cannot be traded, and the engine is already running when exchangeInfo
answers: the gateway names it in an error and asks the engine to stop (`on_fatal`), which
exits with a config error. Half an engine trading some symbols is harder to notice.

With ORDER_TRANSPORT=ws_api, orders go as ``order.place`` over the WebSocket API connection
that also carries the user data (`UserDataStream.send_order`), many in flight at once; REST
still syncs the clock, loads exchangeInfo, queries unknown orders and reconciles. A reply the
connection's end took with it, or one later than the request timeout, is "unknown" as above.
"""
from __future__ import annotations

import enum
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from dmabot.core.pipeline import Pipeline
from dmabot.core.types import ExecReport, ExecStatus, Order
from dmabot.io.reactor import Reactor, TimerHandle
from dmabot.io.transport import Address, Transport, TransportError, client_tls_context, connect, resolve
from dmabot.venues.binance.fast.grid import LimitOrderGrid
from dmabot.venues.binance.fast.order_writer import OrderPlaceWriter
from dmabot.venues.binance.protocol.balances import BalanceBook
from dmabot.venues.binance.protocol.client_order_id import ClientOrderIdFactory
from dmabot.venues.binance.protocol.clock import ClockState, RetryDecision, ServerClock, parse_server_time
from dmabot.venues.binance.protocol.events import (
    AccountPosition,
    ApiError,
    BalanceUpdate,
    ErrorCode,
    ExecutionReport,
    OrderType,
    ParseError,
    RespType,
    Side,
    TimeInForce,
    UserEvent,
    WsApiResponse,
    is_error_body,
    parse_account,
    parse_api_error,
    parse_cancel_open_orders,
    parse_my_trades,
    parse_open_orders,
    parse_order,
    parse_order_response,
)
from dmabot.venues.binance.protocol.filters import SymbolRules, format_decimal, parse_exchange_info
from dmabot.venues.binance.protocol.orders import OrderRegistry, VenueInconsistency
from dmabot.venues.binance.protocol.rest_protocol import (
    ConnectionState,
    FailureReason,
    RateLimitState,
    RateLimitStatus,
    RequestFailed,
    Response,
    RestConnection,
)
from dmabot.venues.binance.protocol.rest_request import OrderTemplate, RestRequests
from dmabot.venues.binance.protocol.signing import Credentials
from dmabot.venues.binance.user_data import UserDataStream

log = logging.getLogger("dmabot.gateway.binance")

NS = 1_000_000_000
VENUE_NAME = "binance"
HOUSEKEEPING_NS = NS // 2  # clock resync, queries of unknown orders, pruning
PRUNE_AFTER_NS = 600 * NS  # keep final orders this long so late duplicates are recognised
# One warning per local-rejection reason per this many seconds; the counter sees every one.
REJECT_LOG_INTERVAL_NS = 10 * NS
SLOW_DOWN_GAP_NS = NS  # past half a venue rate limit, at most one order a second
SYNC_RETRY_NS = 5 * NS  # while syncing, how often a failed time/exchangeInfo request is asked again


class GatewayState(enum.Enum):
    IDLE = "idle"
    CONNECTING = "connecting"  # TCP + TLS
    SYNCING = "syncing"  # connected: clock (and, the first time, exchangeInfo) in flight
    READY = "ready"
    WAITING = "waiting"  # backing off before reconnecting
    FAILED = "failed"  # a fact the engine cannot trade with (unknown symbol)
    STOPPED = "stopped"


class OrderTransport(enum.Enum):
    REST = "rest"          # POST /api/v3/order on the REST connection, one request in flight
    WS_API = "ws_api"      # order.place on the WebSocket API connection, many in flight


class RequestKind(enum.Enum):
    TIME = "time"
    EXCHANGE_INFO = "exchange_info"
    ORDER = "order"
    QUERY = "query"
    TRADES = "trades"
    CANCEL_ALL = "cancel_all"
    GAP_TRADES = "gap_trades"      # reconciliation: myTrades since the last trade id seen
    GAP_ORDERS = "gap_orders"      # reconciliation: openOrders
    ACCOUNT = "account"            # balances: at start and in each reconciliation


@dataclass(frozen=True, slots=True)
class Tag:
    """What a request was, so its outcome is routed: `key` is the client id or the symbols."""

    kind: RequestKind
    key: Any = None


class LocalReason(enum.Enum):
    """Why the gateway refused an order without sending it (besides a filter name)."""

    NOT_READY = "not_ready"
    DISCONNECTED = "disconnected"
    RATE_LIMITED = "rate_limited"
    SLOWING_DOWN = "slowing_down"   # past half a rate limit: one order per SLOW_DOWN_GAP_NS
    INVALID = "invalid"  # a price or quantity that is no number the filters can round


@dataclass(frozen=True)
class RestTarget:
    host: str
    port: int
    tls: bool

    @property
    def host_header(self) -> str:
        default = 443 if self.tls else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


def rest_target(url: str) -> RestTarget:
    """``https://host[:port]`` (or ``http://`` for plain TCP against a local simulator)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"expected an https:// URL, got {url!r}")
    if parts.path.strip("/") or parts.query:
        raise ValueError(f"expected the REST base without a path, got {url!r}")
    tls = parts.scheme == "https"
    return RestTarget(parts.hostname, parts.port or (443 if tls else 80), tls)


class UserStreamUnreachable(TransportError):
    """The user data stream's host cannot be resolved (the REST host could)."""


@dataclass(frozen=True)
class GatewaySettings:
    rest_url: str
    ca_file: str | None
    credentials: Credentials
    recv_window_ms: int = 5000
    request_timeout_ns: int = 10 * NS
    connect_timeout_ns: int = 10 * NS
    backoff_initial_ns: int = NS // 4
    backoff_max_ns: int = 30 * NS
    ws_api_url: str = ""          # user data stream; empty: fills come from REST replies only
    order_resp_type: RespType = RespType.FULL   # ACK: fills come from the user data stream alone
    order_transport: OrderTransport = OrderTransport.REST
    order_type: OrderType = OrderType.LIMIT           # LIMIT (at the signal's price) or MARKET
    time_in_force: TimeInForce | None = TimeInForce.IOC     # LIMIT only

    def __post_init__(self) -> None:
        if self.order_transport is OrderTransport.WS_API and not self.ws_api_url:
            raise ValueError("order entry over the WebSocket API needs its URL (ws_api_url)")
        if (self.order_type is OrderType.LIMIT) != (self.time_in_force is not None) or \
                self.order_type not in (OrderType.LIMIT, OrderType.MARKET):
            raise ValueError(f"orders are LIMIT with a time in force or MARKET, not {self.order_type} "
                             f"with {self.time_in_force}")


class BinanceGateway:
    """Sends the engine's orders for venue `index` to Binance; reports go to `pipeline.on_exec`."""

    def __init__(self, reactor: Reactor, pipeline: Pipeline, index: int, symbols: Sequence[str],
                 settings: GatewaySettings, session_ms: int,
                 on_fatal: Callable[[str], None] | None = None) -> None:
        self.reactor = reactor
        self.pipeline = pipeline
        self.index = index
        self.name = VENUE_NAME
        self.symbols = tuple(symbols)
        self.settings = settings
        self.on_fatal = on_fatal
        self.target = rest_target(settings.rest_url)
        self._tls = client_tls_context(settings.ca_file or None) if self.target.tls else None
        self.requests = RestRequests(self.target.host_header, settings.credentials, settings.recv_window_ms)
        self.clock = ServerClock()
        self.ids = ClientOrderIdFactory(session_ms)
        self.rate_limits = RateLimitState()
        self.rules: list[SymbolRules] = []
        self.templates: list[OrderTemplate] = []
        self.ws_writers: list[OrderPlaceWriter] = []
        self.grids: list[LimitOrderGrid | None] = []
        self._ws_orders: dict[str, int] = {}  # client id -> deadline of an order.place in flight
        self.registry: OrderRegistry | None = None
        self.state = GatewayState.IDLE
        self.rest: RestConnection | None = None
        self._protocol: _RestProtocol | None = None
        self._addresses: list[Address] = []
        self._attempt = 0
        self._deadline_timer: TimerHandle | None = None
        self._reconnect_timer: TimerHandle | None = None
        self._housekeeping_timer: TimerHandle | None = None
        self._time_in_flight = False
        self._sync_asked_ns = 0
        self._resend_after_sync: list[str] = []  # client ids rejected with -1021, resent once synced
        self._querying: set[str] = set()  # client ids with a query or myTrades request in flight
        self._info_unknown: list[str] = []  # symbols exchangeInfo refused, found one by one
        self._info_pending = 0
        self._reject_logged_at: dict[str, int] = {}
        # health, read by the metrics collector
        self.local_rejections: dict[str, int] = {}
        self.reconnects = 0
        self.venue_rejections = 0
        self.orders_sent = 0
        self.user_stream: UserDataStream | None = None
        self._user_stream_started = False
        self._ready_once = False
        self._user_subscriptions = 0
        self._reconcile_due = False  # asked for while it could not run (-1021, a 429/418 wait, down)
        self._wait_announced: RateLimitStatus | None = None  # the rate-limit wait the log last told of
        self._last_order_sent_ns = -SLOW_DOWN_GAP_NS
        # Highest trade id applied per symbol: after an outage, myTrades from there closes the gap.
        self._last_trade_id: dict[str, int] = {}
        self.balances = BalanceBook()
        if settings.ws_api_url:
            self.user_stream = UserDataStream(
                reactor, settings.ws_api_url, settings.credentials,
                server_ms=lambda: self.clock.timestamp_ms(self.reactor.now()),
                on_event=self._on_user_event, on_subscribed=self._on_user_subscribed,
                ca_file=settings.ca_file, recv_window_ms=settings.recv_window_ms,
                backoff_max_ns=settings.backoff_max_ns,
                on_order_reply=self._on_ws_order_reply, on_orders_lost=self._on_ws_orders_lost)

    def wall_clock_offset_ms(self) -> float:
        """The venue's time minus this host's wall clock (the server clock itself maps the
        reactor's monotonic time, which says nothing to a reader); needs a synced clock."""
        return self.clock.timestamp_ms(self.reactor.now()) - time.time_ns() / 1e6

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.rest is not None and self.rest.state is ConnectionState.OPEN and self._protocol is not None

    @property
    def ready(self) -> bool:
        # A timeout closes the RestConnection before the transport reports the loss.
        return self.state is GatewayState.READY and self.connected

    @property
    def orders_via_ws_api(self) -> bool:
        return self.settings.order_transport is OrderTransport.WS_API

    @property
    def busy(self) -> bool:
        """A request is written or queued and its reply has not come (shutdown waits for it)."""
        rest = self.rest
        rest_busy = self.connected and rest is not None and (rest.in_flight is not None or rest.queued > 0)
        return rest_busy or bool(self._ws_orders and self.user_stream is not None and self.user_stream.connected)

    def start(self) -> None:
        """Resolve the REST host (may block: before trading starts) and connect."""
        self._addresses = resolve(self.target.host, self.target.port)
        if self.user_stream is not None:
            try:
                self.user_stream.resolve()     # connects once the clock is synced (it signs)
            except TransportError as exc:
                raise UserStreamUnreachable(str(exc)) from None
        self._connect()
        self._housekeeping_timer = self.reactor.call_later(HOUSEKEEPING_NS, self._housekeeping)

    def stop(self) -> None:
        """Close the connection; orders in flight stay as the venue has them (no cancel yet)."""
        self.state = GatewayState.STOPPED
        if self.user_stream is not None:
            self.user_stream.stop()
        for timer in (self._deadline_timer, self._reconnect_timer, self._housekeeping_timer):
            if timer is not None:
                timer.cancel()
        protocol, self._protocol = self._protocol, None
        if self.rest is not None:
            self.rest.close()
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()
        if self.registry is not None and self.registry.open_orders():
            log.warning("stopping with %d orders whose final status never came: %s",
                        len(self.registry.open_orders()), self.registry.open_orders()[:5])

    def _connect(self) -> None:
        self.state = GatewayState.CONNECTING
        address = self._addresses[self._attempt % len(self._addresses)]
        self._protocol = _RestProtocol(self)
        log.info("connecting rest=%s address=%s", self.settings.rest_url, address)
        connect(self.reactor, address, self._protocol, tls=self._tls, timeout_ns=self.settings.connect_timeout_ns)

    def _on_connected(self, protocol: _RestProtocol) -> None:
        if protocol is not self._protocol:
            return
        self._attempt = 0
        self.state = GatewayState.SYNCING
        self.rest = RestConnection(self.settings.request_timeout_ns, self.rate_limits)
        self._time_in_flight = False
        log.info("rest connected rest=%s", self.settings.rest_url)
        self._request_time()

    def _on_lost(self, protocol: _RestProtocol, why: str) -> None:
        if protocol is not self._protocol:
            return
        self._protocol = None
        if self.rest is not None:
            self._handle(self.rest.close())
        if self.state in (GatewayState.STOPPED, GatewayState.FAILED):
            return
        delay = min(self.settings.backoff_max_ns, self.settings.backoff_initial_ns * 2 ** min(self._attempt, 30))
        self._attempt += 1
        self.state = GatewayState.WAITING
        log.warning("rest disconnected reason=%s reconnect_in_s=%.2f attempt=%d", why, delay / NS, self._attempt)
        self._reconnect_timer = self.reactor.call_later(delay, self._reconnect)

    def _reconnect(self) -> None:
        if self.state is GatewayState.WAITING:
            self.reconnects += 1
            self._connect()

    def _fail(self, message: str) -> None:
        log.error("%s", message)
        self.stop()
        self.state = GatewayState.FAILED
        if self.on_fatal is not None:
            self.on_fatal(message)

    # -- orders ----------------------------------------------------------------------------
    def submit(self, order: Order) -> None:
        """Round, check, register, send; or reject locally. Never raises for a bad order."""
        now = self.reactor.now()
        if not self.ready or self.registry is None:
            reason = LocalReason.NOT_READY if self.registry is None else LocalReason.DISCONNECTED
            self._reject_locally(order, reason.value, f"gateway {self.state.value}", now)
            return
        if self.orders_via_ws_api and not self.user_stream.connected:
            self._reject_locally(order, LocalReason.DISCONNECTED.value, "WebSocket API connection down", now)
            return
        if not self.rate_limits.may_send(now):
            self._reject_locally(order, LocalReason.RATE_LIMITED.value,
                                 f"resume in {(self.rate_limits.resume_at_ns - now) / NS:.1f} s", now)
            return
        if (self.rate_limits.status(now) is RateLimitStatus.SLOW_DOWN
                and now - self._last_order_sent_ns < SLOW_DOWN_GAP_NS):
            # Over half of a venue limit: pace orders well before a 429 (and a ban) could come.
            self._reject_locally(order, LocalReason.SLOWING_DOWN.value,
                                 f"weight_1m={self.rate_limits.used_weight_1m} "
                                 f"orders_10s={self.rate_limits.order_count_10s}", now)
            return
        reference = self._reference_price(order.sym)
        # The integer fast path gives the same texts as the Decimal one for every order it
        # accepts; for anything else the Decimal path says exactly why (or finds it fine).
        grid = self.grids[order.sym] if self.settings.order_type is OrderType.LIMIT else None
        texts = None if grid is None else grid.prepare(order.side, order.px, order.qty, reference)
        if texts is None:
            texts = self._round_and_check(order, reference, now)
            if texts is None:
                return
        px_text, qty_text = texts
        self._last_order_sent_ns = now
        client_id = self.ids.make(order)
        # registered before the bytes exist: a reply cannot beat it
        self.registry.register(order, client_id, Decimal(qty_text), now)
        self._send_order(order.sym, client_id, Side.BUY if order.side > 0 else Side.SELL, px_text, qty_text, now)

    def _round_and_check(self, order: Order, reference: float | None, now: int) -> tuple[str | None, str] | None:
        """The exact Decimal path: the rounded texts (no price for MARKET), or None after
        rejecting the order locally with the filter's name (or `invalid` for a value no filter
        can round, or a MARKET order before there is a touch to check its notional with)."""
        rules = self.rules[order.sym]
        side = Side.BUY if order.side > 0 else Side.SELL
        order_type = self.settings.order_type
        try:
            px = None if order_type is OrderType.MARKET else rules.round_price(side, order.px)
            qty = rules.round_qty(order.qty)
            reject = rules.check(side, order_type, px, qty, reference)
        except (ValueError, ArithmeticError) as exc:  # NaN, negative, too many digits: risk stops these
            self._reject_locally(order, LocalReason.INVALID.value, str(exc) or type(exc).__name__, now)
            return None
        if reject is not None:
            self._reject_locally(order, reject.filter_name.value, f"{rules.symbol} {reject.reason}", now)
            return None
        return None if px is None else format_decimal(px), format_decimal(qty)

    def _send_order(self, sym: int, client_id: str, side: Side, px_text: str | None, qty_text: str,
                    now: int) -> None:
        values = (side, self.settings.order_type, self.settings.time_in_force, qty_text, px_text, client_id,
                  self.clock.timestamp_ms(now))
        if self.orders_via_ws_api:
            assert self.user_stream is not None
            sent = self.user_stream.send_order(client_id, self.ws_writers[sym].frame(*values))
            if sent:
                self._ws_orders[client_id] = now + self.settings.request_timeout_ns
        else:
            sent = self._submit(Tag(RequestKind.ORDER, client_id), self.templates[sym].build(*values), now)
        if sent:
            self.orders_sent += 1
        else:
            self._on_order_failed(Tag(RequestKind.ORDER, client_id), RequestFailed(client_id, FailureReason.NOT_SENT))

    def _reference_price(self, sym: int) -> float | None:
        # Centre of PERCENT_PRICE_BY_SIDE: the venue uses its 5-minute average, the mid is close.
        bid, ask = self.pipeline.touch(sym)
        return (bid + ask) / 2 if bid > 0 and ask > 0 else None

    def _reject_locally(self, order: Order, reason: str, detail: str, now: int) -> None:
        self.local_rejections[reason] = self.local_rejections.get(reason, 0) + 1
        if now - self._reject_logged_at.get(reason, -REJECT_LOG_INTERVAL_NS) >= REJECT_LOG_INTERVAL_NS:
            self._reject_logged_at[reason] = now
            log.warning("order rejected locally reason=%s order_id=%d detail=%s total=%d",
                        reason, order.order_id, detail, self.local_rejections[reason])
        self.pipeline.on_exec(ExecReport(order, now, ExecStatus.REJECTED))

    # -- the connection ----------------------------------------------------------------------
    def _submit(self, tag: Tag, wire: bytes, now: int) -> bool:
        """Queue and write a request; False if the connection closed (e.g. a reply said close)
        or while Binance asked for a wait (a 429's Retry-After, a 418 ban): every request counts
        against the IP, and asking on turns a 429 into a ban, and a ban into a longer one.

        Orders only come here after `ready` and the rate limits were checked, so none is dropped
        silently; the other requests are asked again after the reconnect or the wait.
        """
        if self.rest is None or not self.connected or not self.rate_limits.may_send(now):
            return False
        self.rest.submit(tag, wire, now)
        self._flush()
        return True

    def _flush(self) -> None:
        """Write what the REST connection has for the wire, then re-arm its deadline."""
        rest, protocol = self.rest, self._protocol
        if rest is None:
            return
        data = rest.data_to_send()
        if data and protocol is not None and protocol.transport is not None:
            protocol.transport.write(data)
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        due = rest.next_deadline_ns
        if due is not None:
            self._deadline_timer = self.reactor.call_at(due, self._on_deadline)
        if rest.state is ConnectionState.CLOSED and protocol is not None and protocol.transport is not None:
            protocol.transport.close()  # a timeout or unpairable reply: connection_lost reconnects

    def _on_data(self, protocol: _RestProtocol, data: bytes) -> None:
        if protocol is not self._protocol or self.rest is None:
            return
        self._handle(self.rest.receive_data(data, self.reactor.now()))
        self._flush()
        self._announce_rate_limit()

    def _announce_rate_limit(self) -> None:
        """Log once that Binance made the gateway wait (a ban as an ERROR: nothing trades until it
        lifts), and once that the wait is over; the orders refused meanwhile are only counted."""
        now = self.reactor.now()
        status = self.rate_limits.status(now)
        if status in (RateLimitStatus.BACKING_OFF, RateLimitStatus.BANNED):
            if status is not self._wait_announced:
                self._wait_announced = status
                seconds = (self.rate_limits.resume_at_ns - now) / NS
                if status is RateLimitStatus.BANNED:
                    log.error("binance banned this IP (HTTP 418): no requests, no orders for %.0f s", seconds)
                else:
                    log.warning("binance rate limit hit (HTTP 429): no requests for %.0f s (Retry-After)", seconds)
        elif self._wait_announced is not None:
            self._wait_announced = None
            log.info("rate-limit wait over: order entry resumes")

    def _on_deadline(self) -> None:
        self._deadline_timer = None
        if self.rest is not None:
            self._handle(self.rest.expire(self.reactor.now()))
            self._flush()

    def _handle(self, outcomes: Sequence[Response | RequestFailed]) -> None:
        for outcome in outcomes:
            tag: Tag = outcome.tag
            try:
                if isinstance(outcome, Response) and tag.kind is not RequestKind.ORDER \
                        and _is_invalid_timestamp(outcome):
                    self._on_stale_timestamp(tag)
                elif isinstance(outcome, Response):
                    _ON_RESPONSE[tag.kind](self, tag, outcome)
                else:
                    _ON_FAILURE[tag.kind](self, tag, outcome)
            except (ParseError, ValueError, LookupError, VenueInconsistency) as exc:
                # One bad reply must not take the engine down; the order is left to a query.
                log.error("cannot use the %s reply: %s", tag.kind.value, exc)

    def _on_stale_timestamp(self, tag: Tag) -> None:
        """-1021 on a query or reconciliation request: the clock drifted. Resync, then ask again
        (queries are asked again by the housekeeping, reconciliation right after the sync)."""
        log.warning("%s %s rejected with -1021: resyncing the clock", tag.kind.value, tag.key)
        self._querying.discard(tag.key)
        if tag.kind in (RequestKind.GAP_TRADES, RequestKind.GAP_ORDERS, RequestKind.ACCOUNT):
            self._reconcile_due = True
        self._request_time()

    def _report(self, reports: Sequence[ExecReport]) -> None:
        for report in reports:
            if report.trade_id:
                symbol = self.symbols[report.order.sym]
                self._last_trade_id[symbol] = max(self._last_trade_id.get(symbol, 0), report.trade_id)
            self.pipeline.on_exec(report)

    # -- time and exchangeInfo ---------------------------------------------------------------
    def _request_time(self) -> None:
        if self._time_in_flight or not self.connected:
            return
        self._sync_asked_ns = self.reactor.now()
        self._time_in_flight = self._submit(Tag(RequestKind.TIME), self.requests.server_time(), self.reactor.now())

    def _on_time(self, tag: Tag, r: Response) -> None:
        self._time_in_flight = False
        if r.status != 200:
            log.error("GET /api/v3/time failed status=%d body=%s", r.status, r.body[:200])
            return
        sample = self.clock.on_time_response(r.sent_ns, r.received_ns, parse_server_time(r.json()))
        log.info("clock synced offset_ms=%.1f uncertainty_ms=%.1f (Binance's time minus this host's)",
                 self.wall_clock_offset_ms(), sample.rtt_ns / 2e6)
        if self.registry is None:
            if self._info_pending == 0:
                self._request_info(self.symbols)
            return
        self._become_ready()
        resend, self._resend_after_sync = self._resend_after_sync, []
        for client_id in resend:
            self._resend(client_id)
        if self._reconcile_due:
            self._reconcile()

    def _on_time_failed(self, tag: Tag, f: RequestFailed) -> None:
        self._time_in_flight = False

    def _request_info(self, symbols: Sequence[str]) -> None:
        if self._submit(Tag(RequestKind.EXCHANGE_INFO, tuple(symbols)), self.requests.exchange_info(symbols),
                        self.reactor.now()):
            self._info_pending += 1

    def _on_info(self, tag: Tag, r: Response) -> None:
        self._info_pending -= 1
        body = json_body(r)
        if r.status != 200:
            error = parse_api_error(body, r.status) if is_error_body(body) else None
            if error is not None and error.code == ErrorCode.BAD_SYMBOL:
                self._on_bad_symbol(tag.key)
            else:
                log.error("exchangeInfo failed status=%d body=%s; asking again", r.status, r.body[:200])
            return
        if len(tag.key) < len(self.symbols):
            self._finish_hunt()  # one symbol asked alone while hunting the unknown one: it is listed
            return
        info = parse_exchange_info(body)
        missing = [s for s in self.symbols if s not in info.symbols]
        if missing:
            self._fail(f"SYMBOLS: {','.join(missing)} not listed by {self.settings.rest_url} exchangeInfo: "
                       "the gateway refuses to trade")
            return
        rules = [info.rules(s) for s in self.symbols]
        halted = [r.symbol for r in rules if not r.is_trading]
        if halted:
            self._fail(f"SYMBOLS: {','.join(halted)} not TRADING on {self.settings.rest_url}: the gateway refuses "
                       "to start")
            return
        self.rules = rules
        self.templates = [OrderTemplate(self.target.host_header, s, self.settings.credentials,
                                        self.settings.order_resp_type,
                                        self.settings.recv_window_ms) for s in self.symbols]
        self.grids = [_fast_grid(r) for r in rules]
        self.ws_writers = [OrderPlaceWriter(s, self.settings.credentials, self.settings.order_resp_type.value,
                                            self.settings.recv_window_ms) for s in self.symbols]
        self.registry = OrderRegistry(rules)
        self.rate_limits = RateLimitState.from_exchange_info(info.rate_limits)
        if self.rest is not None:
            self.rest.rate_limits = self.rate_limits
        for s in rules:
            log.info("symbol rules symbol=%s tick=%s step=%s min_qty=%s", s.symbol, format_decimal(s.price_grid),
                     format_decimal(s.qty_grid), format_decimal(s.lot_size.min_qty) if s.lot_size else "-")
        self._become_ready()

    def _on_bad_symbol(self, asked: tuple[str, ...]) -> None:
        """Binance says -1121 "Invalid symbol." without naming it: ask for each one alone."""
        if len(asked) > 1:
            for symbol in asked:
                self._request_info((symbol,))
            return
        self._info_unknown.append(asked[0])
        log.error("symbol %s is not listed by %s exchangeInfo", asked[0], self.settings.rest_url)
        self._finish_hunt()

    def _finish_hunt(self) -> None:
        if self._info_pending == 0 and self._info_unknown:
            self._fail(f"SYMBOLS: {','.join(self._info_unknown)} not listed by {self.settings.rest_url} "
                       "exchangeInfo: the gateway refuses to trade")

    def _on_info_failed(self, tag: Tag, f: RequestFailed) -> None:
        self._info_pending -= 1  # asked again after the reconnect, with the clock

    def _become_ready(self) -> None:
        if self.state is GatewayState.SYNCING and self.registry is not None:
            self.state = GatewayState.READY
            log.info("binance gateway ready rest=%s symbols=%s", self.settings.rest_url, ",".join(self.symbols))
            if self.user_stream is not None and not self._user_stream_started:
                self._user_stream_started = True    # from then on it reconnects on its own
                self.user_stream.start()
            if self._ready_once:
                self._reconcile()                   # after a REST reconnect
            else:
                self._ready_once = True
                self._learn_last_trade_ids()
                self._request_account()
            self._resolve_unknown()

    def _on_user_subscribed(self) -> None:
        self._user_subscriptions += 1
        if self._user_subscriptions > 1:       # a resubscription: events may have been missed
            self._reconcile()

    def _learn_last_trade_ids(self) -> None:
        """At start: the account's latest trade per symbol, where gap filling will begin (the
        trades of earlier runs are not this run's fills)."""
        now = self.reactor.now()
        for symbol in self.symbols:
            self._request_trades_since_last(symbol, now)

    def _request_trades_since_last(self, symbol: str, now: int) -> None:
        """myTrades after the last trade id applied; without one yet, the latest trade only
        (where to begin: `_on_gap_trades` tells the two apart)."""
        last = self._last_trade_id.get(symbol)
        timestamp = self.clock.timestamp_ms(now)
        if last is None:
            wire = self.requests.my_trades(symbol, timestamp, limit=1)
        else:
            wire = self.requests.my_trades(symbol, timestamp, from_id=last + 1)
        self._submit(Tag(RequestKind.GAP_TRADES, symbol), wire, now)

    def _reconcile(self) -> None:
        """After any outage (user stream resubscribed, REST reconnected): this run's trades and
        open orders from the venue, applied through the registry, so a fill missed while
        disconnected counts once and a fill seen already counts no more."""
        if not self.ready or not self.rate_limits.may_send(self.reactor.now()):
            self._reconcile_due = True     # all of it, once possible (the housekeeping looks)
            return
        self._reconcile_due = False
        log.info("reconciling after an outage: myTrades since %s and openOrders",
                 ", ".join(f"{s}#{t}" for s, t in sorted(self._last_trade_id.items())) or "the start")
        now = self.reactor.now()
        for symbol in self.symbols:
            self._request_trades_since_last(symbol, now)
            wire = self.requests.open_orders(symbol, self.clock.timestamp_ms(now))
            self._submit(Tag(RequestKind.GAP_ORDERS, symbol), wire, now)
        self._request_account()
        self._resolve_unknown()

    def _on_gap_refused(self, tag: Tag, r: Response) -> None:
        """A reconciliation request answered with an error. After a 429 or 418 the whole
        reconciliation runs again once the wait is over; other errors wait for the next outage."""
        log.warning("%s %s for reconciliation failed status=%d body=%s", tag.kind.value, tag.key, r.status,
                    r.body[:200])
        if r.status in (429, 418):
            self._reconcile_due = True

    def _on_gap_trades(self, tag: Tag, r: Response) -> None:
        if r.status != 200:
            self._on_gap_refused(tag, r)
            return
        trades = parse_my_trades(r.json())
        if tag.key not in self._last_trade_id:     # the start: only where to begin
            self._last_trade_id[tag.key] = max((t.trade_id for t in trades), default=0)
            return
        now, before = self.reactor.now(), self.registry.duplicate_fills if self.registry else 0
        for trade in trades:
            if self.registry is not None:
                self._report(self.registry.on_trade(trade, now))
            self._last_trade_id[tag.key] = max(self._last_trade_id[tag.key], trade.trade_id)
        if trades:
            log.info("reconciled %s: %d trades since the last one seen (%d already applied)", tag.key,
                     len(trades), (self.registry.duplicate_fills if self.registry else 0) - before)

    def _on_gap_orders(self, tag: Tag, r: Response) -> None:
        if r.status != 200 or self.registry is None:
            self._on_gap_refused(tag, r)
            return
        now = self.reactor.now()
        for state in parse_open_orders(r.json()):
            self._report(self.registry.on_order_state(state, now))

    def _request_account(self) -> None:
        """The balances as a snapshot; the user data stream keeps them current in between."""
        now = self.reactor.now()
        self._submit(Tag(RequestKind.ACCOUNT, "balances"), self.requests.account(self.clock.timestamp_ms(now)), now)

    def _on_account(self, tag: Tag, r: Response) -> None:
        if r.status != 200:
            self._on_gap_refused(tag, r)
            return
        self.balances.on_account(parse_account(r.json()))

    def _on_gap_failed(self, tag: Tag, f: RequestFailed) -> None:
        log.warning("reconciliation request for %s got no answer (%s): it runs again after the "
                    "next reconnect", tag.key, f.reason.name)

    def _on_user_event(self, event: UserEvent) -> None:
        """Order updates from the user data stream: the same facts as REST replies, applied
        once each (the registry is idempotent by orderId and tradeId); balance changes go to
        the balance book."""
        if isinstance(event, ExecutionReport) and self.registry is not None:
            self._report(self.registry.on_execution_report(event, self.reactor.now()))
        elif isinstance(event, AccountPosition):
            self.balances.on_account_position(event)
        elif isinstance(event, BalanceUpdate):
            self.balances.on_balance_update(event)

    # -- orders: replies ---------------------------------------------------------------------
    def _on_order(self, tag: Tag, r: Response) -> None:
        body = json_body(r)
        if r.status == 200 and not is_error_body(body):
            self._on_order_placed(tag.key, body)
        elif is_error_body(body):
            self._on_order_refused(tag.key, parse_api_error(body, r.status))
        else:
            self._on_order_refused(tag.key, ApiError(0, r.body[:200].decode("utf-8", "replace"), r.status))

    def _on_ws_order_reply(self, client_id: str, response: WsApiResponse) -> None:
        """The reply to an ``order.place``: the same facts as a REST reply, and usage counts."""
        self._ws_orders.pop(client_id, None)
        now, error = self.reactor.now(), response.error
        wait_ns = None
        if error is not None and error.retry_after_ms is not None:
            wait_ns = max(0, error.retry_after_ms - self.clock.timestamp_ms(now)) * 1_000_000
        self.rate_limits.on_ws_api_reply(response.status, response.rate_limits, error and error.code, wait_ns, now)
        self._announce_rate_limit()     # a 418 is told now, as from a REST reply, not at housekeeping
        try:
            if error is None:
                self._on_order_placed(client_id, response.result)
            else:
                self._on_order_refused(client_id, error)
        except (ParseError, ValueError, LookupError, VenueInconsistency) as exc:
            log.error("cannot use the order.place reply of %s: %s", client_id, exc)

    def _on_ws_orders_lost(self, client_ids: list[str]) -> None:
        """The WebSocket API connection ended before these orders' replies: look them up."""
        assert self.registry is not None
        log.warning("%d orders lost their replies with the WebSocket API connection (%s): querying them by "
                    "client id", len(client_ids), ", ".join(client_ids[:3]) + (", ..." if len(client_ids) > 3 else ""))
        now = self.reactor.now()
        for client_id in client_ids:
            self._ws_orders.pop(client_id, None)
            self._report(self.registry.on_outcome_unknown(client_id, now))
        self._resolve_unknown()

    def _on_order_placed(self, client_id: str, body: Any) -> None:
        assert self.registry is not None
        self.clock.on_request_done(client_id)
        self._report(self.registry.on_order_response(parse_order_response(body), self.reactor.now()))

    def _on_order_refused(self, client_id: str, error: ApiError) -> None:
        assert self.registry is not None
        now = self.reactor.now()
        if error.code == ErrorCode.INVALID_TIMESTAMP:
            if self.clock.on_invalid_timestamp(client_id) is RetryDecision.RESYNC_AND_RETRY:
                log.warning("order %s rejected with -1021: resyncing the clock, then sending it once more",
                            client_id)
                self._resend_after_sync.append(client_id)
                self._request_time()
                return
        else:
            self.clock.on_request_done(client_id)
        self.venue_rejections += 1
        log.warning("order failed at binance client_id=%s status=%s code=%d msg=%s outcome_unknown=%s",
                    client_id, error.http_status, error.code, error.msg, error.outcome_unknown)
        self._report(self.registry.on_request_failed(client_id, error, now))

    def _resend(self, client_id: str) -> None:
        """The -1021 retry: same order, same id, fresh timestamp (the first was never placed)."""
        assert self.registry is not None
        tracked = self.registry.get(client_id)
        if tracked is None or not self.connected:
            return
        order = tracked.order
        side = Side.BUY if order.side > 0 else Side.SELL
        px_text = None if self.settings.order_type is OrderType.MARKET else \
            format_decimal(tracked.rules.round_price(side, order.px))
        self._send_order(order.sym, client_id, side, px_text, format_decimal(tracked.qty), self.reactor.now())

    def _on_order_failed(self, tag: Tag, f: RequestFailed) -> None:
        assert self.registry is not None
        now = self.reactor.now()
        if f.reason is FailureReason.NOT_SENT:
            # Never written, so never placed; an IOC at an old price is not worth sending late.
            error = ApiError(0, "not sent: the connection closed, or binance asked for a wait, first")
            self._report(self.registry.on_request_failed(tag.key, error, now))
            return
        log.warning("order %s outcome unknown (%s): querying it by client id", tag.key, f.reason.value)
        self._report(self.registry.on_outcome_unknown(tag.key, now))

    # -- unknown outcomes: query, never resend -------------------------------------------------
    def _resolve_unknown(self) -> None:
        if self.registry is None or not self.ready:
            return
        now = self.reactor.now()
        for tracked in self.registry.unknown():
            if tracked.client_order_id not in self._querying:
                wire = self.requests.query_order(tracked.symbol, tracked.client_order_id,
                                                 self.clock.timestamp_ms(now))
                if self._submit(Tag(RequestKind.QUERY, tracked.client_order_id), wire, now):
                    self._querying.add(tracked.client_order_id)
        for tracked in self.registry.awaiting_fills():
            if tracked.client_order_id not in self._querying and tracked.venue_order_id is not None:
                wire = self.requests.my_trades(tracked.symbol, self.clock.timestamp_ms(now),
                                               order_id=tracked.venue_order_id)
                if self._submit(Tag(RequestKind.TRADES, tracked.client_order_id), wire, now):
                    self._querying.add(tracked.client_order_id)

    def _on_query(self, tag: Tag, r: Response) -> None:
        assert self.registry is not None
        self._querying.discard(tag.key)
        body, now = json_body(r), self.reactor.now()
        if r.status == 200:
            state = parse_order(body)
            log.info("order %s resolved by query: %s executed=%s", tag.key, state.status, state.executed_qty)
            self._report(self.registry.on_order_state(state, now))
            self._resolve_unknown()  # a FILLED order's fills come from myTrades
        elif is_error_body(body) and parse_api_error(body).code == ErrorCode.NO_SUCH_ORDER:
            log.info("order %s resolved by query: never placed (-2013)", tag.key)
            self._report(self.registry.on_not_found(tag.key, now))
        else:
            log.warning("query of order %s failed status=%d body=%s", tag.key, r.status, r.body[:200])

    def _on_trades(self, tag: Tag, r: Response) -> None:
        assert self.registry is not None
        self._querying.discard(tag.key)
        if r.status != 200:
            log.warning("myTrades for order %s failed status=%d body=%s", tag.key, r.status, r.body[:200])
            return
        now = self.reactor.now()
        for trade in parse_my_trades(r.json()):
            self._report(self.registry.on_trade(trade, now))

    def cancel_open_orders(self) -> int:
        """At exit: `DELETE /api/v3/openOrders` for each symbol (every open order of the
        account on it, ours or not: that is what the venue offers). Returns requests sent."""
        now = self.reactor.now()
        if not self.ready:
            log.warning("cannot cancel open orders at exit: the gateway is not ready")
            return 0
        if not self.rate_limits.may_send(now):
            log.error("cannot cancel open orders at exit: binance asked for no requests for %.0f s more "
                      "(HTTP 429/418): check the account", (self.rate_limits.resume_at_ns - now) / NS)
            return 0
        sent = 0
        for symbol in self.symbols:
            wire = self.requests.cancel_all(symbol, self.clock.timestamp_ms(now))
            sent += self._submit(Tag(RequestKind.CANCEL_ALL, symbol), wire, now)
        return sent

    def _on_cancel_all(self, tag: Tag, r: Response) -> None:
        body, now = json_body(r), self.reactor.now()
        if r.status == 200:
            cancelled = parse_cancel_open_orders(body)
            for response in cancelled:
                if self.registry is not None:
                    self._report(self.registry.on_cancel_response(response, now))
            log.info("cancelled %d open orders of %s at exit", len(cancelled), tag.key)
        elif is_error_body(body) and parse_api_error(body).code == ErrorCode.CANCEL_REJECTED:
            log.info("no open orders of %s to cancel at exit", tag.key)
        else:
            log.error("cancelling the open orders of %s at exit failed status=%d body=%s",
                      tag.key, r.status, r.body[:200])

    def _on_cancel_all_failed(self, tag: Tag, f: RequestFailed) -> None:
        log.error("cancelling the open orders of %s at exit got no answer (%s): check the account",
                  tag.key, f.reason.name)

    def _on_query_failed(self, tag: Tag, f: RequestFailed) -> None:
        self._querying.discard(tag.key)  # asked again by the next housekeeping

    def _expire_ws_orders(self, now: int) -> None:
        """An order.place unanswered past the request timeout is unknown: query it."""
        late = [client_id for client_id, deadline in self._ws_orders.items() if now >= deadline]
        for client_id in late:
            del self._ws_orders[client_id]
            self._on_order_failed(Tag(RequestKind.ORDER, client_id),
                                  RequestFailed(client_id, FailureReason.TIMED_OUT))

    # -- timers ------------------------------------------------------------------------------
    def _housekeeping(self) -> None:
        now = self.reactor.now()
        self._announce_rate_limit()
        if self._reconcile_due and not self._time_in_flight:
            self._reconcile()
        if self.ready and self.clock.state(now) is ClockState.RESYNC_DUE:
            self._request_time()
        elif self.state is GatewayState.SYNCING and now - self._sync_asked_ns >= SYNC_RETRY_NS:
            self._request_time()  # a time or exchangeInfo reply that was an error: ask again
        self._expire_ws_orders(now)
        self._resolve_unknown()
        if self.registry is not None:
            self.registry.prune(now - PRUNE_AFTER_NS)
        if self.state is not GatewayState.STOPPED:
            self._housekeeping_timer = self.reactor.call_later(HOUSEKEEPING_NS, self._housekeeping)


_ON_RESPONSE: dict[RequestKind, Callable[[BinanceGateway, Tag, Response], None]] = {
    RequestKind.TIME: BinanceGateway._on_time,
    RequestKind.EXCHANGE_INFO: BinanceGateway._on_info,
    RequestKind.ORDER: BinanceGateway._on_order,
    RequestKind.QUERY: BinanceGateway._on_query,
    RequestKind.TRADES: BinanceGateway._on_trades,
    RequestKind.CANCEL_ALL: BinanceGateway._on_cancel_all,
    RequestKind.GAP_TRADES: BinanceGateway._on_gap_trades,
    RequestKind.GAP_ORDERS: BinanceGateway._on_gap_orders,
    RequestKind.ACCOUNT: BinanceGateway._on_account,
}
_ON_FAILURE: dict[RequestKind, Callable[[BinanceGateway, Tag, RequestFailed], None]] = {
    RequestKind.TIME: BinanceGateway._on_time_failed,
    RequestKind.EXCHANGE_INFO: BinanceGateway._on_info_failed,
    RequestKind.ORDER: BinanceGateway._on_order_failed,
    RequestKind.QUERY: BinanceGateway._on_query_failed,
    RequestKind.TRADES: BinanceGateway._on_query_failed,
    RequestKind.CANCEL_ALL: BinanceGateway._on_cancel_all_failed,
    RequestKind.GAP_TRADES: BinanceGateway._on_gap_failed,
    RequestKind.GAP_ORDERS: BinanceGateway._on_gap_failed,
    RequestKind.ACCOUNT: BinanceGateway._on_gap_failed,
}


class _RestProtocol:
    """Transport callbacks of one REST connection, forwarded to the gateway."""

    def __init__(self, gateway: BinanceGateway) -> None:
        self.gateway = gateway
        self.transport: Transport | None = None

    def connection_made(self, transport: Transport) -> None:
        self.transport = transport
        self.gateway._on_connected(self)

    def data_received(self, data: bytes) -> None:
        self.gateway._on_data(self, data)

    def connection_lost(self, exc: TransportError | None) -> None:
        if exc is not None:
            log.error("rest connection failed: %s", exc)
        self.transport = None
        self.gateway._on_lost(self, str(exc) if exc else "connection closed")

    def pause_writing(self) -> None:
        pass  # one request in flight: the write buffer cannot grow

    def resume_writing(self) -> None:
        pass


def _is_invalid_timestamp(r: Response) -> bool:
    body = json_body(r)
    return is_error_body(body) and parse_api_error(body, r.status).code == ErrorCode.INVALID_TIMESTAMP


def _fast_grid(rules: SymbolRules) -> LimitOrderGrid | None:
    """The integer fast path of a symbol, or None (the Decimal path alone) for a tick, step or
    band no 64-bit integer holds: no listed symbol has one, but it must not stop trading."""
    try:
        return LimitOrderGrid(rules)
    except ValueError as exc:
        log.warning("symbol %s: rounding on the Decimal path only (%s)", rules.symbol, exc)
        return None


def json_body(r: Response) -> Any:
    """The reply's JSON, or None for an empty or non-JSON body (an HTML 5xx page)."""
    try:
        return json.loads(r.body) if r.body else None
    except ValueError:
        return None

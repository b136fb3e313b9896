"""Order entry, sans-IO: the orders of one session from `submit` to their final status.

    submit:  round (BUY price down, SELL price up, quantity down), check the filters locally,
             make the client id, register it (PENDING_NEW) *before* writing, send a LIMIT IOC
             at the signal's price with newOrderRespType=FULL so fills ride on the reply.
    replies: OrderRegistry turns each venue fact into the ExecReports for the pipeline.
             -1021 -> resync the clock and resend once (ServerClock's rule). A timeout or a
             lost connection makes the order UNKNOWN; it is resolved by GET /api/v3/order by
             origClientOrderId (then myTrades for its fills), never by a resend.

With ORDER_TRANSPORT=ws_api, orders go as ``order.place`` over the WebSocket API connection
that also carries the user data, many in flight at once; REST still syncs the clock, loads
exchangeInfo, queries unknown orders and reconciles. A reply the connection's end took with
it, or one later than the request timeout, is "unknown" as above.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dmabot.core.types import ExecReport, ExecStatus, Order
from dmabot.io.reactor import NS
from dmabot.io.url import Target
from dmabot.venues.binance.fast.grid import LimitOrderGrid
from dmabot.venues.binance.fast.order_writer import OrderPlaceWriter
from dmabot.venues.binance.protocol.client_order_id import ClientOrderIdFactory
from dmabot.venues.binance.protocol.clock import RetryDecision
from dmabot.venues.binance.protocol.filters import SymbolRules, format_decimal
from dmabot.venues.binance.protocol.orders import OrderRegistry, TrackedOrder, VenueInconsistency
from dmabot.venues.binance.protocol.replies import (
    parse_cancel_open_orders,
    parse_my_trades,
    parse_order,
    parse_order_response,
)
from dmabot.venues.binance.protocol.rest_protocol import FailureReason, RateLimitStatus, RequestFailed, Response
from dmabot.venues.binance.protocol.rest_request import OrderTemplate
from dmabot.venues.binance.protocol.wire import (
    ApiError,
    ErrorCode,
    OrderType,
    ParseError,
    WireSide,
    is_error_body,
    parse_api_error,
)
from dmabot.venues.binance.protocol.ws_api import WsApiResponse
from dmabot.venues.binance.request_kinds import RequestKind, Tag, json_body

if TYPE_CHECKING:
    from dmabot.venues.binance.session import BinanceSession

log = logging.getLogger("dmabot.gateway.binance")

# One warning per local-rejection reason per this many seconds; the counter sees every one.
REJECT_LOG_INTERVAL_NS = 10 * NS
SLOW_DOWN_GAP_NS = NS  # past half a venue rate limit, at most one order a second


class LocalReason:
    """Why the gateway refused an order without sending it (besides a filter name)."""

    NOT_READY = "not_ready"
    DISCONNECTED = "disconnected"
    RATE_LIMITED = "rate_limited"
    SLOWING_DOWN = "slowing_down"   # past half a rate limit: one order per SLOW_DOWN_GAP_NS
    INVALID = "invalid"  # a price or quantity that is no number the filters can round


class OrderEntry:
    """Rules, prepared requests and the registry of a session's orders; commands go out
    through the session (`send_rest`, `emit`, `report`)."""

    def __init__(self, session: BinanceSession, session_ms: int, touch: Callable[[int], tuple[float, float]],
                 write_ws_order: Callable[[str, bytes], bool]) -> None:
        self.session = session
        self.settings = session.settings
        self.touch = touch
        # The driver's write of an order.place frame (False: the connection is not open). The
        # one write the session makes itself rather than as a command: it is on the
        # tick-to-order path, and its outcome decides the order's fate at once.
        self.write_ws_order = write_ws_order
        self.ids = ClientOrderIdFactory(session_ms)
        self.rules: list[SymbolRules] = []
        self.templates: list[OrderTemplate] = []
        self.ws_writers: list[OrderPlaceWriter] = []
        self.grids: list[LimitOrderGrid | None] = []
        self.registry: OrderRegistry | None = None
        self.ws_orders: dict[str, int] = {}  # client id -> deadline of an order.place in flight
        self.querying: set[str] = set()  # client ids with a query or myTrades request in flight
        self._resend_after_sync: list[str] = []  # client ids rejected with -1021, resent once synced
        self._last_order_sent_ns = -SLOW_DOWN_GAP_NS
        self._reject_logged_at: dict[str, int] = {}
        # health, read by the metrics collector
        self.local_rejections: dict[str, int] = {}
        self.venue_rejections = 0
        self.orders_sent = 0

    def load(self, rules: list[SymbolRules], target: Target) -> None:
        """exchangeInfo answered: what every order is rounded, checked and built with."""
        s, symbols = self.settings, self.session.symbols
        self.rules = rules
        self.templates = [OrderTemplate(target.host_header, sym, s.credentials, s.order_resp_type,
                                        s.recv_window_ms) for sym in symbols]
        self.grids = [_fast_grid(r) for r in rules]
        self.ws_writers = [OrderPlaceWriter(sym, s.credentials, s.order_resp_type.value, s.recv_window_ms)
                           for sym in symbols]
        self.registry = OrderRegistry(rules)

    # -- submit --------------------------------------------------------------------------------
    def submit(self, order: Order, now: int, ws_api_up: bool) -> None:
        """Round, check, register, send; or reject locally. Never raises for a bad order."""
        session, limits = self.session, self.session.rate_limits
        if not session.ready or self.registry is None:
            reason = LocalReason.NOT_READY if self.registry is None else LocalReason.DISCONNECTED
            self._reject_locally(order, reason, f"gateway {session.state.value}", now)
            return
        if self.settings.orders_via_ws_api and not ws_api_up:
            self._reject_locally(order, LocalReason.DISCONNECTED, "WebSocket API connection down", now)
            return
        if not limits.may_send_orders(now):
            self._reject_locally(order, LocalReason.RATE_LIMITED,
                                 f"resume in {limits.orders_resume_in_ns(now) / NS:.1f} s", now)
            return
        if limits.status(now) is RateLimitStatus.SLOW_DOWN and now - self._last_order_sent_ns < SLOW_DOWN_GAP_NS:
            # Over half of a venue limit: pace orders well before a 429 (and a ban) could come.
            self._reject_locally(order, LocalReason.SLOWING_DOWN,
                                 f"weight_1m={limits.used_weight_1m} orders_10s={limits.order_count_10s}", now)
            return
        reference = self._reference_price(order.sym)
        # The integer fast path gives the same texts as the Decimal one for every order it
        # accepts; for anything else the Decimal path says exactly why (or finds it fine).
        grid = self.grids[order.sym] if self.settings.order_type is OrderType.LIMIT else None
        texts: tuple[str | None, str] | None = None
        if grid is not None:
            texts = grid.prepare(order.side, order.px, order.qty, reference)
        if texts is None:
            texts = self._round_and_check(order, reference, now)
            if texts is None:
                return
        px_text, qty_text = texts
        self._last_order_sent_ns = now
        client_id = self.ids.make(order)
        # registered before the bytes exist: a reply cannot beat it
        self.registry.register(order, client_id, Decimal(qty_text), now)
        self._send(order.sym, client_id, WireSide.of(order.side), px_text, qty_text, now)

    def _round_and_check(self, order: Order, reference: float | None, now: int) -> tuple[str | None, str] | None:
        """The exact Decimal path: the rounded texts (no price for MARKET), or None after
        rejecting the order locally with the filter's name (or `invalid` for a value no filter
        can round, or a MARKET order before there is a touch to check its notional with)."""
        rules = self.rules[order.sym]
        side = WireSide.of(order.side)
        order_type = self.settings.order_type
        try:
            px = None if order_type is OrderType.MARKET else rules.round_price(side, order.px)
            qty = rules.round_qty(order.qty)
            reject = rules.check(side, order_type, px, qty, reference)
        except (ValueError, ArithmeticError) as exc:  # NaN, negative, too many digits: risk stops these
            self._reject_locally(order, LocalReason.INVALID, str(exc) or type(exc).__name__, now)
            return None
        if reject is not None:
            self._reject_locally(order, reject.filter_name.value, f"{rules.symbol} {reject.reason}", now)
            return None
        return None if px is None else format_decimal(px), format_decimal(qty)

    def _send(self, sym: int, client_id: str, side: WireSide, px_text: str | None, qty_text: str, now: int) -> None:
        values = (side, self.settings.order_type, self.settings.time_in_force, qty_text, px_text, client_id,
                  self.session.clock.timestamp_ms(now))
        if self.settings.orders_via_ws_api:
            if self.write_ws_order(client_id, self.ws_writers[sym].frame(*values)):
                self.ws_orders[client_id] = now + self.settings.request_timeout_ns
                self.orders_sent += 1
            else:
                self._on_failed(client_id, FailureReason.NOT_SENT, now)
        elif self.session.send_rest(Tag(RequestKind.ORDER, client_id), self.templates[sym].build(*values), now):
            self.orders_sent += 1
        else:
            self._on_failed(client_id, FailureReason.NOT_SENT, now)

    def _reference_price(self, sym: int) -> float | None:
        # Centre of PERCENT_PRICE_BY_SIDE: the venue uses its 5-minute average, the mid is close.
        bid, ask = self.touch(sym)
        return (bid + ask) / 2 if bid > 0 and ask > 0 else None

    def _reject_locally(self, order: Order, reason: str, detail: str, now: int) -> None:
        self.local_rejections[reason] = self.local_rejections.get(reason, 0) + 1
        if now - self._reject_logged_at.get(reason, -REJECT_LOG_INTERVAL_NS) >= REJECT_LOG_INTERVAL_NS:
            self._reject_logged_at[reason] = now
            log.warning("order rejected locally reason=%s order_id=%d detail=%s total=%d",
                        reason, order.order_id, detail, self.local_rejections[reason])
        self.session.report((ExecReport(order, now, ExecStatus.REJECTED),))

    # -- replies ---------------------------------------------------------------------------------
    def on_outcome(self, tag: Tag, outcome: Response | RequestFailed, now: int) -> None:
        """A REST outcome of an order, a query, a myTrades or a cancel-all request."""
        if isinstance(outcome, Response):
            _ON_RESPONSE[tag.kind](self, tag.key, outcome, now)
        elif tag.kind is RequestKind.ORDER:
            self._on_failed(tag.key, outcome.reason, now)
        elif tag.kind is RequestKind.CANCEL_ALL:
            log.error("cancelling the open orders of %s at exit got no answer (%s): check the account",
                      tag.key, outcome.reason.name)
        else:
            self.querying.discard(tag.key)  # asked again by the next housekeeping

    def _on_order(self, client_id: str, r: Response, now: int) -> None:
        body = json_body(r)
        if r.status == 200 and not is_error_body(body):
            self._on_placed(client_id, body, now)
        elif is_error_body(body):
            self._on_refused(client_id, parse_api_error(body, r.status), now)
        else:
            self._on_refused(client_id, ApiError(0, r.text(), r.status), now)

    def on_ws_order_reply(self, client_id: str, response: WsApiResponse, now: int) -> None:
        """The reply to an ``order.place``: the same facts as a REST reply, and usage counts."""
        self.ws_orders.pop(client_id, None)
        error, clock = response.error, self.session.clock
        wait_ns = None
        if error is not None and error.retry_after_ms is not None:
            wait_ns = max(0, error.retry_after_ms - clock.timestamp_ms(now)) * 1_000_000
        self.session.rate_limits.on_ws_api_reply(response.status, response.rate_limits,
                                                 None if error is None else error.code,
                                                 wait_ns, now)
        try:
            if error is None:
                self._on_placed(client_id, response.result, now)
            else:
                self._on_refused(client_id, error, now)
        except (ParseError, ValueError, LookupError, VenueInconsistency) as exc:
            log.error("cannot use the order.place reply of %s: %s", client_id, exc)

    def on_ws_orders_lost(self, client_ids: Sequence[str], now: int) -> None:
        """The WebSocket API connection ended before these orders' replies: look them up."""
        assert self.registry is not None
        log.warning("%d orders lost their replies with the WebSocket API connection (%s): querying them by "
                    "client id", len(client_ids), ", ".join(client_ids[:3]) + (", ..." if len(client_ids) > 3 else ""))
        for client_id in client_ids:
            self.ws_orders.pop(client_id, None)
            self.session.report(self.registry.on_outcome_unknown(client_id, now))
        self.resolve_unknown(now)

    def _on_placed(self, client_id: str, body: Any, now: int) -> None:
        assert self.registry is not None
        self.session.clock.on_request_done(client_id)
        self.session.report(self.registry.on_order_response(parse_order_response(body), now))

    def _on_refused(self, client_id: str, error: ApiError, now: int) -> None:
        assert self.registry is not None
        clock = self.session.clock
        if error.code == ErrorCode.INVALID_TIMESTAMP:
            if clock.on_invalid_timestamp(client_id) is RetryDecision.RESYNC_AND_RETRY:
                log.warning("order %s rejected with -1021: resyncing the clock, then sending it once more",
                            client_id)
                self._resend_after_sync.append(client_id)
                self.session.request_time(now)
                return
        else:
            clock.on_request_done(client_id)
        self.venue_rejections += 1
        log.warning("order failed at binance client_id=%s status=%s code=%d msg=%s outcome_unknown=%s",
                    client_id, error.http_status, error.code, error.msg, error.outcome_unknown)
        self.session.report(self.registry.on_request_failed(client_id, error, now))

    def resend_after_sync(self, now: int) -> None:
        """The -1021 retries: same order, same id, fresh timestamp (the first was never placed)."""
        resend, self._resend_after_sync = self._resend_after_sync, []
        for client_id in resend:
            tracked = None if self.registry is None else self.registry.get(client_id)
            if tracked is None or not self.session.connected:
                continue
            order = tracked.order
            side = WireSide.of(order.side)
            px_text = None if self.settings.order_type is OrderType.MARKET else \
                format_decimal(tracked.rules.round_price(side, order.px))
            self._send(order.sym, client_id, side, px_text, format_decimal(tracked.qty), now)

    def _on_failed(self, client_id: str, reason: FailureReason, now: int) -> None:
        assert self.registry is not None
        if reason is FailureReason.NOT_SENT:
            # Never written, so never placed; an IOC at an old price is not worth sending late.
            error = ApiError(0, "not sent: the connection closed, or binance asked for a wait, first")
            self.session.report(self.registry.on_request_failed(client_id, error, now))
            return
        log.warning("order %s outcome unknown (%s): querying it by client id", client_id, reason.value)
        self.session.report(self.registry.on_outcome_unknown(client_id, now))

    def expire_ws_orders(self, now: int) -> None:
        """An order.place unanswered past the request timeout is unknown: query it."""
        late = [client_id for client_id, deadline in self.ws_orders.items() if now >= deadline]
        for client_id in late:
            del self.ws_orders[client_id]
            self._on_failed(client_id, FailureReason.TIMED_OUT, now)

    # -- unknown outcomes: query, never resend -------------------------------------------------
    def resolve_unknown(self, now: int) -> None:
        session = self.session
        if self.registry is None or not session.ready:
            return
        timestamp = session.clock.timestamp_ms(now)
        for tracked in self.registry.unknown():
            self.query(tracked, now)
        for tracked in self.registry.awaiting_fills():
            if tracked.client_order_id not in self.querying and tracked.venue_order_id is not None:
                wire = session.requests.my_trades(tracked.symbol, timestamp, order_id=tracked.venue_order_id)
                if session.send_rest(Tag(RequestKind.TRADES, tracked.client_order_id), wire, now):
                    self.querying.add(tracked.client_order_id)

    def query(self, tracked: TrackedOrder, now: int) -> None:
        """``GET /api/v3/order`` by origClientOrderId, unless one is in flight: the order's state
        as the venue has it (a FILLED one's fills then come from myTrades)."""
        session, client_id = self.session, tracked.client_order_id
        if client_id in self.querying or not session.ready:
            return
        wire = session.requests.query_order(tracked.symbol, client_id, session.clock.timestamp_ms(now))
        if session.send_rest(Tag(RequestKind.QUERY, client_id), wire, now):
            self.querying.add(client_id)

    def _on_query(self, client_id: str, r: Response, now: int) -> None:
        assert self.registry is not None
        self.querying.discard(client_id)
        body = json_body(r)
        if r.status == 200:
            state = parse_order(body)
            log.info("order %s resolved by query: %s executed=%s", client_id, state.status, state.executed_qty)
            self.session.report(self.registry.on_order_state(state, now))
            self.resolve_unknown(now)  # a FILLED order's fills come from myTrades
        elif is_error_body(body) and parse_api_error(body).code == ErrorCode.NO_SUCH_ORDER:
            log.info("order %s resolved by query: never placed (-2013)", client_id)
            self.session.report(self.registry.on_not_found(client_id, now))
        else:
            log.warning("query of order %s failed status=%d body=%s", client_id, r.status, r.text())

    def _on_trades(self, client_id: str, r: Response, now: int) -> None:
        assert self.registry is not None
        self.querying.discard(client_id)
        if r.status != 200:
            log.warning("myTrades for order %s failed status=%d body=%s", client_id, r.status, r.text())
            return
        for trade in parse_my_trades(r.json()):
            self.session.report(self.registry.on_trade(trade, now))

    # -- at exit ---------------------------------------------------------------------------------
    def cancel_open_orders(self, symbols: Iterable[str], now: int) -> int:
        """`DELETE /api/v3/openOrders` for each symbol (every open order of the account on it,
        ours or not: that is what the venue offers). Returns requests sent."""
        session = self.session
        if not session.ready:
            log.warning("cannot cancel open orders at exit: the gateway is not ready")
            return 0
        if not session.rate_limits.may_send(now):
            log.error("cannot cancel open orders at exit: binance asked for no requests for %.0f s more "
                      "(HTTP 429/418): check the account", (session.rate_limits.resume_at_ns - now) / NS)
            return 0
        sent = 0
        for symbol in symbols:
            wire = session.requests.cancel_all(symbol, session.clock.timestamp_ms(now))
            sent += session.send_rest(Tag(RequestKind.CANCEL_ALL, symbol), wire, now)
        return sent

    def _on_cancel_all(self, symbol: str, r: Response, now: int) -> None:
        body = json_body(r)
        if r.status == 200:
            cancelled = parse_cancel_open_orders(body)
            for response in cancelled:
                if self.registry is not None:
                    self.session.report(self.registry.on_cancel_response(response, now))
            log.info("cancelled %d open orders of %s at exit", len(cancelled), symbol)
        elif is_error_body(body) and parse_api_error(body).code == ErrorCode.CANCEL_REJECTED:
            log.info("no open orders of %s to cancel at exit", symbol)
        else:
            log.error("cancelling the open orders of %s at exit failed status=%d body=%s",
                      symbol, r.status, r.text())


_ON_RESPONSE: dict[RequestKind, Callable[[OrderEntry, Any, Response, int], None]] = {
    RequestKind.ORDER: OrderEntry._on_order,
    RequestKind.QUERY: OrderEntry._on_query,
    RequestKind.TRADES: OrderEntry._on_trades,
    RequestKind.CANCEL_ALL: OrderEntry._on_cancel_all,
}


def _fast_grid(rules: SymbolRules) -> LimitOrderGrid | None:
    """The integer fast path of a symbol, or None (the Decimal path alone) for a tick, step or
    band no 64-bit integer holds: no listed symbol has one, but it must not stop trading."""
    try:
        return LimitOrderGrid(rules)
    except ValueError as exc:
        log.warning("symbol %s: rounding on the Decimal path only (%s)", rules.symbol, exc)
        return None

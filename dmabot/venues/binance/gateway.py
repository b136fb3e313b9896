"""Binance Spot order entry on the reactor: the I/O driver of `session.BinanceSession`.

The session decides (see it for the life of a connection and of an order); this module only
executes its commands on the reactor, the REST transport and the user data stream, and feeds
what happens there back to it as events. Connections are opened with the `connector` given
(`dmabot.io.transport.connect` by default), so a test hands in its own peer.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from dmabot.core.pipeline import Pipeline
from dmabot.core.types import Order
from dmabot.io.reactor import Reactor, TimerHandle
from dmabot.io.transport import (
    Address,
    Connector,
    Transport,
    TransportError,
    client_tls_context,
    connect,
    resolve,
)
from dmabot.venues.binance.protocol.balances import BalanceBook
from dmabot.venues.binance.protocol.clock import ServerClock
from dmabot.venues.binance.protocol.orders import OrderRegistry
from dmabot.venues.binance.protocol.rest_protocol import RateLimitState, RestConnection
from dmabot.venues.binance.protocol.user_events import UserEvent
from dmabot.venues.binance.protocol.wire import ApiError
from dmabot.venues.binance.protocol.ws_api import WsApiResponse
from dmabot.venues.binance.session import (
    HOUSEKEEPING_NS,
    BinanceSession,
    CloseRest,
    Command,
    Connect,
    Event,
    Fatal,
    ReconnectDue,
    Report,
    RestConnected,
    RestData,
    RestDeadline,
    RestLost,
    ScheduleReconnect,
    SendRest,
    SessionState,
    SetRestDeadline,
    Start,
    StartUserStream,
    Stop,
    Tick,
    UserEventReceived,
    UserSubscribed,
    UserSubscribeRefused,
    WsOrderReply,
    WsOrdersLost,
)
from dmabot.venues.binance.settings import GatewaySettings, rest_target
from dmabot.venues.binance.user_data import UserDataStream

log = logging.getLogger("dmabot.gateway.binance")

VENUE_NAME = "binance"


class UserStreamUnreachable(TransportError):
    """The user data stream's host cannot be resolved (the REST host could)."""


class BinanceGateway:
    """Sends the engine's orders for venue `index` to Binance; reports go to `pipeline.on_exec`."""

    def __init__(self, reactor: Reactor, pipeline: Pipeline, index: int, symbols: Sequence[str],
                 settings: GatewaySettings, session_ms: int,
                 on_fatal: Callable[[str], None] | None = None, connector: Connector = connect,
                 resolver: Callable[[str, int], list[Address]] = resolve) -> None:
        self.reactor = reactor
        self.pipeline = pipeline
        self.index = index
        self.name = VENUE_NAME
        self.symbols = tuple(symbols)
        self.settings = settings
        self.on_fatal = on_fatal
        self.connector = connector
        self.resolver = resolver
        self.target = rest_target(settings.rest_url)
        self._tls = client_tls_context(settings.ca_file or None) if self.target.tls else None
        self.session = BinanceSession(self.symbols, settings, self.target, session_ms, pipeline.touch,
                                      self._write_ws_order)
        self._addresses: list[Address] = []
        self._rest_protocol: _RestProtocol | None = None
        self._deadline_timer: TimerHandle | None = None
        self._reconnect_timer: TimerHandle | None = None
        self._housekeeping_timer: TimerHandle | None = None
        self.user_stream: UserDataStream | None = None
        if settings.ws_api_url:
            self.user_stream = UserDataStream(
                reactor, settings.ws_api_url, settings.credentials,
                server_ms=lambda: self.clock.timestamp_ms(self.reactor.now()),
                on_event=self._on_user_event, on_subscribed=self._on_user_subscribed,
                ca_file=settings.ca_file, recv_window_ms=settings.recv_window_ms,
                backoff_max_ns=settings.backoff_max_ns,
                on_order_reply=self._on_ws_order_reply, on_orders_lost=self._on_ws_orders_lost,
                on_subscribe_refused=self._on_user_subscribe_refused,
                connector=connector, resolver=resolver)

    # -- what the engine and the metrics read ------------------------------------------------
    @property
    def state(self) -> SessionState:
        return self.session.state

    @property
    def connected(self) -> bool:
        return self.session.connected

    @property
    def ready(self) -> bool:
        return self.session.ready

    @property
    def busy(self) -> bool:
        """A request is written or queued and its reply has not come (shutdown waits for it)."""
        stream = self.user_stream
        return self.session.rest_busy or bool(self.session.orders.ws_orders and stream is not None
                                              and stream.connected)

    @property
    def clock(self) -> ServerClock:
        return self.session.clock

    @property
    def rate_limits(self) -> RateLimitState:
        return self.session.rate_limits

    @property
    def balances(self) -> BalanceBook:
        return self.session.balances

    @property
    def registry(self) -> OrderRegistry | None:
        return self.session.orders.registry

    @property
    def rest(self) -> RestConnection | None:
        return self.session.rest

    @property
    def reconnects(self) -> int:
        return self.session.reconnects

    @property
    def local_rejections(self) -> dict[str, int]:
        return self.session.orders.local_rejections

    @property
    def venue_rejections(self) -> int:
        return self.session.orders.venue_rejections

    @property
    def orders_sent(self) -> int:
        return self.session.orders.orders_sent

    @property
    def orders_via_ws_api(self) -> bool:
        return self.settings.orders_via_ws_api

    def wall_clock_offset_ms(self) -> float:
        """The venue's time minus this host's wall clock; needs a synced clock."""
        return self.session.wall_clock_offset_ms(self.reactor.now())

    # -- what the engine calls ---------------------------------------------------------------
    def start(self) -> None:
        """Resolve the REST host (may block: before trading starts) and connect."""
        self._addresses = self.resolver(self.target.host, self.target.port)
        if self.user_stream is not None:
            try:
                self.user_stream.resolve()     # connects once the clock is synced (it signs)
            except TransportError as exc:
                raise UserStreamUnreachable(str(exc)) from None
        self.feed(Start(self.reactor.now()))
        self._housekeeping_timer = self.reactor.call_later(HOUSEKEEPING_NS, self._housekeeping)

    def stop(self) -> None:
        """Close the connections; orders in flight stay as the venue has them (no cancel yet)."""
        self.feed(Stop(self.reactor.now()))
        self._close_all()

    def submit(self, order: Order) -> None:
        """Round, check, register, send; or reject locally. Never raises for a bad order."""
        stream = self.user_stream
        self.session.orders.submit(order, self.reactor.now(), stream is not None and stream.connected)
        self._execute(self.session.take_commands())

    def cancel_open_orders(self) -> int:
        """At exit: `DELETE /api/v3/openOrders` for each symbol. Returns requests sent."""
        sent = self.session.orders.cancel_open_orders(self.symbols, self.reactor.now())
        self._execute(self.session.take_commands())
        return sent

    def feed(self, event: Event) -> None:
        """Hand the session one event and carry out what it asks."""
        self._execute(self.session.handle(event))

    # -- commands ------------------------------------------------------------------------------
    def _execute(self, commands: list[Command]) -> None:
        for command in commands:
            _EXECUTE[type(command)](self, command)

    def _report(self, command: Report) -> None:
        self.pipeline.on_exec(command.report)

    def _send_rest(self, command: SendRest) -> None:
        protocol = self._rest_protocol
        if protocol is not None and protocol.transport is not None:
            protocol.transport.write(command.data)

    def _set_rest_deadline(self, command: SetRestDeadline) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None
        if command.at_ns is not None:
            self._deadline_timer = self.reactor.call_at(command.at_ns, self._on_deadline)

    def _write_ws_order(self, client_id: str, frame: bytes) -> bool:
        stream = self.user_stream
        return stream is not None and stream.send_order(client_id, frame)

    def _close_rest(self, command: CloseRest) -> None:
        protocol = self._rest_protocol
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()  # connection_lost reconnects

    def _connect_rest(self, command: Connect) -> None:
        self._connect(command.attempt)

    def _schedule_reconnect(self, command: ScheduleReconnect) -> None:
        self._rest_protocol = None
        self._reconnect_timer = self.reactor.call_later(command.delay_ns, self._on_reconnect_due)

    def _start_user_stream(self, command: StartUserStream) -> None:
        assert self.user_stream is not None
        self.user_stream.start()

    def _fatal(self, command: Fatal) -> None:
        """The one line that says why: the engine's (it exits with it), or this one's."""
        self._close_all()
        if self.on_fatal is not None:
            self.on_fatal(command.message)
        else:
            log.error("%s", command.message)

    def _connect(self, attempt: int) -> None:
        address = self._addresses[attempt % len(self._addresses)]
        self._rest_protocol = protocol = _RestProtocol(self)
        log.info("connecting rest=%s address=%s", self.settings.rest_url, address)
        self.connector(self.reactor, address, protocol, tls=self._tls, timeout_ns=self.settings.connect_timeout_ns)

    def _close_all(self) -> None:
        if self.user_stream is not None:
            self.user_stream.stop()
        for timer in (self._deadline_timer, self._reconnect_timer, self._housekeeping_timer):
            if timer is not None:
                timer.cancel()
        self._deadline_timer = None
        protocol, self._rest_protocol = self._rest_protocol, None
        if protocol is not None and protocol.transport is not None:
            protocol.transport.close()

    # -- events --------------------------------------------------------------------------------
    def _on_rest_event(self, protocol: _RestProtocol, event: Event) -> None:
        if protocol is self._rest_protocol:   # not a connection given up on
            self.feed(event)

    def _on_deadline(self) -> None:
        self._deadline_timer = None
        self.feed(RestDeadline(self.reactor.now()))

    def _on_reconnect_due(self) -> None:
        self.feed(ReconnectDue(self.reactor.now()))

    def _housekeeping(self) -> None:
        self.feed(Tick(self.reactor.now()))
        if self.session.state is not SessionState.STOPPED:
            self._housekeeping_timer = self.reactor.call_later(HOUSEKEEPING_NS, self._housekeeping)

    def _on_user_event(self, event: UserEvent) -> None:
        self.feed(UserEventReceived(event, self.reactor.now()))

    def _on_user_subscribed(self) -> None:
        self.feed(UserSubscribed(self.reactor.now()))

    def _on_ws_order_reply(self, client_id: str, response: WsApiResponse) -> None:
        self.feed(WsOrderReply(client_id, response, self.reactor.now()))

    def _on_ws_orders_lost(self, client_ids: list[str]) -> None:
        self.feed(WsOrdersLost(tuple(client_ids), self.reactor.now()))

    def _on_user_subscribe_refused(self, error: ApiError) -> None:
        self.feed(UserSubscribeRefused(error, self.reactor.now()))


class _RestProtocol:
    """Transport callbacks of one REST connection, fed to the gateway as events."""

    def __init__(self, gateway: BinanceGateway) -> None:
        self.gateway = gateway
        self.transport: Transport | None = None

    def connection_made(self, transport: Transport) -> None:
        self.transport = transport
        self.gateway._on_rest_event(self, RestConnected(self.gateway.reactor.now()))

    def data_received(self, data: bytes) -> None:
        self.gateway._on_rest_event(self, RestData(data, self.gateway.reactor.now()))

    def connection_lost(self, exc: TransportError | None) -> None:
        if exc is not None:
            log.error("rest connection failed: %s", exc)
        self.transport = None
        self.gateway._on_rest_event(self, RestLost(str(exc) if exc else "connection closed",
                                                   self.gateway.reactor.now()))

    def pause_writing(self) -> None:
        pass  # one request in flight: the write buffer cannot grow

    def resume_writing(self) -> None:
        pass


# how the driver carries out each command of the session
_EXECUTE: dict[type, Callable[[BinanceGateway, Any], None]] = {
    Report: BinanceGateway._report,
    SendRest: BinanceGateway._send_rest,
    SetRestDeadline: BinanceGateway._set_rest_deadline,
    CloseRest: BinanceGateway._close_rest,
    Connect: BinanceGateway._connect_rest,
    ScheduleReconnect: BinanceGateway._schedule_reconnect,
    StartUserStream: BinanceGateway._start_user_stream,
    Fatal: BinanceGateway._fatal,
}

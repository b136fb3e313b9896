"""The simulator process in one object: listening socket, market feed, venue (account,
orders, matching), client connections, fault switches. Runs on a `Reactor` the caller owns and steps."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from dmabot.io.reactor import Reactor
from dmabot.io.server import Server
from dmabot.io.transport import format_hostport, server_tls_context
from dmabot.venues.binance.protocol.signing import Credentials
from dmabot.venues.binance.sim._account import DEFAULT_COMMISSION, parse_balances
from dmabot.venues.binance.sim._app import SimApp
from dmabot.venues.binance.sim._auth import Authenticator
from dmabot.venues.binance.sim._faults import TOO_MANY_ORDERS, Fault, FaultAction
from dmabot.venues.binance.sim._feed import Feed
from dmabot.venues.binance.sim._handler import ClientHandler
from dmabot.venues.binance.sim._limits import DEFAULT_LIMITS, Limits
from dmabot.venues.binance.sim._market import BookTickerWalk
from dmabot.venues.binance.sim._probe import Probe, ProbeConfig
from dmabot.venues.binance.sim._protocol import ConnectionMode
from dmabot.venues.binance.sim._symbols import symbol_spec
from dmabot.venues.binance.sim._venue import Venue

log = logging.getLogger("dmabot.sim")


@dataclass(frozen=True)
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 0  # 0: the kernel picks a free port; see Simulator.port
    tls_cert: str | None = None  # PEM certificate chain; plain TCP when None
    tls_key: str | None = None
    symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT")
    rate_hz: float = 10.0  # bookTicker updates per symbol per second; 0 = as fast as clients read
    seed: int = 0
    ping_interval_s: float = 20.0
    pong_timeout_s: float = 60.0
    # the key signed trading requests are checked against: the API key with its HMAC secret
    # or with the PEM file of its Ed25519 public key; without a key, every signed request is
    # refused with -2015
    api_key: str | None = None
    api_secret: str | None = field(default=None, repr=False)
    api_public_key_file: str | None = None
    # the account's starting free balances, "ASSET=AMOUNT,..."
    balances: str = "USDT=100000,BTC=1,ETH=10"
    commission: Fraction = DEFAULT_COMMISSION  # maker and taker, charged in the asset received
    limits: Limits = DEFAULT_LIMITS
    # tick-to-trade probe mode: the first symbol's book is the probe's (dmabot.venues.binance.sim._probe)
    probe: ProbeConfig | None = None

    @property
    def ping_interval_ns(self) -> int:
        return round(self.ping_interval_s * 1e9)

    @property
    def pong_timeout_ns(self) -> int:
        return round(self.pong_timeout_s * 1e9)


def authenticator(config: SimConfig) -> Authenticator:
    """The account's key as `config` gives it (ValueError for two, or a bad public key file)."""
    if config.api_secret and config.api_public_key_file:
        raise ValueError("an API key has an HMAC secret or an Ed25519 public key, not both")
    if config.api_key and config.api_secret:
        return Authenticator(Credentials(config.api_key, config.api_secret))
    if config.api_key and config.api_public_key_file:
        try:
            pem = Path(config.api_public_key_file).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read {config.api_public_key_file}: {exc.strerror}") from None
        return Authenticator.ed25519(config.api_key, pem)
    return Authenticator(None)


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Simulator:
    """A Binance-compatible exchange (market data and signed trading) on `reactor`.

    `start()` binds and starts the feed; `close()` undoes it. The fault methods return how
    many connections they hit; see `dmabot.venues.binance.sim._faults` for what each does.
    """

    def __init__(self, reactor: Reactor, config: SimConfig, *, now_ms: Callable[[], int] = wall_clock_ms) -> None:
        self.reactor = reactor
        self.config = config
        self.now_ms = now_ms  # server time for REST and WS API replies
        specs = {name: symbol_spec(name) for name in config.symbols}
        self.connections: set[ClientHandler] = set()
        walks = [BookTickerWalk(spec, config.seed) for spec in specs.values()]
        self.venue = Venue(
            {walk.spec.symbol: walk for walk in walks}, parse_balances(config.balances), config.commission
        )
        self.app = SimApp(specs, self, venue=self.venue, auth=authenticator(config), limits=config.limits)
        self.probe: Probe | None = None
        if config.probe is not None:
            self.probe = Probe(reactor, walks[0], self.connections, self._on_book, config.probe)
            self.app.on_order_arrival = self.probe.order_arrived
            walks = walks[1:]
        self.feed = Feed(reactor, walks, config.rate_hz, self.connections, self._on_book)
        self._server: Server | None = None

    def start(self) -> None:
        tls = None
        if self.config.tls_cert is not None:
            tls = server_tls_context(self.config.tls_cert, self.config.tls_key or self.config.tls_cert)
        self._server = Server(self.reactor, self.config.host, self.config.port, lambda: ClientHandler(self), tls=tls)
        self.feed.start()
        if self.probe is not None:
            self.probe.start()
        log.info(
            "sim listening on %s (symbols %s, rate %g Hz, seed %d, api key %s, balances %s, commission %s)",
            self.url,
            ",".join(self.config.symbols),
            self.config.rate_hz,
            self.config.seed,
            ("set (Ed25519)" if self.config.api_public_key_file else "set") if self.config.api_key else "unset",
            self.config.balances,
            float(self.config.commission),
        )
        if self.config.probe is not None:
            probe = self.config.probe
            log.info(
                "probe tick-to-trade on %s: %d ticks measured after %d warm-up orders, report to %s",
                self.config.symbols[0],
                probe.ticks,
                probe.warmup,
                probe.out,
            )

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return self._server.port

    @property
    def url(self) -> str:
        scheme = "wss" if self.config.tls_cert else "ws"
        return f"{scheme}://{format_hostport(self.config.host, self.port)}"

    def close(self) -> None:
        self.feed.stop()
        if self.probe is not None:
            self.probe.stop()
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.drop()

    def _on_book(self, walk: BookTickerWalk) -> None:
        try:
            self.venue.on_book(walk.spec.symbol, self.now_ms())
        except Exception:  # a venue bug must not stop the market data
            log.exception("venue failed to match %s after a book update", walk.spec.symbol)

    # -- fault switches --------------------------------------------------------------------
    def apply_fault(self, fault: Fault) -> int:
        rest = self.app.rest
        # how many connections a fault hit now; None: it waits for future requests (REST faults)
        actions: dict[FaultAction, Callable[[], int | None]] = {
            FaultAction.DROP_CLIENTS: self.drop_clients,
            FaultAction.STALL: lambda: self.stall(fault.seconds),
            FaultAction.MALFORMED_FRAME: self.send_malformed_frame,
            FaultAction.MALFORMED_PAYLOAD: self.send_malformed_payload,
            FaultAction.PING: self.ping_clients,
            FaultAction.SERVER_SHUTDOWN: self.announce_shutdown,
            FaultAction.CLOSE: lambda: self.close_clients(fault.code),
            FaultAction.DROP_USER_STREAM: self.drop_user_streams,
            FaultAction.DELAY_REPLY: lambda: rest.queue_reply_fault(fault),
            FaultAction.LOSE_REPLY: lambda: rest.queue_reply_fault(fault),
            FaultAction.HTTP_5XX: lambda: rest.queue_reply_fault(fault),
            FaultAction.FORCE_1021: lambda: rest.force_1021(fault.count),
            FaultAction.FORCE_429: lambda: rest.force_429(fault.count, fault.retry_after_s,
                                                        fault.code == TOO_MANY_ORDERS),
            FaultAction.FORCE_418: lambda: rest.force_418(self.now_ms(), fault.seconds),
        }
        log.info("fault %s", fault)
        return actions[fault.action]() or 0

    def drop_clients(self) -> int:
        return self._each_websocket(ClientHandler.drop)

    def drop_user_streams(self) -> int:
        """Cut every WebSocket API connection holding a user-data subscription."""
        targets = [c for c in self.connections if c.has_user_stream]
        for connection in targets:
            connection.drop()
        return len(targets)

    def stall(self, seconds: float) -> int:
        self.feed.stall(seconds)
        return sum(1 for c in self.connections if c.mode is ConnectionMode.STREAM)

    def send_malformed_frame(self) -> int:
        return self._each_websocket(ClientHandler.send_malformed_frame)

    def send_malformed_payload(self) -> int:
        return self._each_websocket(ClientHandler.send_malformed_payload)

    def announce_shutdown(self) -> int:
        """Send `serverShutdown` to every market-data stream (the connections stay open)."""
        return self._each_websocket(ClientHandler.send_server_shutdown)

    def ping_clients(self) -> int:
        return self._each_websocket(ClientHandler.ping)

    def close_clients(self, code: int, reason: str = "sim fault") -> int:
        return self._each_websocket(lambda c: c.close(code, reason))

    def _each_websocket(self, action: Callable[[ClientHandler], None]) -> int:
        targets = [c for c in self.connections if c.mode is not ConnectionMode.HTTP]
        for connection in targets:
            action(connection)
        return len(targets)



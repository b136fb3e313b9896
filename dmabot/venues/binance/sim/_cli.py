"""`python -m dmabot.venues.binance.sim` / `python -m dmabot sim`: run the simulator until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
from decimal import Decimal
from fractions import Fraction

from dmabot.io.reactor import Reactor
from dmabot.io.transport import TransportError
from dmabot.venues.binance.sim._account import parse_balances
from dmabot.venues.binance.sim._limits import Limits
from dmabot.venues.binance.sim._probe import ProbeConfig
from dmabot.venues.binance.sim._simulator import SimConfig, Simulator
from dmabot.venues.binance.sim._symbols import symbol_spec

log = logging.getLogger("dmabot.sim")


def build_parser() -> argparse.ArgumentParser:
    defaults = SimConfig()
    parser = argparse.ArgumentParser(
        prog="dmabot sim",
        description="Binance-compatible exchange simulator: REST, WebSocket streams and WebSocket API "
        "on one port, with signed trading against its own books (needs --api-key and --api-secret, or "
        "--api-public-key-file for an Ed25519 key). "
        "Logs 'sim listening on ws(s)://HOST:PORT' once bound. "
        "Fault switches: POST /sim/fault?action=... (see dmabot/sim/_faults.py).",
    )
    parser.add_argument("--host", default=defaults.host, help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=defaults.port, help="port to bind; 0 picks a free one")
    parser.add_argument("--tls-cert", metavar="FILE", help="PEM certificate chain; serve TLS (wss/https)")
    parser.add_argument("--tls-key", metavar="FILE", help="PEM private key (default: inside --tls-cert)")
    parser.add_argument(
        "--symbols",
        type=_symbols,
        default=defaults.symbols,
        help="comma-separated symbols (default {})".format(",".join(defaults.symbols)),
    )
    parser.add_argument(
        "--rate",
        type=_non_negative,
        default=defaults.rate_hz,
        metavar="HZ",
        help="bookTicker updates per symbol per second; 0 = as fast as clients read (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed, help="random walk seed (default %(default)s)")
    parser.add_argument("--api-key", help="API key accepted for signed requests")
    parser.add_argument("--api-secret", help="its HMAC secret (never logged)")
    parser.add_argument("--api-public-key-file", metavar="FILE",
                        help="or the PEM file of its Ed25519 public key: signatures are verified against it")
    parser.add_argument(
        "--balances",
        type=_balances,
        default=defaults.balances,
        metavar="ASSET=AMOUNT,...",
        help="the account's starting free balances (default %(default)s)",
    )
    parser.add_argument(
        "--commission",
        type=_commission,
        default=defaults.commission,
        metavar="RATE",
        help="maker and taker commission rate, charged in the asset received (default 0.001)",
    )
    parser.add_argument(
        "--weight-limit",
        type=_positive_int,
        default=defaults.limits.request_weight,
        metavar="N",
        help="REQUEST_WEIGHT per minute before 429 (default %(default)s)",
    )
    parser.add_argument(
        "--order-limit-10s",
        type=_positive_int,
        default=defaults.limits.orders_10s,
        metavar="N",
        help="new orders per 10 seconds before 429 -1015 (default %(default)s)",
    )
    parser.add_argument(
        "--ping-interval",
        type=_positive,
        default=defaults.ping_interval_s,
        metavar="SECONDS",
        help="server WebSocket ping period (default %(default)s)",
    )
    parser.add_argument(
        "--pong-timeout",
        type=_positive,
        default=defaults.pong_timeout_s,
        metavar="SECONDS",
        help="drop a client whose pong is this late (default %(default)s)",
    )
    probe = parser.add_argument_group(
        "tick-to-trade probe",
        "The first symbol's book alternates so that mean reversion (MR_WINDOW=2, MR_EDGE_BPS=1, "
        "MR_COOLDOWN_MS=0) fires on every tick; each tick is timed from its write to the arrival of the "
        "order it causes (REST or WebSocket API). Raise --weight-limit and --order-limit-10s well above "
        "what the probe sends, or the engine paces its orders. See dmabot/sim/_probe.py.",
    )
    probe.add_argument(
        "--probe-tick-to-trade",
        type=_positive_int,
        metavar="N",
        help="measure N ticks (each an order's latency or a miss), then write the report",
    )
    probe.add_argument(
        "--probe-warmup",
        type=_non_negative_int,
        default=ProbeConfig.warmup,
        metavar="N",
        help="orders before the measuring starts, not counted (default %(default)s)",
    )
    probe.add_argument("--probe-out", metavar="FILE", help="where the JSON report goes (required with the probe)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.tls_key and not args.tls_cert:
            parser.error("--tls-key needs --tls-cert")
        if args.api_secret and args.api_public_key_file:
            parser.error("--api-secret and --api-public-key-file: an API key has one or the other")
        if (args.probe_tick_to_trade is None) != (args.probe_out is None):
            parser.error("--probe-tick-to-trade and --probe-out go together")
    except SystemExit as exc:  # --help or a usage error, already printed
        return int(exc.code or 0)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = SimConfig(
        host=args.host,
        port=args.port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        symbols=args.symbols,
        rate_hz=args.rate,
        seed=args.seed,
        ping_interval_s=args.ping_interval,
        pong_timeout_s=args.pong_timeout,
        api_key=args.api_key,
        api_secret=args.api_secret,
        api_public_key_file=args.api_public_key_file,
        balances=args.balances,
        commission=args.commission,
        limits=Limits(request_weight=args.weight_limit, orders_10s=args.order_limit_10s),
        probe=ProbeConfig(args.probe_tick_to_trade, args.probe_out, args.probe_warmup)
        if args.probe_tick_to_trade is not None
        else None,
    )
    reactor = Reactor()
    try:
        sim = Simulator(reactor, config)
    except ValueError as exc:  # a secret with surrounding whitespace, a bad public key; never shows a secret
        log.error("sim cannot start: %s", exc)
        return 1
    try:
        sim.start()
    except (TransportError, OSError) as exc:  # port taken, unreadable certificate
        log.error("sim cannot start: %s", exc)
        return 1
    reactor.install_signal_handlers()
    try:
        reactor.run()
    finally:
        sim.close()
        reactor.close()
    log.info("sim stopped by %s", signal.Signals(reactor.stop_signal).name if reactor.stop_signal else "stop()")
    return 0


def _symbols(text: str) -> tuple[str, ...]:
    names = tuple(name.strip().upper() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("no symbols given")
    for name in names:
        try:
            symbol_spec(name)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return names


def _balances(text: str) -> str:
    try:
        parse_balances(text)
    except (ValueError, ArithmeticError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _commission(text: str) -> Fraction:
    try:
        rate = Fraction(Decimal(text))
    except (ValueError, ArithmeticError):
        raise argparse.ArgumentTypeError(f"{text} is not a number") from None
    if not 0 <= rate < 1:
        raise argparse.ArgumentTypeError(f"{text} is not in [0, 1)")
    return rate


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not > 0")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not >= 0")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text} is not >= 0")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not > 0")
    return value

"""Command line: `python -m dmabot [run] [ENV_FILE]`, `python -m dmabot sim ...`."""
from __future__ import annotations

import argparse
import logging
import sys
import time

from dmabot.app.config import ConfigError, load_config
from dmabot.venues.keys import VenueUnreachable

# A venue host that did not resolve at start: worth restarting, unlike a config error (2).
EXIT_VENUE_UNREACHABLE = 3

USAGE = """usage: python -m dmabot [run] [ENV_FILE]     run the engine (ENV_FILE defaults to ./.env)
       python -m dmabot sim [OPTIONS]         run the local Binance-compatible exchange simulator
       python -m dmabot replay FILE [OPTIONS] replay a recording through the pipeline and report"""


class _UtcFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802 - logging's
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


def setup_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_UtcFormatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="dmabot run", description="Run the trading engine.")
    parser.add_argument("env_file", nargs="?", help="env file with the configuration (default ./.env)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.env_file)
    except ConfigError as exc:
        print(f"dmabot: config error: {exc}", file=sys.stderr)
        return 2
    setup_logging(config.log_level)
    for warning in config.warnings:
        logging.getLogger("dmabot.config").warning("%s", warning)
    from dmabot.app.engine import Engine  # after logging: building the engine logs

    try:
        Engine(config).run()
    except ConfigError as exc:
        logging.getLogger("dmabot").error("config error: %s", exc)
        return 2
    except VenueUnreachable as exc:
        logging.getLogger("dmabot").error("venue unreachable at start: %s", exc)
        return EXIT_VENUE_UNREACHABLE
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0
    if argv and argv[0] == "sim":
        from dmabot.venues.binance.sim import main as sim_main
        return sim_main(argv[1:])
    if argv and argv[0] == "replay":
        setup_logging("WARNING")
        from dmabot.app.replay import main as replay_main
        return replay_main(argv[1:])
    if argv and argv[0] == "run":
        argv = argv[1:]
    return run(argv)


"""Replay: a recording's market data through the same pipeline, on simulated time.

The reactor runs on a manual clock that the recorded `Md` timestamps drive: before a tick
stamped t, every venue timer due at or before t runs, exactly the order a live loop runs
them in (see reactor.py). Strategies, risk, router, mock venues and positions are the
engine's own and do not know they are replayed. The file is streamed in chunks, so memory
stays flat whatever its size; recorder-layout `Md` lines are parsed in Cython.
"""
from __future__ import annotations

import csv
import logging
import math
import sys
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator, Mapping

import ujson

from dmabot.app.config import Config, ConfigError, check_names, load_config, parse_config
from dmabot.app.engine import build_pipeline
from dmabot.core.positions import PositionBook
from dmabot.core.replay_reader import MdLineReader, ReadStop
from dmabot.core.symbols import SymbolTable
from dmabot.core.types import ExecReport, ExecStatus, Order, Side
from dmabot.io.reactor import ManualClock, Reactor
from dmabot.venues.mock.venue import MockVenues

log = logging.getLogger("dmabot.replay")

CHUNK = 1 << 20
EQUITY_INTERVAL_NS = 1_000_000_000          # equity curve sample period, simulated time
STRATEGY_NAMES = ("mean_reversion", "ma_crossover", "vol_breakout")   # by StrategyKind
MAX_SHOWN_BAD_LINES = 5
VERIFIED_TAGS = (b'{"Sig"', b'{"Ord"', b'{"Exec"')


class ReplayError(Exception):
    """The recording cannot be replayed (missing, empty, no usable configuration)."""


# -- input ------------------------------------------------------------------------------
def read_header(path: Path) -> dict[str, Any] | None:
    """The recording's Header event, if its first line is one."""
    with open(path, "rb") as f:
        first = f.readline()
    try:
        event = ujson.loads(first)
    except ValueError:
        return None
    return event.get("Header") if isinstance(event, dict) else None


def replay_config(path: Path, config_file: str | None, overrides: Mapping[str, str]) -> Config:
    """--config if given, else the recording header's configuration; --set wins over both."""
    check_names(overrides)
    if config_file is not None:
        return load_config(config_file, dict(overrides))
    header = read_header(path)
    if header is None or not isinstance(header.get("config"), dict):
        raise ReplayError(f"{path} has no Header line with the configuration: give --config")
    raw = {k: str(v) for k, v in header["config"].items()}
    raw.update(overrides)
    venue_mode = raw.get("VENUE_MODE", "mock").strip().lower() or "mock"
    if venue_mode != "mock":
        # Replay simulates fills with the mock venues; Binance's fills cannot be re-made.
        raise ReplayError(f"{path} was recorded with VENUE_MODE={venue_mode}: replay it against the mock "
                          "venues with --set VENUE_MODE=mock (fills then differ from the recorded ones)")
    return parse_config(raw, source=f"{path} (header)")


def chunks(f: IO[bytes], size: int) -> Iterator[bytes]:
    """The file in CHUNK pieces, with a progress bar on stderr when it is a terminal and
    tqdm is installed (the `progress` extra)."""
    bar = None
    if sys.stderr.isatty():
        try:
            from tqdm import tqdm
            bar = tqdm(total=size, unit="B", unit_scale=True, desc="replay", file=sys.stderr)
        except ImportError:
            pass
    while data := f.read(CHUNK):
        yield data
        if bar is not None:
            bar.update(len(data))
    if bar is not None:
        bar.close()


# -- report -----------------------------------------------------------------------------
class StrategyBooks:
    """Positions per (strategy, symbol, venue): the core's PositionBook with one row per
    (strategy, symbol), so the replay's per-strategy PnL is the engine's own arithmetic."""

    def __init__(self, symbols: list[str], venues: list[str]) -> None:
        self.symbols, self.venues = symbols, venues
        self.book = PositionBook(len(STRATEGY_NAMES) * len(symbols), len(venues))
        self.traded: set[tuple[int, int, int]] = set()     # (strategy, symbol, venue)

    def _row(self, strategy: int, sym: int) -> int:
        return strategy * len(self.symbols) + sym

    def fill(self, o: Order, report: ExecReport) -> None:
        self.traded.add((o.strategy, o.sym, o.venue))
        self.book.fill(self._row(o.strategy, o.sym), o.venue, o.side, report.fill_px, report.fill_qty, report.fee)

    def mark(self, mids: list[float]) -> None:
        for k in range(len(STRATEGY_NAMES)):
            for sym, mid in enumerate(mids):
                if mid > 0:
                    self.book.mark(self._row(k, sym), mid)

    def rows(self, strategy: int | None = None) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
        """(strategy, symbol, venue, position) of every book that traded."""
        for k, sym, v in sorted(self.traded):
            if strategy is None or k == strategy:
                yield STRATEGY_NAMES[k], self.symbols[sym], self.venues[v], self.book.get(self._row(k, sym), v)

    def equity(self, strategy: int) -> float:
        return sum(p["realized"] - p["fees"] + p["unrealized"] for *_, p in self.rows(strategy))


@dataclass
class Report:
    books: StrategyBooks
    ticks: int = 0
    signals: int = 0
    orders: int = 0
    fills: int = 0
    fill_latencies_ns: list[int] = field(default_factory=list)
    equity: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    malformed: int = 0
    malformed_lines: list[int] = field(default_factory=list)
    truncated_last_line: bool = False
    first_ts: int = 0
    last_ts: int = 0

    def max_drawdown(self, strategy: str) -> float:
        peak, worst = -math.inf, 0.0
        for _, value in self.equity.get(strategy, []):
            peak = max(peak, value)
            worst = max(worst, peak - value)
        return worst

    def as_dict(self) -> dict[str, Any]:
        lat = sorted(self.fill_latencies_ns)

        def pct(q: float) -> float | None:
            return lat[min(len(lat) - 1, int(q * len(lat)))] / 1e6 if lat else None

        def totals(positions: list[dict[str, Any]]) -> dict[str, Any]:
            realized = sum(p["realized"] for p in positions)
            unrealized = sum(p["unrealized"] for p in positions)
            fees = sum(p["fees"] for p in positions)
            return {"fills": sum(p["fills"] for p in positions), "qty": sum(p["qty"] for p in positions),
                    "realized_pnl": realized, "unrealized_pnl": unrealized, "fees": fees,
                    "net_pnl": realized + unrealized - fees}

        rows = list(self.books.rows())
        strategies = sorted({s for s, _, _, _ in rows})
        return {
            "ticks": self.ticks, "signals": self.signals, "orders": self.orders, "fills": self.fills,
            "duration_s": (self.last_ts - self.first_ts) / 1e9 if self.last_ts else 0.0,
            **{k: v for k, v in totals([p for *_, p in rows]).items()
               if k in ("realized_pnl", "unrealized_pnl", "fees")},
            "by_strategy": [{"strategy": s, **totals([p for n, _, _, p in rows if n == s]),
                             "max_drawdown": self.max_drawdown(s)} for s in strategies],
            "by_strategy_symbol_venue": [{"strategy": s, "symbol": sym, "venue": v, **totals([p])}
                                         for s, sym, v, p in rows],
            "signal_to_fill_ms": {"count": len(lat), "p50": pct(0.5), "p90": pct(0.9), "p99": pct(0.99),
                                  "max": lat[-1] / 1e6 if lat else None},
            "malformed_lines": self.malformed, "malformed_line_numbers": self.malformed_lines,
            "truncated_last_line": self.truncated_last_line,
        }


def format_report(d: dict[str, Any]) -> str:
    lines = [
        f"replayed {d['ticks']} ticks over {d['duration_s']:.3f} s: signals={d['signals']} "
        f"orders={d['orders']} fills={d['fills']} fees={d['fees']:.6f}",
        f"pnl realized={d['realized_pnl']:.6f} unrealized={d['unrealized_pnl']:.6f} "
        f"net={d['realized_pnl'] + d['unrealized_pnl'] - d['fees']:.6f}",
    ]
    lat = d["signal_to_fill_ms"]
    if lat["count"]:
        lines.append(f"signal-to-fill ms: p50={lat['p50']:.3f} p90={lat['p90']:.3f} "
                     f"p99={lat['p99']:.3f} max={lat['max']:.3f} (n={lat['count']})")
    lines.append(f"{'strategy':<16}{'fills':>7}{'realized':>14}{'unrealized':>14}{'fees':>12}{'net':>14}{'max_dd':>12}")
    for r in d["by_strategy"]:
        lines.append(f"{r['strategy']:<16}{r['fills']:>7}{r['realized_pnl']:>14.6f}{r['unrealized_pnl']:>14.6f}"
                     f"{r['fees']:>12.6f}{r['net_pnl']:>14.6f}{r['max_drawdown']:>12.6f}")
    lines.append(f"{'strategy':<16}{'symbol':<10}{'venue':<10}{'fills':>7}{'qty':>12}{'realized':>14}"
                 f"{'unrealized':>14}{'fees':>12}")
    for r in d["by_strategy_symbol_venue"]:
        lines.append(f"{r['strategy']:<16}{r['symbol']:<10}{r['venue']:<10}{r['fills']:>7}{r['qty']:>12.6g}"
                     f"{r['realized_pnl']:>14.6f}{r['unrealized_pnl']:>14.6f}{r['fees']:>12.6f}")
    if d["malformed_lines"]:
        shown = ", ".join(map(str, d["malformed_line_numbers"]))
        lines.append(f"skipped {d['malformed_lines']} malformed lines (first: {shown})")
    if d["truncated_last_line"]:
        lines.append("skipped a truncated last line (the recording was cut mid-write)")
    return "\n".join(lines)


# -- verification -------------------------------------------------------------------------
@dataclass
class Divergence:
    line: int
    field: str
    recorded: Any
    replayed: Any

    def __str__(self) -> str:
        return (f"first divergence at line {self.line}: {self.field} "
                f"recorded={self.recorded!r} replayed={self.replayed!r}")


def _first_difference(recorded: bytes | None, replayed: bytes | None, line: int) -> Divergence:
    if recorded is None or replayed is None:
        missing = "recording" if recorded is None else "replay"
        return Divergence(line, f"event (missing from the {missing})",
                          recorded.decode() if recorded else None, replayed.decode() if replayed else None)
    a, b = ujson.loads(recorded), ujson.loads(replayed)
    (tag_a, body_a), (tag_b, body_b) = next(iter(a.items())), next(iter(b.items()))
    if tag_a != tag_b:
        return Divergence(line, "event", tag_a, tag_b)
    for key in body_a.keys() | body_b.keys():
        if body_a.get(key) != body_b.get(key):
            return Divergence(line, f"{tag_a}.{key}", body_a.get(key), body_b.get(key))
    return Divergence(line, "line", recorded.decode(), replayed.decode())


class Verifier:
    """Compares the recorded Sig/Ord/Exec lines with the replay's, in order."""

    def __init__(self) -> None:
        self.recorded: deque[tuple[int, bytes]] = deque()
        self.replayed: deque[bytes] = deque()
        self.compared = 0
        self.divergence: Divergence | None = None

    def add_recorded(self, line_no: int, line: bytes) -> None:
        self.recorded.append((line_no, line))

    def add_replayed(self, data: bytes) -> None:
        self.replayed.extend(x for x in data.splitlines() if x.startswith(VERIFIED_TAGS))

    def compare(self) -> None:
        while self.divergence is None and self.recorded and self.replayed:
            line_no, rec = self.recorded.popleft()
            rep = self.replayed.popleft()
            if rec != rep:
                self.divergence = _first_difference(rec, rep, line_no)
            self.compared += 1

    def finish(self, last_line: int) -> None:
        self.compare()
        if self.divergence is None and (self.recorded or self.replayed):
            line_no = self.recorded[0][0] if self.recorded else last_line
            self.divergence = _first_difference(self.recorded[0][1] if self.recorded else None,
                                                self.replayed[0] if self.replayed else None, line_no)


# -- the replay ---------------------------------------------------------------------------
class Replay:
    def __init__(self, path: str | Path, config: Config, verify: bool = False, keep_trades: bool = False) -> None:
        self.path = Path(path)
        self.config = config
        self.reactor = Reactor(ManualClock(0))
        self.pipeline = build_pipeline(config, record=verify)
        self.venue_names = [v.name for v in config.mock.venues]
        self.symbols = list(config.symbols)
        # the mock venues always: a replay re-runs the orders against the recorded market
        self.venues = MockVenues(config.mock, on_report=self._on_report).build_gateways(
            self.reactor, self.pipeline, config.symbols, on_fatal=self._on_fatal)
        self.pipeline.order_sink = lambda order: self.venues[order.venue].submit(order)
        self.reader = MdLineReader(self.pipeline, SymbolTable(self.symbols))
        self.verifier = Verifier() if verify else None
        self.report = Report(StrategyBooks(self.symbols, self.venue_names))
        self.trades: list[tuple] | None = [] if keep_trades else None
        self._next_equity_ts = 0
        self._last_event_ts = 0      # latest ts of a recorded Sig/Ord/Exec line

    @staticmethod
    def _on_fatal(message: str) -> None:
        raise RuntimeError(f"a mock venue cannot fail, yet: {message}")

    def _on_report(self, report: ExecReport) -> None:
        self.pipeline.on_exec(report)
        if report.status != ExecStatus.FILLED:
            return
        o: Order = report.order
        self.report.books.fill(o, report)
        self.report.fills += 1
        self.report.fill_latencies_ns.append(report.ts - o.ts)
        if self.trades is not None:
            self.trades.append((report.ts, o.order_id, STRATEGY_NAMES[o.strategy], self.symbols[o.sym],
                                self.venue_names[o.venue], "BUY" if o.side == Side.BUY else "SELL",
                                report.fill_px, report.fill_qty, report.fee, report.trade_id))
        self._sample_equity(report.ts, o.strategy)

    def _sample_equity(self, ts: int, strategy: int | None = None) -> None:
        books = self.report.books
        books.mark([sum(self.pipeline.touch(i)) / 2 for i in range(len(self.symbols))])
        kinds = [strategy] if strategy is not None else sorted({k for k, _, _ in books.traded})
        for k in kinds:
            self.report.equity.setdefault(STRATEGY_NAMES[k], []).append((ts, books.equity(k)))

    def run(self) -> Report:
        if not self.path.is_file():
            raise ReplayError(f"{self.path}: no such file")
        tail = b""
        with open(self.path, "rb") as f:
            for data in chunks(f, self.path.stat().st_size):
                buf = tail + data if tail else data
                pos = self._run_lines(buf)
                tail = buf[pos:]
        if tail.strip():
            self.report.truncated_last_line = True
            log.warning("skipped a truncated last line at line %d (%d bytes): the recording was cut mid-write",
                        self.reader.lines + 1, len(tail))
        if self.reader.lines == 0 and not tail:
            raise ReplayError(f"{self.path} is empty")
        self.reactor.advance_to(max(self._last_event_ts, self.pipeline.last_ts))
        self._collect_replayed()
        if self.verifier is not None:
            self.verifier.finish(self.reader.lines)
        r = self.report
        r.ticks = self.pipeline.ticks
        r.signals = sum(map(sum, self.pipeline.signals()))
        r.orders = sum(self.pipeline.orders_by_venue())
        r.first_ts = self.pipeline.first_ts
        r.last_ts = max(self._last_event_ts, self.pipeline.last_ts)
        self._sample_equity(r.last_ts)
        return r

    def _run_lines(self, buf: bytes) -> int:
        pos = 0
        reader, reactor = self.reader, self.reactor
        while True:
            due = reactor.next_due()
            stop, pos, value = reader.feed(buf, pos, due if due is not None else 2**63 - 1)
            if stop == ReadStop.END:
                self._collect_replayed()
                return pos
            if stop == ReadStop.TIMER:
                reactor.advance_to(value)
                self._collect_replayed()
            elif stop == ReadStop.ORDERS:
                self._collect_replayed()
                self._after_tick()
            else:
                self._other_line(buf[pos:value], reader.lines)
                pos = value + 1

    def _after_tick(self) -> None:
        ts = self.pipeline.last_ts
        if ts >= self._next_equity_ts:
            self._sample_equity(ts)
            self._next_equity_ts = ts + EQUITY_INTERVAL_NS

    def _collect_replayed(self) -> None:
        if self.verifier is not None and self.pipeline.recorder is not None:
            self.verifier.add_replayed(self.pipeline.recorder.take())
            self.verifier.compare()

    def _other_line(self, line: bytes, line_no: int) -> None:
        """A line the fast path did not take: another event, or a malformed one."""
        if self.verifier is None and line.startswith(VERIFIED_TAGS):
            # only its time matters here: spare a JSON parse per recorded event
            start = line.find(b'"ts":') + 5
            end = line.find(b",", start)
            if start > 4 and line[start:end].isdigit():
                self._last_event_ts = max(self._last_event_ts, int(line[start:end]))
                return
        try:
            event = ujson.loads(line)
            ((tag, body),) = event.items()
        except (ValueError, AttributeError):
            return self._malformed(line_no, line)
        if tag == "Md":
            return self._slow_md(body, line_no, line)
        if tag in ("Sig", "Ord", "Exec"):
            if isinstance(body, dict) and isinstance(body.get("ts"), int):
                self._last_event_ts = max(self._last_event_ts, body["ts"])
            if self.verifier is not None:
                self.verifier.add_recorded(line_no, line)
                self.verifier.compare()
        elif tag != "Header":
            self._malformed(line_no, line)

    def _slow_md(self, body: Any, line_no: int, line: bytes) -> None:
        """An Md the C parser did not take (fields reordered, unknown symbol, bad numbers)."""
        try:
            sym = self.symbols.index(body["symbol"])
            ts, u = int(body["ts"]), int(body.get("u", 0))
            bid, bid_qty, ask, ask_qty = (float(body[k]) for k in ("bid", "bid_qty", "ask", "ask_qty"))
        except (KeyError, ValueError, TypeError):
            return self._malformed(line_no, line)
        if not (0 < bid <= ask and math.isfinite(ask) and bid_qty >= 0 and ask_qty >= 0):
            return self._malformed(line_no, line)
        self.reactor.advance_to(ts)
        self.pipeline.push_tick(ts, sym, bid, bid_qty, ask, ask_qty, u)
        self.pipeline.drain()
        self._collect_replayed()

    def _malformed(self, line_no: int, line: bytes) -> None:
        self.report.malformed += 1
        if len(self.report.malformed_lines) < MAX_SHOWN_BAD_LINES:
            self.report.malformed_lines.append(line_no)
            log.warning("skipped malformed line %d: %s", line_no, line[:120].decode("utf-8", "replace"))


# -- outputs ------------------------------------------------------------------------------
def write_trades(path: str, trades: list[tuple]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts_ns", "order_id", "strategy", "symbol", "venue", "side", "price", "qty", "fee", "trade_id"])
        w.writerows(trades)


def write_plot(path: str, report: Report) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ReplayError('--plot needs matplotlib: pip install "dmabot[plot]"') from None
    fig, (ax_eq, ax_dd) = plt.subplots(2, 1, sharex=True, figsize=(10, 6))
    for name, points in sorted(report.equity.items()):
        if not points:
            continue
        t0 = report.first_ts or points[0][0]
        xs = [(t - t0) / 1e9 for t, _ in points]
        ys = [v for _, v in points]
        peak, dd = -math.inf, []
        for v in ys:
            peak = max(peak, v)
            dd.append(v - peak)
        ax_eq.plot(xs, ys, label=name)
        ax_dd.plot(xs, dd, label=name)
    ax_eq.set_ylabel("equity (quote)")
    ax_dd.set_ylabel("drawdown (quote)")
    ax_dd.set_xlabel("seconds since the first tick")
    ax_eq.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="dmabot replay", description="Replay a recording and report.")
    parser.add_argument("file")
    parser.add_argument("--config", help="env file (default: the recording's header)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a configuration key (repeatable)")
    parser.add_argument("--verify", action="store_true",
                        help="check that the replay reproduces the recorded Sig/Ord/Exec events")
    parser.add_argument("--json", metavar="FILE", help="write the report as JSON")
    parser.add_argument("--plot", metavar="FILE.png", help="equity and drawdown per strategy (matplotlib)")
    parser.add_argument("--trades", metavar="FILE.csv", help="write the fills as CSV")
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set wants KEY=VALUE, got {item!r}")
        overrides[key.strip().upper()] = value
    try:
        config = replay_config(Path(args.file), args.config, overrides)
        replay = Replay(args.file, config, verify=args.verify, keep_trades=bool(args.trades))
        report = replay.run()
        summary = report.as_dict()
        print(format_report(summary))
        if args.json:
            Path(args.json).write_text(ujson.dumps(summary, indent=2))
        if args.trades:
            write_trades(args.trades, replay.trades or [])
        if args.plot:
            write_plot(args.plot, report)
    except (ReplayError, ConfigError, OSError) as exc:
        print(f"dmabot replay: {exc}", file=sys.stderr)
        return 2
    if replay.verifier is not None:
        if replay.verifier.divergence is not None:
            print(f"verify: FAILED, {replay.verifier.divergence}")
            return 1
        print(f"verify: OK, {replay.verifier.compared} recorded Sig/Ord/Exec events reproduced exactly")
    return 0

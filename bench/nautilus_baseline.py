"""NautilusTrader baseline of bench/bench_replay.py: a dmabot recording's market data through
NautilusTrader's BacktestEngine with an MA-crossover strategy equivalent to dmabot's.

`run_backtest(path)` parses the recording's `Md` lines (the timing includes reading the
file, as dmabot's replay does), builds one QuoteTick per line, runs them through one
simulated venue (BINANCE, multi-currency cash account) holding the symbols as spot
CurrencyPairs (price precision 2, size precision 5), and returns the quote ticks the
strategy saw, which must equal the recording's `Md` lines.

The strategy is dmabot's MACrossover (dmabot/strategies/builtin.pyx), written the way a
careful Python developer would, with O(1) running sums: per instrument the fast and slow
SMAs of the mid (bid + ask) / 2 include the current tick; the regime is +1 when fast - slow
exceeds the edge (1 bps of slow), -1 when slow - fast does, unchanged inside the edge; a
regime change is a cross, except the first regime after warm-up; a cross inside the
cooldown (500 ms per instrument) changes the regime but is not traded; a traded cross
sends a 0.001 market order, IOC. On the benchmark's recording it sends exactly the MA
crossover signals dmabot recorded (same count, same sides). dmabot's replay also runs
mean reversion and breakout, risk, the router and two latency-simulated venues; here only
the MA crossover trades, on one venue without latency: the strategy side does less work
than dmabot's, NautilusTrader's own per-tick machinery (data engine, message bus, cache,
matching engine) is all there.

NautilusTrader is bench-only and may be absent: it is imported on the first call, never
at module import. Run standalone:
    python bench/nautilus_baseline.py RECORDING.jsonl [RECORDING ...]
"""
from __future__ import annotations

import functools
import re
import time
from decimal import Decimal
from pathlib import Path

try:
    import ujson as _json
except ImportError:         # ujson is a dmabot dependency, but this may run in another venv
    import json as _json

VENUE = "BINANCE"
QUOTE = "USDT"
PRICE_PRECISION = 2
SIZE_PRECISION = 5
FAST, SLOW = 10, 40           # MA_FAST, MA_SLOW
EDGE_BPS = 1.0                # MA_EDGE_BPS
COOLDOWN_MS = 500.0           # MA_COOLDOWN_MS
ORDER_QTY = "0.001"           # ORDER_QTY
TAKER_FEE = "0.00075"         # 7.5 bps, dmabot's default fastex venue
BALANCE = 1_000_000_000       # starting balance of every currency: never the limit
MD_TAG = b'{"Md"'
RUN_ANALYSIS = True           # the engine default: post-run portfolio statistics (cheap here)

# the last run's counts, for reports: ticks, orders, fills, denied, rejected, ...
last_stats: dict[str, object] = {}


def read_md(path: str | Path) -> tuple[list[str], tuple[list, ...]]:
    """Symbols in first-seen order, and the Md lines as columns: symbol index, ts, bid,
    bid_qty, ask, ask_qty. Other events are skipped unparsed."""
    loads = _json.loads
    index: dict[str, int] = {}
    cols = sym, ts, bid, bid_qty, ask, ask_qty = [], [], [], [], [], []
    with open(path, "rb") as f:
        for line in f:
            if not line.startswith(MD_TAG):
                continue
            md = loads(line)["Md"]
            s = index.get(md["symbol"])
            if s is None:
                s = index[md["symbol"]] = len(index)
            sym.append(s)
            ts.append(md["ts"])
            bid.append(md["bid"])
            bid_qty.append(md["bid_qty"])
            ask.append(md["ask"])
            ask_qty.append(md["ask_qty"])
    return list(index), cols


@functools.cache
def _nautilus():
    """The backtest function, with NautilusTrader imported and the strategy class defined
    on first use (pytest collects bench/ without NautilusTrader)."""
    import numpy as np
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import BacktestEngineConfig, LoggingConfig, StrategyConfig
    from nautilus_trader.model.currencies import USDT
    from nautilus_trader.model.data import QuoteTick
    from nautilus_trader.model.enums import AccountType, CurrencyType, OmsType, OrderSide, TimeInForce
    from nautilus_trader.model.identifiers import InstrumentId, Symbol, Venue
    from nautilus_trader.model.instruments import CurrencyPair
    from nautilus_trader.model.objects import Currency, Money, Price, Quantity
    from nautilus_trader.trading.strategy import Strategy

    class MACrossConfig(StrategyConfig, frozen=True):
        instrument_ids: list[InstrumentId]
        fast: int = FAST
        slow: int = SLOW
        edge_bps: float = EDGE_BPS
        cooldown_ms: float = COOLDOWN_MS
        trade_size: str = ORDER_QTY

    class MACross(Strategy):
        """dmabot's MACrossover on NautilusTrader quote ticks, one state per instrument."""

        def __init__(self, config: MACrossConfig) -> None:
            super().__init__(config)
            if not 1 <= config.fast < config.slow:
                raise ValueError(f"need 1 <= fast < slow, got {config.fast}, {config.slow}")
            self.fast, self.slow = config.fast, config.slow
            self.edge = config.edge_bps / 1e4
            self.cooldown_ns = int(config.cooldown_ms * 1e6)
            self.qty = Quantity(float(config.trade_size), SIZE_PRECISION)   # the venue checks precision
            # per instrument: [ring of the last `slow` mids, pos, count, fast_sum, slow_sum,
            #                  regime, last_signal_ts]
            self.books = {iid: [[0.0] * self.slow, 0, 0, 0.0, 0.0, 0, -(2**62)]
                          for iid in config.instrument_ids}
            self.ticks = 0
            self.signals = 0
            self.buys = 0
            self.fills = 0
            self.refusals: dict[str, int] = {}     # reason -> orders

        def on_start(self) -> None:
            for iid in self.config.instrument_ids:
                self.subscribe_quote_ticks(iid)

        def on_quote_tick(self, tick) -> None:
            self.ticks += 1
            iid = tick.instrument_id
            st = self.books[iid]
            mids, pos, count, fast_sum, slow_sum, regime = st[0], st[1], st[2], st[3], st[4], st[5]
            f, w = self.fast, self.slow
            mid = (tick.bid_price.as_double() + tick.ask_price.as_double()) * 0.5
            # slide both windows: the fast one drops the mid f ticks ago, the slow one w ago
            if count >= f:
                fast_sum -= mids[pos - f]          # negative index wraps the ring
            if count == w:
                slow_sum -= mids[pos]
            else:
                count += 1
            mids[pos] = mid
            fast_sum += mid
            slow_sum += mid
            pos += 1
            if pos == w:
                pos = 0
                if count == w:                     # recompute once a lap: no drift
                    slow_sum = sum(mids)
                    fast_sum = sum(mids[w - f:])
            st[1], st[2], st[3], st[4] = pos, count, fast_sum, slow_sum
            if count < w:
                return
            fast_ma = fast_sum / f
            slow_ma = slow_sum / w
            threshold = self.edge * slow_ma
            if fast_ma - slow_ma > threshold:
                new = 1
            elif slow_ma - fast_ma > threshold:
                new = -1
            else:
                return                             # inside the edge: the regime stands
            if new == regime:
                return
            st[5] = new
            if regime == 0:
                return                             # first regime after warm-up: no cross
            ts = tick.ts_event
            if ts - st[6] < self.cooldown_ns:
                return
            st[6] = ts
            self.signals += 1
            self.buys += new == 1
            order = self.order_factory.market(
                iid, OrderSide.BUY if new == 1 else OrderSide.SELL, self.qty,
                time_in_force=TimeInForce.IOC)
            self.submit_order(order)

        def on_order_filled(self, event) -> None:
            self.fills += 1

        def on_order_rejected(self, event) -> None:
            self._refused("rejected", event.reason)

        def on_order_denied(self, event) -> None:
            self._refused("denied", event.reason)

        def _refused(self, what: str, reason: str) -> None:
            key = f"{what}: {re.sub(r'O-[0-9-]+', 'O-*', reason)}"
            self.refusals[key] = self.refusals.get(key, 0) + 1

    def currency(code: str):
        try:
            return Currency.from_str(code)
        except (ValueError, KeyError):
            return Currency(code, 8, 0, code, CurrencyType.CRYPTO)

    def instrument(symbol: str, venue):
        if not symbol.endswith(QUOTE) or symbol == QUOTE:
            raise ValueError(f"{symbol}: only *{QUOTE} spot pairs are supported")
        return CurrencyPair(
            instrument_id=InstrumentId(Symbol(symbol), venue),
            raw_symbol=Symbol(symbol),
            base_currency=currency(symbol[:-len(QUOTE)]),
            quote_currency=USDT,
            price_precision=PRICE_PRECISION,
            size_precision=SIZE_PRECISION,
            price_increment=Price(10.0 ** -PRICE_PRECISION, PRICE_PRECISION),
            size_increment=Quantity(10.0 ** -SIZE_PRECISION, SIZE_PRECISION),
            maker_fee=Decimal(TAKER_FEE),
            taker_fee=Decimal(TAKER_FEE),
            ts_event=0,
            ts_init=0,
        )

    def quote_stream(instruments: list, cols: tuple[list, ...]) -> tuple[list, bool]:
        """QuoteTicks in recording order, and whether their timestamps are monotonic."""
        sym = np.array(cols[0], dtype=np.int32)
        ts = np.array(cols[1], dtype=np.uint64)
        bid, bid_qty, ask, ask_qty = (np.array(c, dtype=np.float64) for c in cols[2:])
        merged = np.empty(len(sym), dtype=object)
        for k, inst in enumerate(instruments):
            mask = sym == k
            t = ts[mask]
            merged[mask] = QuoteTick.from_raw_arrays_to_list(
                inst.id, PRICE_PRECISION, SIZE_PRECISION,
                bid[mask], ask[mask], bid_qty[mask], ask_qty[mask], t, t)
        return merged.tolist(), bool(np.all(ts[1:] >= ts[:-1]))

    def run(path: str | Path) -> dict[str, object]:
        t0 = time.perf_counter()
        symbols, cols = read_md(path)
        t1 = time.perf_counter()
        n = len(cols[0])
        if n == 0:
            raise ValueError(f"{path}: no Md lines")
        engine = BacktestEngine(BacktestEngineConfig(
            logging=LoggingConfig(bypass_logging=True, log_level="ERROR"),
            run_analysis=RUN_ANALYSIS,
        ))
        try:
            venue = Venue(VENUE)
            instruments = [instrument(s, venue) for s in symbols]
            balances = [Money(BALANCE, USDT)] + [Money(BALANCE, i.base_currency) for i in instruments]
            engine.add_venue(venue=venue, oms_type=OmsType.NETTING, account_type=AccountType.CASH,
                             base_currency=None, starting_balances=balances)
            for inst in instruments:
                engine.add_instrument(inst)
            stream, monotonic = quote_stream(instruments, cols)
            del cols
            # one stream, all instruments, in recording order (add_data checks the first
            # tick's instrument only; a stable sort only if the recording is not monotonic)
            engine.add_data(stream, sort=not monotonic)
            del stream
            t2 = time.perf_counter()
            strategy = MACross(MACrossConfig(instrument_ids=[i.id for i in instruments]))
            engine.add_strategy(strategy)
            engine.run()
            t3 = time.perf_counter()
            orders = engine.cache.orders()
            stats = {
                "md_lines": n,
                "ticks": strategy.ticks,
                "iterations": engine.iteration,
                "signals": strategy.signals,
                "buys": strategy.buys,
                "orders": len(orders),
                "filled": sum(1 for o in orders if o.is_closed and o.filled_qty == strategy.qty),
                "fills": strategy.fills,
                "denied": sum(1 for o in orders if o.status_string() == "DENIED"),
                "rejected": sum(1 for o in orders if o.status_string() == "REJECTED"),
                "refusals": dict(strategy.refusals),
                "parse_s": round(t1 - t0, 3),          # reading and parsing the file
                "build_s": round(t2 - t1, 3),          # engine, instruments, QuoteTicks
                "run_s": round(t3 - t2, 3),            # BacktestEngine.run
            }
        finally:
            engine.dispose()
        return stats

    return run


def run_backtest(path: str | Path) -> int:
    """The quote ticks NautilusTrader's backtest processed from the recording at `path`."""
    stats = _nautilus()(path)
    last_stats.clear()
    last_stats.update(stats)
    return stats["ticks"]


if __name__ == "__main__":
    import sys

    for p in sys.argv[1:]:
        for _ in range(3):
            t0 = time.perf_counter()
            ticks = run_backtest(p)
            dt = time.perf_counter() - t0
            print(f"{p}: {ticks:_} ticks in {dt:.2f} s = {ticks / dt:,.0f} ticks/s  {last_stats}")

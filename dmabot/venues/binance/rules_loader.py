"""exchangeInfo at start: the symbols' rules, or the name of the symbol the venue does not list."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dmabot.io.url import Target
from dmabot.venues.binance.protocol.filters import format_decimal, parse_exchange_info
from dmabot.venues.binance.protocol.rest_protocol import RateLimitState, RequestFailed, Response
from dmabot.venues.binance.protocol.wire import ErrorCode, is_error_body, parse_api_error
from dmabot.venues.binance.request_kinds import RequestKind, Tag, json_body

if TYPE_CHECKING:
    from dmabot.venues.binance.session import BinanceSession

log = logging.getLogger("dmabot.gateway.binance")


class RulesLoader:
    """Asks exchangeInfo for all symbols; on -1121 "Invalid symbol." (which does not say which),
    asks for each alone to name the unknown ones, then fails the session."""

    def __init__(self, session: BinanceSession, target: Target) -> None:
        self.session = session
        self.target = target
        self._pending = 0
        self._unknown: list[str] = []  # symbols exchangeInfo refused, found one by one

    def request_all(self, now: int) -> None:
        if self._pending == 0:
            self._request(self.session.symbols, now)

    def _request(self, symbols: Sequence[str], now: int) -> None:
        s = self.session
        if s.send_rest(Tag(RequestKind.EXCHANGE_INFO, tuple(symbols)), s.requests.exchange_info(symbols), now):
            self._pending += 1

    def on_outcome(self, tag: Tag, outcome: Response | RequestFailed, now: int) -> None:
        self._pending -= 1
        if isinstance(outcome, RequestFailed):
            return  # asked again after the reconnect, with the clock
        s, r = self.session, outcome
        body = json_body(r)
        if r.status != 200:
            error = parse_api_error(body, r.status) if is_error_body(body) else None
            if error is not None and error.code == ErrorCode.BAD_SYMBOL:
                self._on_bad_symbol(tag.key, now)
            else:
                log.error("exchangeInfo failed status=%d body=%s; asking again", r.status, r.text())
            return
        if len(tag.key) < len(s.symbols):
            self._finish_hunt(now)  # one symbol asked alone while hunting the unknown one: it is listed
            return
        info = parse_exchange_info(body)
        missing = [sym for sym in s.symbols if sym not in info.symbols]
        if missing:
            s.fail(f"SYMBOLS: {','.join(missing)} not listed by {s.settings.rest_url} exchangeInfo: "
                   "the gateway refuses to trade", now)
            return
        rules = [info.rules(sym) for sym in s.symbols]
        halted = [rule.symbol for rule in rules if not rule.is_trading]
        if halted:
            s.fail(f"SYMBOLS: {','.join(halted)} not TRADING on {s.settings.rest_url}: the gateway refuses "
                   "to start", now)
            return
        s.orders.load(rules, self.target)
        s.rate_limits = RateLimitState.from_exchange_info(info.rate_limits)
        if s.rest is not None:
            s.rest.rate_limits = s.rate_limits
        for rule in rules:
            log.info("symbol rules symbol=%s tick=%s step=%s min_qty=%s", rule.symbol,
                     format_decimal(rule.price_grid), format_decimal(rule.qty_grid),
                     format_decimal(rule.lot_size.min_qty) if rule.lot_size else "-")
        s.become_ready(now)

    def _on_bad_symbol(self, asked: tuple[str, ...], now: int) -> None:
        """Binance says -1121 "Invalid symbol." without naming it: ask for each one alone."""
        if len(asked) > 1:
            for symbol in asked:
                self._request((symbol,), now)
            return
        self._unknown.append(asked[0])
        log.error("symbol %s is not listed by %s exchangeInfo", asked[0], self.session.settings.rest_url)
        self._finish_hunt(now)

    def _finish_hunt(self, now: int) -> None:
        if self._pending == 0 and self._unknown:
            self.session.fail(f"SYMBOLS: {','.join(self._unknown)} not listed by {self.session.settings.rest_url} "
                              "exchangeInfo: the gateway refuses to trade", now)

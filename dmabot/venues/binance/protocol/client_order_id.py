"""``newClientOrderId`` for engine orders: unique per order, and readable back to its origin.

Layout, every number in lower-case base36::

    <session>-<strategy><worker>-<symbol>-<signal id>-<order id>
    mx07lrk0-01-1-2s-2t     session 1795858200000 ms, strategy 0, worker 1, symbol 1, signal 100, order 101

* ``session`` is the engine start time in epoch ms. Order ids restart at 1 with every run,
  and Binance accepts a reused id once the earlier order is closed (docs/binance.md, REST order entry), so
  the session is what keeps a restarted engine's ids from colliding with an earlier run's.
* ``strategy`` is one base36 digit (StrategyKind, < 36) and ``worker`` follows it without a
  separator, so the strategy/worker pair costs one field.

Binance allows at most 36 characters of ``[A-Za-z0-9_-]`` (37 gives ``-1100``); `format`
refuses anything longer. Fields are never empty, so ``--`` (an SQL comment, which Binance's
WAF answers with HTTP 403) cannot appear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dmabot.core.types import Order

MAX_LEN = 36
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_FIELD = "[0-9a-z]+"
_PATTERN = re.compile(rf"({_FIELD})-([0-9a-z])({_FIELD})-({_FIELD})-({_FIELD})-({_FIELD})")


class ClientOrderIdError(ValueError):
    """A field that cannot be encoded (negative, strategy >= 36) or an id longer than 36."""


def base36(n: int) -> str:
    """`n` >= 0 in lower-case base36."""
    if n < 0:
        raise ClientOrderIdError(f"cannot encode negative number {n}")
    if n < _PAIR_BASE:
        return _SMALL[n]
    # Two digits per step: ids are on the order path, and this halves the Python loop.
    out = []
    while n >= _PAIR_BASE:
        n, r = divmod(n, _PAIR_BASE)
        out.append(_PAIRS[r])
    out.append(_SMALL[n])
    return "".join(reversed(out))


_PAIR_BASE = 36 * 36
_PAIRS = [_DIGITS[i // 36] + _DIGITS[i % 36] for i in range(_PAIR_BASE)]
_SMALL = [p.lstrip("0") or "0" for p in _PAIRS]


@dataclass(frozen=True, slots=True)
class ClientOrderId:
    """The fields an engine ``newClientOrderId`` carries."""

    session: int
    strategy: int
    worker: int
    sym: int
    signal_id: int
    order_id: int

    def format(self) -> str:
        """The wire id; raises `ClientOrderIdError` if it would not fit Binance's rules."""
        if not 0 <= self.strategy < 36:
            raise ClientOrderIdError(f"strategy {self.strategy} does not fit one base36 digit")
        text = (
            f"{base36(self.session)}-{_DIGITS[self.strategy]}{base36(self.worker)}-{base36(self.sym)}"
            f"-{base36(self.signal_id)}-{base36(self.order_id)}"
        )
        if len(text) > MAX_LEN:
            raise ClientOrderIdError(f"client order id {text!r} is {len(text)} characters; Binance allows {MAX_LEN}")
        return text

    @classmethod
    def parse(cls, text: str) -> ClientOrderId | None:
        """The fields of an id made by `format`; None for any other id (web UI, other bots)."""
        m = _PATTERN.fullmatch(text)
        if m is None or len(text) > MAX_LEN:
            return None
        return cls(*(int(g, 36) for g in m.groups()))


class ClientOrderIdFactory:
    """Makes the id of each engine `Order` for one session (one engine run)."""

    __slots__ = ("session", "_prefix", "_heads")

    def __init__(self, session_start_ms: int) -> None:
        # Epoch ms of the engine start: a restart gets a new prefix even a millisecond later.
        self.session = session_start_ms
        self._prefix = base36(session_start_ms) + "-"
        # (strategy, worker, sym) -> "<session>-<strategy><worker>-<sym>-": few, and fixed per run
        self._heads: dict[tuple[int, int, int], str] = {}

    def make(self, order: Order) -> str:
        """``newClientOrderId`` for `order` (see the module docstring for the layout)."""
        key = (order.strategy, order.worker, order.sym)
        head = self._heads.get(key)
        if head is None:
            if not 0 <= order.strategy < 36:
                raise ClientOrderIdError(f"strategy {order.strategy} does not fit one base36 digit")
            head = f"{self._prefix}{_DIGITS[order.strategy]}{base36(order.worker)}-{base36(order.sym)}-"
            self._heads[key] = head
        text = f"{head}{base36(order.signal_id)}-{base36(order.order_id)}"
        if len(text) > MAX_LEN:
            raise ClientOrderIdError(f"client order id {text!r} is {len(text)} characters; Binance allows {MAX_LEN}")
        return text

    def owns(self, text: str) -> bool:
        """True for ids this session made (an earlier run's ids parse, but are not ours)."""
        return text.startswith(self._prefix) and ClientOrderId.parse(text) is not None

"""The account's balances per asset, as Binance last stated them. Sans-IO.

Three kinds of fact move them:

* ``GET /api/v3/account`` (`Account`): every asset, at the account's ``updateTime``. Asked with
  ``omitZeroBalances=true``, so an asset it leaves out is zero;
* ``outboundAccountPosition`` (`AccountPosition`): absolute free and locked of the assets that
  changed, at ``u`` (the account's last update time);
* ``balanceUpdate`` (`BalanceUpdate`): a deposit, withdrawal or transfer, a *delta* on free, at
  ``T``. Binance follows it with an outboundAccountPosition of the asset (it sends one after
  any balance change), which then states the result absolutely.

The snapshot comes over REST, the events over the WebSocket API, so either can overtake the
other. Each asset therefore keeps the account time its amounts are from, and a fact older than
that is dropped: a snapshot asked before a fill cannot undo the fill's event. Absolute facts of
the same millisecond apply in the order they arrive; a delta applies only to amounts strictly
older than itself, since a snapshot of its own millisecond may already include it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from dmabot.venues.binance.protocol.replies import Account, Balance
from dmabot.venues.binance.protocol.user_events import AccountPosition, BalanceUpdate

_ZERO = Decimal(0)


@dataclass(slots=True)
class _Amounts:
    free: Decimal
    locked: Decimal
    as_of_ms: int  # account time of the fact these amounts come from


class BalanceBook:
    """Free and locked amount per asset; empty until the first snapshot or event."""

    def __init__(self) -> None:
        self._assets: dict[str, _Amounts] = {}

    def balances(self) -> list[Balance]:
        """Every asset the account has held since the book started, by name (zeros included)."""
        return [Balance(asset, a.free, a.locked) for asset, a in sorted(self._assets.items())]

    def on_account(self, account: Account) -> None:
        """A ``GET /api/v3/account`` snapshot (with ``omitZeroBalances=true``)."""
        listed = {b.asset: b for b in account.balances}
        for asset in self._assets.keys() - listed.keys():
            self._set(asset, _ZERO, _ZERO, account.update_time)   # left out: zero by then
        for b in listed.values():
            self._set(b.asset, b.free, b.locked, account.update_time)

    def on_account_position(self, event: AccountPosition) -> None:
        for b in event.balances:
            self._set(b.asset, b.free, b.locked, event.update_time)

    def on_balance_update(self, event: BalanceUpdate) -> None:
        amounts = self._assets.get(event.asset)
        # Nothing known to add it to, or amounts that may include it already: the
        # outboundAccountPosition that follows states the result.
        if amounts is None or event.clear_time <= amounts.as_of_ms:
            return
        amounts.free += event.delta
        amounts.as_of_ms = event.clear_time

    def _set(self, asset: str, free: Decimal, locked: Decimal, as_of_ms: int) -> None:
        amounts = self._assets.get(asset)
        if amounts is None:
            self._assets[asset] = _Amounts(free, locked, as_of_ms)
        elif as_of_ms >= amounts.as_of_ms:
            amounts.free, amounts.locked, amounts.as_of_ms = free, locked, as_of_ms

"""The simulated venue's one account: balances free and locked, commission, and the account's
user-data events (balanceUpdate, outboundAccountPosition; docs/binance.md, "User data stream").

All amounts are integers in units of 1e-8 (`dmabot.venues.binance.sim._symbols`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from dmabot.venues.binance.sim._book import BookFill, quote_of
from dmabot.venues.binance.sim._errors import VenueError
from dmabot.venues.binance.sim._orders import ZERO, Event, OrderSide, OrderType, VenueOrder
from dmabot.venues.binance.sim._params import Params, mandatory
from dmabot.venues.binance.sim._symbols import SCALE, SymbolSpec, format_units, to_units

DEFAULT_COMMISSION = Fraction(1, 1000)  # 0.1 %, maker and taker, as Binance without BNB


def parse_balances(text: str) -> dict[str, int]:
    """'USDT=100000,BTC=1' -> {'USDT': 10000000000000, 'BTC': 100000000} (units of 1e-8)."""
    balances: dict[str, int] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        asset, sep, amount = item.partition("=")
        asset = asset.strip().upper()
        if not sep or not asset.isalnum():
            raise ValueError(f"expected ASSET=AMOUNT, got {item!r}")
        value = Decimal(amount.strip()) * SCALE
        if value != value.to_integral_value() or value < 0:
            raise ValueError(f"{item!r}: amount must be >= 0 with at most 8 decimals")
        balances[asset] = int(value)
    return balances


@dataclass
class Balance:
    free: int = 0
    locked: int = 0


class Account:
    """Balances of every asset of `specs` (and of `balances`, the starting free amounts).

    `listeners` are called with every user-data event, the account's and the orders' (the
    bare event object; the WebSocket API wraps it).
    """

    def __init__(self, specs: Iterable[SymbolSpec], balances: Mapping[str, int], commission: Fraction) -> None:
        self.commission = commission
        self.balances: dict[str, Balance] = {}
        for spec in specs:
            self.balances.setdefault(spec.base_asset, Balance())
            self.balances.setdefault(spec.quote_asset, Balance())
        for asset, amount in balances.items():
            self.balances.setdefault(asset, Balance()).free = amount
        self.update_time = 0
        self.listeners: list[Callable[[Event], None]] = []
        self._changed_assets: set[str] = set()

    def publish(self, event: Event) -> None:
        for listener in list(self.listeners):
            listener(event)

    # -- trading ----------------------------------------------------------------------------
    def check_funds(
        self, spec: SymbolSpec, side: OrderSide, order_type: OrderType, price: int, qty: int, fills: list[BookFill]
    ) -> None:
        if side is OrderSide.SELL:
            need, asset = qty, spec.base_asset
        elif order_type is OrderType.MARKET:
            need, asset = sum(quote_of(f.price, f.qty) for f in fills), spec.quote_asset
        else:
            need, asset = quote_of(price, qty), spec.quote_asset
        if self.balances[asset].free < need:
            raise VenueError(400, -2010, "Account has insufficient balance for requested action.")

    def lock(self, asset: str, amount: int) -> None:
        balance = self.balances[asset]
        balance.free -= amount
        balance.locked += amount
        self._changed_assets.add(asset)

    def unlock(self, order: VenueOrder, amount: int) -> None:
        amount = min(amount, order.locked)
        order.locked -= amount
        balance = self.balances[order.lock_asset]
        balance.locked -= amount
        balance.free += amount
        self._changed_assets.add(order.lock_asset)

    def settle(self, order: VenueOrder, price: int, qty: int) -> tuple[int, int, str]:
        """Move the balances for `qty` of `order` traded at `price`; (quote, commission, its asset)."""
        spec = order.spec
        quote = quote_of(price, qty)
        base_b, quote_b = self.balances[spec.base_asset], self.balances[spec.quote_asset]
        if order.side is OrderSide.BUY:
            if order.type is not OrderType.MARKET:
                self.unlock(order, quote_of(order.price, qty) if order.remaining > qty else order.locked)
            quote_b.free -= quote
            commission, commission_asset = (
                qty * self.commission.numerator // self.commission.denominator,
                spec.base_asset,
            )
            base_b.free += qty - commission
        else:
            if order.type is not OrderType.MARKET:
                self.unlock(order, qty)
            base_b.free -= qty
            commission = quote * self.commission.numerator // self.commission.denominator
            commission_asset = spec.quote_asset
            quote_b.free += quote - commission
        self._changed_assets.update((spec.base_asset, spec.quote_asset))
        return quote, commission, commission_asset

    # -- requests ---------------------------------------------------------------------------
    def snapshot(self, params: Params) -> dict[str, Any]:
        """GET /api/v3/account."""
        rate = format_units(int(self.commission * SCALE))
        bps = int(self.commission * 10_000)
        omit_zero = params.get("omitZeroBalances") == "true"
        return {
            "makerCommission": bps,
            "takerCommission": bps,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {"maker": rate, "taker": rate, "buyer": ZERO, "seller": ZERO},
            "canTrade": True,
            "canWithdraw": True,
            "canDeposit": True,
            "brokered": False,
            "requireSelfTradePrevention": False,
            "preventSor": False,
            "updateTime": self.update_time,
            "accountType": "SPOT",
            "balances": [
                {"asset": asset, "free": format_units(b.free), "locked": format_units(b.locked)}
                for asset, b in sorted(self.balances.items())
                if not (omit_zero and b.free == 0 and b.locked == 0)
            ],
            "permissions": ["SPOT"],
            "uid": 354937868,
        }

    def balance_update(self, params: Params, now_ms: int) -> dict[str, Any]:
        """A deposit (`delta` > 0) or withdrawal (< 0) of `asset`, outside trading (a test's
        switch, not a Binance endpoint): free moves by `delta`, and subscribers get a
        balanceUpdate, then the outboundAccountPosition that follows any balance change."""
        asset = params.get("asset", "")
        if not (asset.isalnum() and asset.isupper()):
            raise mandatory("asset")
        try:
            delta = to_units(params.get("delta", ""))
        except (ValueError, ArithmeticError):
            raise mandatory("delta") from None
        balance = self.balances.setdefault(asset, Balance())
        if balance.free + delta < 0:
            raise VenueError(400, -2010, "Account has insufficient balance for requested action.")
        balance.free += delta
        self._changed_assets.add(asset)
        self.publish({"e": "balanceUpdate", "E": now_ms, "a": asset, "d": _signed(delta), "T": now_ms})
        self.publish_position(now_ms)
        return {"asset": asset, "free": format_units(balance.free), "locked": format_units(balance.locked)}

    def publish_position(self, now_ms: int) -> None:
        """The outboundAccountPosition of the assets changed since the last one, if any."""
        if not self._changed_assets:
            return
        assets = sorted(self._changed_assets)
        self._changed_assets.clear()
        # Every balance change (a lock included) is an account update: `u` here and the
        # account's `updateTime` order a snapshot against the events.
        self.update_time = now_ms
        self.publish(
            {
                "e": "outboundAccountPosition",
                "E": now_ms,
                "u": self.update_time,
                "B": [
                    {
                        "a": a,
                        "f": format_units(self.balances[a].free),
                        "l": format_units(self.balances[a].locked),
                    }
                    for a in assets
                ],
            }
        )


def _signed(units: int) -> str:
    """A balance delta: '-1.50000000' for a withdrawal."""
    return ("-" if units < 0 else "") + format_units(abs(units))

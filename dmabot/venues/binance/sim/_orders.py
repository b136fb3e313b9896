"""An order as the simulated venue keeps it, its trades, and the JSON both are shown as: the
REST and WebSocket API replies and the executionReport of the user data stream, in the shapes
docs/binance.md gives ("REST order entry", "User data stream").

The enums carry Binance's wire values; they are the simulator's own, apart from the engine's
(the simulator is an independent implementation the engine is tested against).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from dmabot.venues.binance.sim._symbols import SymbolSpec, format_units

Event = dict[str, Any]

STP_MODE = "EXPIRE_MAKER"
ZERO = format_units(0)


class OrderSide(Enum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(Enum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"
    LIMIT_MAKER = "LIMIT_MAKER"


class TimeInForce(Enum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class Status(Enum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


OPEN = (Status.NEW, Status.PARTIALLY_FILLED)


class ExecType(Enum):
    """`x` of an executionReport: what just happened to the order."""

    NEW = "NEW"
    TRADE = "TRADE"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


class RespType(Enum):
    ACK = "ACK"
    RESULT = "RESULT"
    FULL = "FULL"


@dataclass
class Trade:
    symbol: str
    id: int
    order_id: int
    price: int
    qty: int
    quote_qty: int
    commission: int
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "id": self.id,
            "orderId": self.order_id,
            "orderListId": -1,
            "price": format_units(self.price),
            "qty": format_units(self.qty),
            "quoteQty": format_units(self.quote_qty),
            "commission": format_units(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time,
            "isBuyer": self.is_buyer,
            "isMaker": self.is_maker,
            "isBestMatch": True,
        }


@dataclass
class VenueOrder:
    """One order of the account, open or closed, with its trades."""

    spec: SymbolSpec
    order_id: int
    client_order_id: str
    side: OrderSide
    type: OrderType
    tif: TimeInForce
    price: int  # 0 for MARKET
    orig_qty: int
    time: int
    executed_qty: int = 0
    cum_quote: int = 0
    status: Status = Status.NEW
    update_time: int = 0
    locked: int = 0  # still locked for this order, in the lock asset
    orig_quote: int = 0  # MARKET with quoteOrderQty: the quote amount asked for
    expiry_reason: str | None = None
    trades: list[Trade] = field(default_factory=list)

    @property
    def symbol(self) -> str:
        return self.spec.symbol

    @property
    def remaining(self) -> int:
        return self.orig_qty - self.executed_qty

    @property
    def is_open(self) -> bool:
        return self.status in OPEN

    @property
    def lock_asset(self) -> str:
        return self.spec.quote_asset if self.side is OrderSide.BUY else self.spec.base_asset

    def _common(self) -> dict[str, Any]:
        return {
            "price": format_units(self.price),
            "origQty": format_units(self.orig_qty),
            "executedQty": format_units(self.executed_qty),
            "origQuoteOrderQty": format_units(self.orig_quote),
            "cummulativeQuoteQty": format_units(self.cum_quote),
            "status": self.status.value,
            "timeInForce": self.tif.value,
            "type": self.type.value,
            "side": self.side.value,
        }

    def result(self, resp: RespType, transact_time: int, fills: list[Trade]) -> dict[str, Any]:
        """The POST /api/v3/order reply."""
        out: dict[str, Any] = {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "transactTime": transact_time,
        }
        if resp is RespType.ACK:
            return out
        out.update(self._common())
        out["workingTime"] = self.time
        out["selfTradePreventionMode"] = STP_MODE
        if self.expiry_reason is not None:
            out["expiryReason"] = self.expiry_reason
        if resp is RespType.FULL:
            out["fills"] = [
                {
                    "price": format_units(t.price),
                    "qty": format_units(t.qty),
                    "commission": format_units(t.commission),
                    "commissionAsset": t.commission_asset,
                    "tradeId": t.id,
                }
                for t in fills
            ]
        return out

    def canceled(self, cancel_id: str, transact_time: int) -> dict[str, Any]:
        """The DELETE /api/v3/order reply."""
        return {
            "symbol": self.symbol,
            "origClientOrderId": self.client_order_id,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": cancel_id,
            "transactTime": transact_time,
            **self._common(),
            "selfTradePreventionMode": STP_MODE,
        }

    def query(self) -> dict[str, Any]:
        """GET /api/v3/order and openOrders rows."""
        common = self._common()
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": -1,
            "clientOrderId": self.client_order_id,
            "price": common["price"],
            "origQty": common["origQty"],
            "executedQty": common["executedQty"],
            "cummulativeQuoteQty": common["cummulativeQuoteQty"],
            "status": common["status"],
            "timeInForce": common["timeInForce"],
            "type": common["type"],
            "side": common["side"],
            "stopPrice": ZERO,
            "icebergQty": ZERO,
            "time": self.time,
            "updateTime": self.update_time,
            "isWorking": True,
            "workingTime": self.time,
            "origQuoteOrderQty": format_units(self.orig_quote),
            "selfTradePreventionMode": STP_MODE,
        }

    def execution_report(
        self, exec_type: ExecType, now_ms: int, execution_id: int, trade: Trade | None = None, cancel_id: str = ""
    ) -> Event:
        """The executionReport of what just happened to the order (`cancel_id`: a cancel's new client id)."""
        event: Event = {
            "e": "executionReport",
            "E": now_ms,
            "s": self.symbol,
            "c": cancel_id or self.client_order_id,
            "S": self.side.value,
            "o": self.type.value,
            "f": self.tif.value,
            "q": format_units(self.orig_qty),
            "p": format_units(self.price),
            "P": ZERO,
            "F": ZERO,
            "g": -1,
            "C": self.client_order_id if cancel_id else "",
            "x": exec_type.value,
            "X": self.status.value,
            "r": "NONE",
            "i": self.order_id,
            "l": format_units(trade.qty) if trade else ZERO,
            "z": format_units(self.executed_qty),
            "L": format_units(trade.price) if trade else ZERO,
            "n": format_units(trade.commission) if trade else "0",
            "N": trade.commission_asset if trade else None,
            "T": now_ms,
            "t": trade.id if trade else -1,
            "I": execution_id,
            "w": self.is_open,
            "m": trade.is_maker if trade else False,
            "M": trade is not None,
            "O": self.time,
            "Z": format_units(self.cum_quote),
            "Y": format_units(trade.quote_qty) if trade else ZERO,
            "Q": format_units(self.orig_quote),
            "W": self.time,
            "V": STP_MODE,
        }
        if self.expiry_reason is not None and exec_type is ExecType.EXPIRED:
            del event["W"]  # sent only while the order is (or was) working on the book
            event["eR"] = self.expiry_reason
        return event

"""The simulator as a trading venue, sans-IO: one account, orders, matching, trades.

`Venue` takes request parameters as plain text dicts (what REST and the WebSocket API carry
once parsed) and a timestamp, and answers with the JSON objects Binance answers with
(samples/rest/*) or raises `ApiError` with Binance's code and message (samples/errors/*).
Everything that happens to the account is also published as user-data events in the
shapes of samples/user_data/* to the `listeners` (the WebSocket API subscriptions).

Liquidity is the simulator's own top of book (`BookTickerWalk`): the touch with its shown
quantity, then a synthetic depth of `DEPTH_LEVELS` more levels, each one tick worse with
the same size. Quantity taken from a level stays taken until the walk publishes its next
update. Resting LIMIT orders fill, as makers at their own price, when a later update of
the walk crosses them (`on_book`), up to the shown quantity at the crossing touch.

All amounts are integers in units of 1e-8 (`dmabot.venues.binance.sim._symbols`); a product price*qty is
divided back by 1e8 rounding down, which is exact on the listed symbols' grids.
Exchange rules (filters, precision) are checked with the engine's own
`dmabot.venues.binance.protocol.filters`, fed with the exchangeInfo the simulator serves.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from typing import Any

from dmabot.venues.binance.protocol.filters import parse_exchange_info
from dmabot.venues.binance.sim._errors import ApiError
from dmabot.venues.binance.sim._exchange_info import exchange_info
from dmabot.venues.binance.sim._market import BookTickerWalk
from dmabot.venues.binance.sim._symbols import SCALE, SymbolSpec, format_units, to_units

Params = Mapping[str, str]
Event = dict[str, Any]

DEPTH_LEVELS = 20  # levels behind the touch; an order needing more ends EXPIRED
DEFAULT_COMMISSION = Fraction(1, 1000)  # 0.1 %, maker and taker, as Binance without BNB
STP_MODE = "EXPIRE_MAKER"
_CLIENT_ID_RE = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
_CLIENT_ID_RANGE = "^[a-zA-Z0-9-_]{1,36}$"
_NUMBER_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_NUMBER_RANGE = "^([0-9]{1,20})(\\.[0-9]{1,20})?$"
_ZERO = format_units(0)
MAX_TRADES_LIMIT = 1000


class Side(Enum):
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


def mandatory(name: str) -> ApiError:
    return ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


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
class Order:
    spec: SymbolSpec
    order_id: int
    client_order_id: str
    side: Side
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
        return self.spec.quote_asset if self.side is Side.BUY else self.spec.base_asset

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
        """The POST /api/v3/order reply (samples/rest/order_*.json)."""
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
        """The DELETE /api/v3/order reply (samples/rest/cancel_order.json)."""
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
        """GET /api/v3/order and openOrders rows (samples/rest/query_order.json)."""
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
            "stopPrice": _ZERO,
            "icebergQty": _ZERO,
            "time": self.time,
            "updateTime": self.update_time,
            "isWorking": True,
            "workingTime": self.time,
            "origQuoteOrderQty": format_units(self.orig_quote),
            "selfTradePreventionMode": STP_MODE,
        }


@dataclass
class _Fill:
    price: int
    qty: int


class Venue:
    """One account trading against the simulator's books.

    `books` maps each symbol to the walk whose current state is the top of book.
    `balances` are the starting free balances in units of 1e-8. `listeners` are called with
    every user-data event (the bare event object; the WebSocket API wraps it).
    """

    def __init__(
        self,
        books: Mapping[str, BookTickerWalk],
        balances: Mapping[str, int],
        commission: Fraction = DEFAULT_COMMISSION,
    ) -> None:
        self.books = dict(books)
        self.specs = {symbol: walk.spec for symbol, walk in self.books.items()}
        self.rules = parse_exchange_info(exchange_info(self.specs.values(), 0)).symbols
        self.commission = commission
        self.balances: dict[str, Balance] = {}
        for spec in self.specs.values():
            self.balances.setdefault(spec.base_asset, Balance())
            self.balances.setdefault(spec.quote_asset, Balance())
        for asset, amount in balances.items():
            self.balances.setdefault(asset, Balance()).free = amount
        self.orders: dict[str, dict[int, Order]] = {s: {} for s in self.specs}
        # the open ones only, so matching and duplicate checks never scan the history
        self._open: dict[str, dict[int, Order]] = {s: {} for s in self.specs}
        # the latest order per client id: an id may be reused once its earlier order closed
        self._by_client_id: dict[str, dict[str, Order]] = {s: {} for s in self.specs}
        self.trades: dict[str, list[Trade]] = {s: [] for s in self.specs}
        self._next_order_id = {s: 1 for s in self.specs}
        self._next_trade_id = {s: 1 for s in self.specs}
        self._next_execution_id = 1
        self._next_auto_id = 1
        # (symbol, side taken) -> (walk update id, quantity already taken from that update)
        self._taken: dict[tuple[str, Side], tuple[int, int]] = {}
        self.update_time = 0
        self.listeners: list[Callable[[Event], None]] = []
        # called with the time when an order trades for the first time (gives back its order count)
        self.on_first_trade: Callable[[int], None] | None = None
        self._changed_assets: set[str] = set()

    # -- requests ---------------------------------------------------------------------------
    def test_order(self, params: Params, now_ms: int) -> dict[str, Any]:
        """POST /api/v3/order/test: every check of `new_order` up to matching; `{}` if it passes."""
        self.new_order(params, now_ms, test=True)
        return {}

    def new_order(self, params: Params, now_ms: int, *, test: bool = False) -> dict[str, Any]:
        """POST /api/v3/order (with `test`, validate only and return `{}`)."""
        spec = self._spec(params)
        side = _enum(Side, params, "side", -1117, "Invalid side.")
        order_type = _enum(OrderType, params, "type", -1116, "Invalid orderType.")
        tif_text = params.get("timeInForce")
        if order_type is OrderType.LIMIT:
            tif = _enum(TimeInForce, params, "timeInForce", -1115, "Invalid timeInForce.")
        elif tif_text is not None:
            raise ApiError(400, -1106, "Parameter 'timeInForce' sent when not required.")
        else:
            tif = TimeInForce.GTC
        if order_type is OrderType.MARKET:
            if "price" in params:
                raise ApiError(400, -1106, "Parameter 'price' sent when not required.")
            if "quantity" in params and "quoteOrderQty" in params:
                raise ApiError(400, -1128, "Combination of optional parameters invalid.")
            if "quantity" not in params and "quoteOrderQty" not in params:
                raise ApiError(
                    400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
                )
            price = None
        else:
            price = _number(params, "price")
        quote_qty = 0
        if "quoteOrderQty" in params and order_type is OrderType.MARKET:
            quote_qty = _quote_order_qty(params)
            qty = Decimal(sum(f.qty for f in self._liquidity_for_quote(spec, side, quote_qty))) / SCALE
        else:
            qty = _number(params, "quantity")
        client_id = params.get("newClientOrderId")
        if client_id is not None and not _CLIENT_ID_RE.match(client_id):
            raise ApiError(
                400,
                -1100,
                f"Illegal characters found in parameter 'newClientOrderId'; legal range is '{_CLIENT_ID_RANGE}'.",
            )
        resp = _resp_type(params, order_type)
        reject = self.rules[spec.symbol].check(side.value, order_type.value, price, qty, self._mid(spec.symbol))
        if reject is not None:
            raise ApiError(400, reject.code, reject.exchange_msg)
        price_units = _units(price) if price is not None else 0
        qty_units = _units(qty)
        open_orders = self._open[spec.symbol].values()
        if client_id is not None and any(o.client_order_id == client_id for o in open_orders):
            raise ApiError(400, -2010, "Duplicate order sent.")
        max_orders = self.rules[spec.symbol].max_num_orders
        if max_orders is not None and len(open_orders) >= max_orders:
            raise ApiError(400, -1013, "Filter failure: MAX_NUM_ORDERS")
        if test:
            return {}
        if quote_qty:
            fills = self._liquidity_for_quote(spec, side, quote_qty)
        else:
            fills = self._liquidity(spec, side, qty_units, price_units if price is not None else None)
        filled = sum(f.qty for f in fills)
        if order_type is OrderType.LIMIT_MAKER and fills:
            raise ApiError(400, -2010, "Order would immediately match and take.")
        if tif is TimeInForce.FOK and filled < qty_units:
            fills, filled = [], 0
        self._check_funds(spec, side, order_type, price_units, qty_units, fills)
        order = Order(
            spec,
            self._next_order_id[spec.symbol],
            client_id or self._auto_id("sim"),
            side,
            order_type,
            tif,
            price_units,
            qty_units,
            now_ms,
            update_time=now_ms,
            orig_quote=quote_qty,
        )
        self._next_order_id[spec.symbol] += 1
        self.orders[spec.symbol][order.order_id] = order
        self._open[spec.symbol][order.order_id] = order
        self._by_client_id[spec.symbol][order.client_order_id] = order
        if order_type is not OrderType.MARKET:
            order.locked = _quote(price_units, qty_units) if side is Side.BUY else qty_units
            self._lock(order.lock_asset, order.locked)
        self._execution(order, ExecType.NEW, now_ms)
        self._consume(spec, side, filled)
        trades = [self._fill(order, f.price, f.qty, False, now_ms) for f in fills]
        if order.remaining and (order_type is OrderType.MARKET or tif is not TimeInForce.GTC):
            reason = {
                TimeInForce.IOC: "UNFILLED_IOC_QUANTITY_EXPIRED",
                TimeInForce.FOK: "UNFILLED_FOK_ORDER_EXPIRED",
            }.get(tif, "INSUFFICIENT_LIQUIDITY")
            self._close(order, Status.EXPIRED, now_ms, expiry_reason=reason)
            self._execution(order, ExecType.EXPIRED, now_ms)
        self._account_position(now_ms)
        return order.result(resp, now_ms, trades)

    def cancel_order(self, params: Params, now_ms: int) -> dict[str, Any]:
        """DELETE /api/v3/order."""
        spec = self._spec(params)
        order = self._find(spec.symbol, params, -2011, "Unknown order sent.")
        if not order.is_open:
            raise ApiError(400, -2011, "Unknown order sent.")
        cancel_id = self._cancel_id(params)
        self._cancel(order, cancel_id, now_ms)
        self._account_position(now_ms)
        return order.canceled(cancel_id, now_ms)

    def cancel_open_orders(self, params: Params, now_ms: int) -> list[dict[str, Any]]:
        """DELETE /api/v3/openOrders."""
        spec = self._spec(params)
        open_orders = list(self._open[spec.symbol].values())
        if not open_orders:
            raise ApiError(400, -2011, "Unknown order sent.")
        cancel_id = self._cancel_id(params)
        replies = []
        for order in open_orders:
            self._cancel(order, cancel_id, now_ms)
            replies.append(order.canceled(cancel_id, now_ms))
        self._account_position(now_ms)
        return replies

    def query_order(self, params: Params, now_ms: int) -> dict[str, Any]:
        """GET /api/v3/order."""
        spec = self._spec(params)
        return self._find(spec.symbol, params, -2013, "Order does not exist.").query()

    def open_orders(self, params: Params, now_ms: int) -> list[dict[str, Any]]:
        """GET /api/v3/openOrders (all symbols when `symbol` is absent)."""
        symbols = [self._spec(params).symbol] if "symbol" in params else list(self.orders)
        return [o.query() for s in symbols for o in self._open[s].values()]

    def account(self, params: Params, now_ms: int) -> dict[str, Any]:
        """GET /api/v3/account (samples/rest/account.json)."""
        rate = format_units(int(self.commission * SCALE))
        bps = int(self.commission * 10_000)
        omit_zero = params.get("omitZeroBalances") == "true"
        return {
            "makerCommission": bps,
            "takerCommission": bps,
            "buyerCommission": 0,
            "sellerCommission": 0,
            "commissionRates": {"maker": rate, "taker": rate, "buyer": _ZERO, "seller": _ZERO},
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
            raise ApiError(400, -2010, "Account has insufficient balance for requested action.")
        balance.free += delta
        self._changed_assets.add(asset)
        self._publish({"e": "balanceUpdate", "E": now_ms, "a": asset, "d": _signed(delta), "T": now_ms})
        self._account_position(now_ms)
        return {"asset": asset, "free": format_units(balance.free), "locked": format_units(balance.locked)}

    def my_trades(self, params: Params, now_ms: int) -> list[dict[str, Any]]:
        """GET /api/v3/myTrades (`orderId`, `fromId`, `limit`; oldest first)."""
        spec = self._spec(params)
        trades = self.trades[spec.symbol]
        if "orderId" in params:
            order_id = _int(params, "orderId")
            trades = [t for t in trades if t.order_id == order_id]
        limit = _int(params, "limit") if "limit" in params else 500
        if not 1 <= limit <= MAX_TRADES_LIMIT:
            raise ApiError(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '1..1000'.")
        if "fromId" in params:
            from_id = _int(params, "fromId")
            trades = [t for t in trades if t.id >= from_id][:limit]
        else:
            trades = trades[-limit:]
        return [t.as_json() for t in trades]

    # -- market data ------------------------------------------------------------------------
    def on_book(self, symbol: str, now_ms: int) -> None:
        """The walk of `symbol` moved: fill resting orders it crosses, as makers."""
        walk = self.books[symbol]
        spec = walk.spec
        bid = walk.bid_ticks * spec.tick_units
        ask = (walk.bid_ticks + walk.spread_ticks) * spec.tick_units
        available = {
            Side.BUY: walk.ask_qty_steps * spec.step_units,
            Side.SELL: walk.bid_qty_steps * spec.step_units,
        }
        touched = False
        for order in list(self._open[symbol].values()):
            crosses = ask <= order.price if order.side is Side.BUY else bid >= order.price
            if not crosses or available[order.side] <= 0:
                continue
            qty = min(order.remaining, available[order.side])
            available[order.side] -= qty
            self._fill(order, order.price, qty, True, now_ms)
            self._consume(spec, order.side, qty)
            touched = True
        if touched:
            self._account_position(now_ms)

    # -- internals --------------------------------------------------------------------------
    def _spec(self, params: Params) -> SymbolSpec:
        symbol = params.get("symbol")
        if not symbol:
            raise mandatory("symbol")
        spec = self.specs.get(symbol)
        if spec is None:
            raise ApiError(400, -1121, "Invalid symbol.")
        return spec

    def _mid(self, symbol: str) -> Decimal:
        walk = self.books[symbol]
        mid2 = (2 * walk.bid_ticks + walk.spread_ticks) * walk.spec.tick_units
        return Decimal(mid2) / (2 * SCALE)

    def _levels(self, spec: SymbolSpec, side: Side) -> Iterable[_Fill]:
        """What an order of `side` can take now, best first (shown touch, then synthetic)."""
        walk = self.books[spec.symbol]
        if side is Side.BUY:
            touch = (walk.bid_ticks + walk.spread_ticks) * spec.tick_units
            size = walk.ask_qty_steps * spec.step_units
            direction = 1
        else:
            touch = walk.bid_ticks * spec.tick_units
            size = walk.bid_qty_steps * spec.step_units
            direction = -1
        taken_u, taken = self._taken.get((spec.symbol, side), (-1, 0))
        if taken_u != walk.update_id:
            taken = 0
        for level in range(DEPTH_LEVELS + 1):
            price = touch + direction * level * spec.tick_units
            if price <= 0:
                return
            left = size - min(size, taken)
            taken -= size - left
            if left:
                yield _Fill(price, left)

    def _liquidity(self, spec: SymbolSpec, side: Side, qty: int, limit: int | None) -> list[_Fill]:
        fills: list[_Fill] = []
        for level in self._levels(spec, side):
            if qty == 0:
                break
            if limit is not None and (level.price > limit if side is Side.BUY else level.price < limit):
                break
            take = min(qty, level.qty)
            fills.append(_Fill(level.price, take))
            qty -= take
        return fills

    def _liquidity_for_quote(self, spec: SymbolSpec, side: Side, quote: int) -> list[_Fill]:
        """MARKET by quoteOrderQty: the most whole steps whose cost (BUY) or proceeds (SELL)
        stay within `quote`."""
        fills: list[_Fill] = []
        for level in self._levels(spec, side):
            steps = quote * SCALE // level.price // spec.step_units
            take = min(level.qty, steps * spec.step_units)
            if take == 0:
                break
            fills.append(_Fill(level.price, take))
            quote -= _quote(level.price, take)
        return fills

    def _consume(self, spec: SymbolSpec, side: Side, qty: int) -> None:
        if not qty:
            return
        update_id = self.books[spec.symbol].update_id
        taken_u, taken = self._taken.get((spec.symbol, side), (-1, 0))
        self._taken[(spec.symbol, side)] = (update_id, (taken if taken_u == update_id else 0) + qty)

    def _check_funds(
        self, spec: SymbolSpec, side: Side, order_type: OrderType, price: int, qty: int, fills: list[_Fill]
    ) -> None:
        if side is Side.SELL:
            need, asset = qty, spec.base_asset
        elif order_type is OrderType.MARKET:
            need, asset = sum(_quote(f.price, f.qty) for f in fills), spec.quote_asset
        else:
            need, asset = _quote(price, qty), spec.quote_asset
        if self.balances[asset].free < need:
            raise ApiError(400, -2010, "Account has insufficient balance for requested action.")

    def _lock(self, asset: str, amount: int) -> None:
        balance = self.balances[asset]
        balance.free -= amount
        balance.locked += amount
        self._changed_assets.add(asset)

    def _unlock(self, order: Order, amount: int) -> None:
        amount = min(amount, order.locked)
        order.locked -= amount
        balance = self.balances[order.lock_asset]
        balance.locked -= amount
        balance.free += amount
        self._changed_assets.add(order.lock_asset)

    def _fill(self, order: Order, price: int, qty: int, maker: bool, now_ms: int) -> Trade:
        spec = order.spec
        quote = _quote(price, qty)
        base_b, quote_b = self.balances[spec.base_asset], self.balances[spec.quote_asset]
        if order.side is Side.BUY:
            if order.type is not OrderType.MARKET:
                self._unlock(order, _quote(order.price, qty) if order.remaining > qty else order.locked)
            quote_b.free -= quote
            commission, commission_asset = (
                qty * self.commission.numerator // self.commission.denominator,
                spec.base_asset,
            )
            base_b.free += qty - commission
        else:
            if order.type is not OrderType.MARKET:
                self._unlock(order, qty)
            base_b.free -= qty
            commission = quote * self.commission.numerator // self.commission.denominator
            commission_asset = spec.quote_asset
            quote_b.free += quote - commission
        self._changed_assets.update((spec.base_asset, spec.quote_asset))
        trade = Trade(
            spec.symbol,
            self._next_trade_id[spec.symbol],
            order.order_id,
            price,
            qty,
            quote,
            commission,
            commission_asset,
            now_ms,
            order.side is Side.BUY,
            maker,
        )
        self._next_trade_id[spec.symbol] += 1
        self.trades[spec.symbol].append(trade)
        order.trades.append(trade)
        if order.executed_qty == 0 and self.on_first_trade is not None:
            self.on_first_trade(now_ms)
        order.executed_qty += qty
        order.cum_quote += quote
        order.update_time = now_ms
        if order.remaining == 0:
            self._close(order, Status.FILLED, now_ms)
        else:
            order.status = Status.PARTIALLY_FILLED
        self._execution(order, ExecType.TRADE, now_ms, trade)
        return trade

    def _close(self, order: Order, status: Status, now_ms: int, expiry_reason: str | None = None) -> None:
        order.status = status
        order.update_time = now_ms
        order.expiry_reason = expiry_reason
        self._open[order.symbol].pop(order.order_id, None)
        if order.locked:
            self._unlock(order, order.locked)

    def _cancel(self, order: Order, cancel_id: str, now_ms: int) -> None:
        self._close(order, Status.CANCELED, now_ms)
        self._execution(order, ExecType.CANCELED, now_ms, cancel_id=cancel_id)

    def _cancel_id(self, params: Params) -> str:
        cancel_id = params.get("newClientOrderId")
        if cancel_id is None:
            return self._auto_id("sim-cxl")
        if not _CLIENT_ID_RE.match(cancel_id):
            raise ApiError(
                400,
                -1100,
                f"Illegal characters found in parameter 'newClientOrderId'; legal range is '{_CLIENT_ID_RANGE}'.",
            )
        return cancel_id

    def _auto_id(self, prefix: str) -> str:
        self._next_auto_id += 1
        return f"{prefix}-{self._next_auto_id - 1:06d}"

    def _find(self, symbol: str, params: Params, code: int, msg: str) -> Order:
        orders = self.orders[symbol]
        if "orderId" in params:
            order = orders.get(_int(params, "orderId"))
            if order is None:
                raise ApiError(400, code, msg)
            if "origClientOrderId" in params and params["origClientOrderId"] != order.client_order_id:
                raise ApiError(400, code, msg)
            return order
        client_id = params.get("origClientOrderId")
        if not client_id:
            raise ApiError(400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        found = self._by_client_id[symbol].get(client_id)
        if found is None:
            raise ApiError(400, code, msg)
        return found

    # -- user data events -------------------------------------------------------------------
    def _publish(self, event: Event) -> None:
        for listener in list(self.listeners):
            listener(event)

    def _execution(
        self, order: Order, exec_type: ExecType, now_ms: int, trade: Trade | None = None, cancel_id: str = ""
    ) -> None:
        execution_id = self._next_execution_id
        self._next_execution_id += 1
        event: Event = {
            "e": "executionReport",
            "E": now_ms,
            "s": order.symbol,
            "c": cancel_id or order.client_order_id,
            "S": order.side.value,
            "o": order.type.value,
            "f": order.tif.value,
            "q": format_units(order.orig_qty),
            "p": format_units(order.price),
            "P": _ZERO,
            "F": _ZERO,
            "g": -1,
            "C": order.client_order_id if cancel_id else "",
            "x": exec_type.value,
            "X": order.status.value,
            "r": "NONE",
            "i": order.order_id,
            "l": format_units(trade.qty) if trade else _ZERO,
            "z": format_units(order.executed_qty),
            "L": format_units(trade.price) if trade else _ZERO,
            "n": format_units(trade.commission) if trade else "0",
            "N": trade.commission_asset if trade else None,
            "T": now_ms,
            "t": trade.id if trade else -1,
            "I": execution_id,
            "w": order.is_open,
            "m": trade.is_maker if trade else False,
            "M": trade is not None,
            "O": order.time,
            "Z": format_units(order.cum_quote),
            "Y": format_units(trade.quote_qty) if trade else _ZERO,
            "Q": format_units(order.orig_quote),
            "W": order.time,
            "V": STP_MODE,
        }
        if order.expiry_reason is not None and exec_type is ExecType.EXPIRED:
            del event["W"]  # sent only while the order is (or was) working on the book
            event["eR"] = order.expiry_reason
        self._publish(event)

    def _account_position(self, now_ms: int) -> None:
        if not self._changed_assets:
            return
        assets = sorted(self._changed_assets)
        self._changed_assets.clear()
        # Every balance change (a lock included) is an account update: `u` here and the
        # account's `updateTime` order a snapshot against the events.
        self.update_time = now_ms
        self._publish(
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


def _quote(price: int, qty: int) -> int:
    return price * qty // SCALE


def _units(value: Decimal) -> int:
    return int(value * SCALE)


def _enum(kind: type[Enum], params: Params, name: str, code: int, msg: str) -> Any:
    text = params.get(name)
    if not text:
        raise mandatory(name)
    try:
        return kind(text)
    except ValueError:
        raise ApiError(400, code, msg) from None


def _number(params: Params, name: str) -> Decimal:
    text = params.get(name)
    if not text:
        raise mandatory(name)
    if not _NUMBER_RE.match(text):
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{_NUMBER_RANGE}'.")
    return Decimal(text)


def _quote_order_qty(params: Params) -> int:
    value = _number(params, "quoteOrderQty")
    scaled = value * SCALE
    if scaled != scaled.to_integral_value():
        raise ApiError(400, -1111, "Parameter 'quoteOrderQty' has too much precision.")
    if scaled == 0:
        raise ApiError(400, -1013, "Filter failure: NOTIONAL")
    return int(scaled)


def _int(params: Params, name: str) -> int:
    text = params.get(name, "")
    if not text.isdigit() or not text.isascii():
        raise ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")
    return int(text)


def _resp_type(params: Params, order_type: OrderType) -> RespType:
    text = params.get("newOrderRespType")
    if text is None:
        return RespType.FULL if order_type in (OrderType.LIMIT, OrderType.MARKET) else RespType.ACK
    try:
        return RespType(text)
    except ValueError:
        raise ApiError(400, -1177, "Invalid newOrderRespType.") from None

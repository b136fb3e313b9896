"""The simulator as a trading venue, sans-IO: orders of one account, matched against the
simulator's own books.

`Venue` takes request parameters as plain text dicts (what REST and the WebSocket API carry
once parsed) and a timestamp, and answers with the JSON objects Binance answers with or
raises `VenueError` with Binance's code and message (docs/binance.md, "REST order entry" and
"Error codes"). Everything that happens to the account is also published as user-data
events to the account's `listeners` (the WebSocket API subscriptions).

Its parts: `_book` (the liquidity an order meets), `_account` (balances and their events),
`_orders` (an order, its trades and their JSON), `_params` (request parameters). Resting
LIMIT orders fill, as makers at their own price, when a later update of the walk crosses
them (`on_book`), up to the shown quantity at the crossing touch.

Exchange rules (filters, precision) are checked with the engine's own
`dmabot.venues.binance.protocol.filters`, fed with the exchangeInfo the simulator serves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from dmabot.venues.binance.protocol.filters import parse_exchange_info
from dmabot.venues.binance.sim._account import DEFAULT_COMMISSION, Account, Balance
from dmabot.venues.binance.sim._book import BookLiquidity, quote_of
from dmabot.venues.binance.sim._errors import VenueError
from dmabot.venues.binance.sim._exchange_info import exchange_info
from dmabot.venues.binance.sim._market import BookTickerWalk
from dmabot.venues.binance.sim._orders import (
    Event,
    ExecType,
    OrderSide,
    OrderType,
    Status,
    TimeInForce,
    Trade,
    VenueOrder,
)
from dmabot.venues.binance.sim._params import (
    Params,
    client_order_id,
    int_param,
    mandatory,
    order_params,
)
from dmabot.venues.binance.sim._symbols import SCALE, SymbolSpec

MAX_TRADES_LIMIT = 1000


class Venue:
    """One account trading against the simulator's books.

    `books` maps each symbol to the walk whose current state is the top of book.
    `balances` are the starting free balances in units of 1e-8.
    """

    def __init__(
        self,
        books: Mapping[str, BookTickerWalk],
        balances: Mapping[str, int],
        commission: Fraction = DEFAULT_COMMISSION,
    ) -> None:
        self.books = dict(books)
        self.specs = {symbol: walk.spec for symbol, walk in self.books.items()}
        self._liquidity = BookLiquidity(self.books)
        self.rules = parse_exchange_info(exchange_info(self.specs.values(), 0)).symbols
        self._account = Account(self.specs.values(), balances, commission)
        self.orders: dict[str, dict[int, VenueOrder]] = {s: {} for s in self.specs}
        # the open ones only, so matching and duplicate checks never scan the history
        self._open: dict[str, dict[int, VenueOrder]] = {s: {} for s in self.specs}
        # the latest order per client id: an id may be reused once its earlier order closed
        self._by_client_id: dict[str, dict[str, VenueOrder]] = {s: {} for s in self.specs}
        self.trades: dict[str, list[Trade]] = {s: [] for s in self.specs}
        self._next_order_id = {s: 1 for s in self.specs}
        self._next_trade_id = {s: 1 for s in self.specs}
        self._next_execution_id = 1
        self._next_auto_id = 1
        # called with the time when an order trades for the first time (gives back its order count)
        self.on_first_trade: Callable[[int], None] | None = None

    @property
    def balances(self) -> dict[str, Balance]:
        return self._account.balances

    @property
    def listeners(self) -> list[Callable[[Event], None]]:
        """Called with every user-data event (the bare event object; the WebSocket API wraps it)."""
        return self._account.listeners

    # -- requests ---------------------------------------------------------------------------
    def test_order(self, params: Params, now_ms: int) -> dict[str, Any]:
        """POST /api/v3/order/test: every check of `new_order` up to matching; `{}` if it passes."""
        self.new_order(params, now_ms, test=True)
        return {}

    def new_order(self, params: Params, now_ms: int, *, test: bool = False) -> dict[str, Any]:
        """POST /api/v3/order (with `test`, validate only and return `{}`)."""
        spec = self._spec(params)
        asked = order_params(params)
        side, order_type, tif = asked.side, asked.type, asked.tif
        if asked.qty is None:
            qty = Decimal(sum(f.qty for f in self._liquidity.for_quote(spec, side, asked.quote_qty))) / SCALE
        else:
            qty = asked.qty
        mid = self._liquidity.mid(spec.symbol)
        reject = self.rules[spec.symbol].check(side.value, order_type.value, asked.price, qty, mid)
        if reject is not None:
            raise VenueError(400, reject.code, reject.exchange_msg)
        price_units = _units(asked.price) if asked.price is not None else 0
        qty_units = _units(qty)
        open_orders = self._open[spec.symbol].values()
        if asked.client_id is not None and any(o.client_order_id == asked.client_id for o in open_orders):
            raise VenueError(400, -2010, "Duplicate order sent.")
        max_orders = self.rules[spec.symbol].max_num_orders
        if max_orders is not None and len(open_orders) >= max_orders:
            raise VenueError(400, -1013, "Filter failure: MAX_NUM_ORDERS")
        if test:
            return {}
        if asked.quote_qty:
            fills = self._liquidity.for_quote(spec, side, asked.quote_qty)
        else:
            fills = self._liquidity.for_qty(spec, side, qty_units, price_units if asked.price is not None else None)
        filled = sum(f.qty for f in fills)
        if order_type is OrderType.LIMIT_MAKER and fills:
            raise VenueError(400, -2010, "Order would immediately match and take.")
        if tif is TimeInForce.FOK and filled < qty_units:
            fills, filled = [], 0
        self._account.check_funds(spec, side, order_type, price_units, qty_units, fills)
        order = VenueOrder(
            spec,
            self._next_order_id[spec.symbol],
            asked.client_id or self._auto_id("sim"),
            side,
            order_type,
            tif,
            price_units,
            qty_units,
            now_ms,
            update_time=now_ms,
            orig_quote=asked.quote_qty,
        )
        self._next_order_id[spec.symbol] += 1
        self.orders[spec.symbol][order.order_id] = order
        self._open[spec.symbol][order.order_id] = order
        self._by_client_id[spec.symbol][order.client_order_id] = order
        if order_type is not OrderType.MARKET:
            order.locked = quote_of(price_units, qty_units) if side is OrderSide.BUY else qty_units
            self._account.lock(order.lock_asset, order.locked)
        self._execution(order, ExecType.NEW, now_ms)
        self._liquidity.consume(spec, side, filled)
        trades = [self._fill(order, f.price, f.qty, False, now_ms) for f in fills]
        if order.remaining and (order_type is OrderType.MARKET or tif is not TimeInForce.GTC):
            reason = {
                TimeInForce.IOC: "UNFILLED_IOC_QUANTITY_EXPIRED",
                TimeInForce.FOK: "UNFILLED_FOK_ORDER_EXPIRED",
            }.get(tif, "INSUFFICIENT_LIQUIDITY")
            self._close(order, Status.EXPIRED, now_ms, expiry_reason=reason)
            self._execution(order, ExecType.EXPIRED, now_ms)
        self._account.publish_position(now_ms)
        return order.result(asked.resp, now_ms, trades)

    def cancel_order(self, params: Params, now_ms: int) -> dict[str, Any]:
        """DELETE /api/v3/order."""
        spec = self._spec(params)
        order = self._find(spec.symbol, params, -2011, "Unknown order sent.")
        if not order.is_open:
            raise VenueError(400, -2011, "Unknown order sent.")
        cancel_id = self._cancel_id(params)
        self._cancel(order, cancel_id, now_ms)
        self._account.publish_position(now_ms)
        return order.canceled(cancel_id, now_ms)

    def cancel_open_orders(self, params: Params, now_ms: int) -> list[dict[str, Any]]:
        """DELETE /api/v3/openOrders."""
        spec = self._spec(params)
        open_orders = list(self._open[spec.symbol].values())
        if not open_orders:
            raise VenueError(400, -2011, "Unknown order sent.")
        cancel_id = self._cancel_id(params)
        replies = []
        for order in open_orders:
            self._cancel(order, cancel_id, now_ms)
            replies.append(order.canceled(cancel_id, now_ms))
        self._account.publish_position(now_ms)
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
        """GET /api/v3/account."""
        return self._account.snapshot(params)

    def balance_update(self, params: Params, now_ms: int) -> dict[str, Any]:
        """A deposit or withdrawal outside trading (a test's switch); see `Account.balance_update`."""
        return self._account.balance_update(params, now_ms)

    def my_trades(self, params: Params, now_ms: int) -> list[dict[str, Any]]:
        """GET /api/v3/myTrades (`orderId`, `fromId`, `limit`; oldest first)."""
        spec = self._spec(params)
        trades = self.trades[spec.symbol]
        if "orderId" in params:
            order_id = int_param(params, "orderId")
            trades = [t for t in trades if t.order_id == order_id]
        limit = int_param(params, "limit") if "limit" in params else 500
        if not 1 <= limit <= MAX_TRADES_LIMIT:
            raise VenueError(400, -1100, "Illegal characters found in parameter 'limit'; legal range is '1..1000'.")
        if "fromId" in params:
            from_id = int_param(params, "fromId")
            trades = [t for t in trades if t.id >= from_id][:limit]
        else:
            trades = trades[-limit:]
        return [t.as_json() for t in trades]

    # -- market data ------------------------------------------------------------------------
    def on_book(self, symbol: str, now_ms: int) -> None:
        """The walk of `symbol` moved: fill resting orders it crosses, as makers."""
        spec = self.specs[symbol]
        bid, ask, available = self._liquidity.touch(symbol)
        touched = False
        for order in list(self._open[symbol].values()):
            crosses = ask <= order.price if order.side is OrderSide.BUY else bid >= order.price
            if not crosses or available[order.side] <= 0:
                continue
            qty = min(order.remaining, available[order.side])
            available[order.side] -= qty
            self._fill(order, order.price, qty, True, now_ms)
            self._liquidity.consume(spec, order.side, qty)
            touched = True
        if touched:
            self._account.publish_position(now_ms)

    # -- internals --------------------------------------------------------------------------
    def _spec(self, params: Params) -> SymbolSpec:
        symbol = params.get("symbol")
        if not symbol:
            raise mandatory("symbol")
        spec = self.specs.get(symbol)
        if spec is None:
            raise VenueError(400, -1121, "Invalid symbol.")
        return spec

    def _fill(self, order: VenueOrder, price: int, qty: int, maker: bool, now_ms: int) -> Trade:
        spec = order.spec
        quote, commission, commission_asset = self._account.settle(order, price, qty)
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
            order.side is OrderSide.BUY,
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

    def _close(self, order: VenueOrder, status: Status, now_ms: int, expiry_reason: str | None = None) -> None:
        order.status = status
        order.update_time = now_ms
        order.expiry_reason = expiry_reason
        self._open[order.symbol].pop(order.order_id, None)
        if order.locked:
            self._account.unlock(order, order.locked)

    def _cancel(self, order: VenueOrder, cancel_id: str, now_ms: int) -> None:
        self._close(order, Status.CANCELED, now_ms)
        self._execution(order, ExecType.CANCELED, now_ms, cancel_id=cancel_id)

    def _cancel_id(self, params: Params) -> str:
        return client_order_id(params) or self._auto_id("sim-cxl")

    def _auto_id(self, prefix: str) -> str:
        self._next_auto_id += 1
        return f"{prefix}-{self._next_auto_id - 1:06d}"

    def _find(self, symbol: str, params: Params, code: int, msg: str) -> VenueOrder:
        orders = self.orders[symbol]
        if "orderId" in params:
            order = orders.get(int_param(params, "orderId"))
            if order is None:
                raise VenueError(400, code, msg)
            if "origClientOrderId" in params and params["origClientOrderId"] != order.client_order_id:
                raise VenueError(400, code, msg)
            return order
        client_id = params.get("origClientOrderId")
        if not client_id:
            raise VenueError(
                400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
            )
        found = self._by_client_id[symbol].get(client_id)
        if found is None:
            raise VenueError(400, code, msg)
        return found

    def _execution(
        self, order: VenueOrder, exec_type: ExecType, now_ms: int, trade: Trade | None = None, cancel_id: str = ""
    ) -> None:
        execution_id = self._next_execution_id
        self._next_execution_id += 1
        self._account.publish(order.execution_report(exec_type, now_ms, execution_id, trade, cancel_id))


def _units(value: Decimal) -> int:
    return int(value * SCALE)

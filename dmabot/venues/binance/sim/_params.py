"""Request parameters of the simulated venue's endpoints: plain text in (what REST and the
WebSocket API carry once parsed), values out, or the `VenueError` Binance answers a missing
or malformed parameter with (docs/binance.md, "Error codes")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import TypeVar

from dmabot.venues.binance.sim._errors import VenueError
from dmabot.venues.binance.sim._orders import OrderSide, OrderType, RespType, TimeInForce
from dmabot.venues.binance.sim._symbols import SCALE

Params = Mapping[str, str]
E = TypeVar("E", bound=Enum)

_CLIENT_ID_RE = re.compile(r"^[a-zA-Z0-9-_]{1,36}$")
_CLIENT_ID_RANGE = "^[a-zA-Z0-9-_]{1,36}$"
_NUMBER_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
_NUMBER_RANGE = "^([0-9]{1,20})(\\.[0-9]{1,20})?$"


@dataclass(frozen=True)
class OrderParams:
    """A new order's parameters as sent, checked one by one (not yet against the symbol's rules)."""

    side: OrderSide
    type: OrderType
    tif: TimeInForce
    price: Decimal | None  # None for MARKET
    qty: Decimal | None  # None for a MARKET order by quoteOrderQty
    quote_qty: int  # units of 1e-8; 0 unless a MARKET order by quoteOrderQty
    client_id: str | None
    resp: RespType


def order_params(params: Params) -> OrderParams:
    """POST /api/v3/order's parameters, checked in the order Binance checks them."""
    side = enum_param(OrderSide, params, "side", -1117, "Invalid side.")
    order_type = enum_param(OrderType, params, "type", -1116, "Invalid orderType.")
    if order_type is OrderType.LIMIT:
        tif = enum_param(TimeInForce, params, "timeInForce", -1115, "Invalid timeInForce.")
    elif params.get("timeInForce") is not None:
        raise VenueError(400, -1106, "Parameter 'timeInForce' sent when not required.")
    else:
        tif = TimeInForce.GTC
    if order_type is OrderType.MARKET:
        if "price" in params:
            raise VenueError(400, -1106, "Parameter 'price' sent when not required.")
        if "quantity" in params and "quoteOrderQty" in params:
            raise VenueError(400, -1128, "Combination of optional parameters invalid.")
        if "quantity" not in params and "quoteOrderQty" not in params:
            raise VenueError(400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
        price = None
    else:
        price = number_param(params, "price")
    quote_qty, qty = 0, None
    if "quoteOrderQty" in params and order_type is OrderType.MARKET:
        quote_qty = _quote_order_qty(params)
    else:
        qty = number_param(params, "quantity")
    client_id = client_order_id(params)
    return OrderParams(side, order_type, tif, price, qty, quote_qty, client_id, _resp_type(params, order_type))


def mandatory(name: str) -> VenueError:
    return VenueError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def client_order_id(params: Params) -> str | None:
    """`newClientOrderId`, if sent."""
    client_id = params.get("newClientOrderId")
    if client_id is not None and not _CLIENT_ID_RE.match(client_id):
        raise VenueError(
            400,
            -1100,
            f"Illegal characters found in parameter 'newClientOrderId'; legal range is '{_CLIENT_ID_RANGE}'.",
        )
    return client_id


def enum_param(kind: type[E], params: Params, name: str, code: int, msg: str) -> E:
    text = params.get(name)
    if not text:
        raise mandatory(name)
    try:
        return kind(text)
    except ValueError:
        raise VenueError(400, code, msg) from None


def number_param(params: Params, name: str) -> Decimal:
    text = params.get(name)
    if not text:
        raise mandatory(name)
    if not _NUMBER_RE.match(text):
        raise VenueError(
            400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{_NUMBER_RANGE}'."
        )
    return Decimal(text)


def int_param(params: Params, name: str) -> int:
    text = params.get(name, "")
    if not text.isdigit() or not text.isascii():
        raise VenueError(
            400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'."
        )
    return int(text)


def _quote_order_qty(params: Params) -> int:
    value = number_param(params, "quoteOrderQty")
    scaled = value * SCALE
    if scaled != scaled.to_integral_value():
        raise VenueError(400, -1111, "Parameter 'quoteOrderQty' has too much precision.")
    if scaled == 0:
        raise VenueError(400, -1013, "Filter failure: NOTIONAL")
    return int(scaled)


def _resp_type(params: Params, order_type: OrderType) -> RespType:
    text = params.get("newOrderRespType")
    if text is None:
        return RespType.FULL if order_type in (OrderType.LIMIT, OrderType.MARKET) else RespType.ACK
    try:
        return RespType(text)
    except ValueError:
        raise VenueError(400, -1177, "Invalid newOrderRespType.") from None


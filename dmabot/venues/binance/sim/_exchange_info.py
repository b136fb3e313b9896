"""`GET /api/v3/exchangeInfo` bodies, shaped like mainnet's (docs/binance.md, "Filters and rounding")."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from dmabot.venues.binance.sim._limits import RATE_LIMITS
from dmabot.venues.binance.sim._symbols import SymbolSpec, format_units, to_units

_ORDER_TYPES = ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"]
_STP_MODES = ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT", "TRANSFER"]
_PERMISSION_SETS = [["SPOT", "MARGIN", "TRD_GRP_004", "TRD_GRP_005", "TRD_GRP_006", "TRD_GRP_009", "TRD_GRP_010"]]
_MAX_PRICE = format_units(to_units("1000000"))
_MAX_QTY = format_units(to_units("9000"))
_ZERO = format_units(0)


def exchange_info(
    specs: Iterable[SymbolSpec], server_time_ms: int, rate_limits: Sequence[dict[str, Any]] = RATE_LIMITS
) -> dict[str, Any]:
    return {
        "timezone": "UTC",
        "serverTime": server_time_ms,
        "rateLimits": [dict(limit) for limit in rate_limits],
        "exchangeFilters": [],
        "symbols": [symbol_info(spec) for spec in specs],
    }


def symbol_info(spec: SymbolSpec) -> dict[str, Any]:
    return {
        "symbol": spec.symbol,
        "status": "TRADING",
        "baseAsset": spec.base_asset,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote_asset,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": list(_ORDER_TYPES),
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "opoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "pegInstructionsAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": True,
        "filters": _filters(spec),
        "permissions": [],
        "permissionSets": [list(s) for s in _PERMISSION_SETS],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": list(_STP_MODES),
    }


def _filters(spec: SymbolSpec) -> list[dict[str, Any]]:
    tick = format_units(spec.tick_units)
    step = format_units(spec.step_units)
    return [
        {"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": _MAX_PRICE, "tickSize": tick},
        {"filterType": "LOT_SIZE", "minQty": step, "maxQty": _MAX_QTY, "stepSize": step},
        {"filterType": "ICEBERG_PARTS", "limit": 100},
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": _ZERO,
            "maxQty": format_units(spec.market_max_qty_units),
            "stepSize": _ZERO,
        },
        {
            "filterType": "TRAILING_DELTA",
            "minTrailingAboveDelta": 10,
            "maxTrailingAboveDelta": 2000,
            "minTrailingBelowDelta": 10,
            "maxTrailingBelowDelta": 2000,
        },
        {
            "filterType": "PERCENT_PRICE_BY_SIDE",
            "bidMultiplierUp": "5",
            "bidMultiplierDown": "0.2",
            "askMultiplierUp": "5",
            "askMultiplierDown": "0.2",
            "avgPriceMins": 5,
        },
        {
            "filterType": "NOTIONAL",
            "minNotional": "5.00000000",
            "applyMinToMarket": True,
            "maxNotional": "9000000.00000000",
            "applyMaxToMarket": False,
            "avgPriceMins": 5,
        },
        {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
        {"filterType": "MAX_NUM_ORDER_LISTS", "maxNumOrderLists": 20},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        {"filterType": "MAX_NUM_ORDER_AMENDS", "maxNumOrderAmends": 10},
    ]

"""What each REST request of the gateway is, so its outcome is routed to the unit that asked;
and the JSON of a reply."""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from dmabot.venues.binance.protocol.rest_protocol import Response


class RequestKind(enum.Enum):
    TIME = "time"
    EXCHANGE_INFO = "exchange_info"
    ORDER = "order"
    QUERY = "query"
    TRADES = "trades"
    CANCEL_ALL = "cancel_all"
    GAP_TRADES = "gap_trades"      # reconciliation: myTrades since the last trade id seen
    GAP_ORDERS = "gap_orders"      # reconciliation: openOrders
    ACCOUNT = "account"            # balances: at start and in each reconciliation


RECONCILIATION = frozenset({RequestKind.GAP_TRADES, RequestKind.GAP_ORDERS, RequestKind.ACCOUNT})


@dataclass(frozen=True, slots=True)
class Tag:
    """What a request was, so its outcome is routed: `key` is the client id or the symbols."""

    kind: RequestKind
    key: Any = None


def json_body(r: Response) -> Any:
    """The reply's JSON, or None for an empty or non-JSON body (an HTML 5xx page)."""
    try:
        return json.loads(r.body) if r.body else None
    except ValueError:
        return None

"""What a Binance gateway is configured with: the REST target, credentials, timeouts, backoff
and how orders are sent."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from dmabot.io.reactor import NS
from dmabot.io.url import Target, parse_target
from dmabot.venues.binance.protocol.signing import Credentials
from dmabot.venues.binance.protocol.wire import OrderType, RespType, TimeInForce


class OrderTransport(enum.Enum):
    REST = "rest"          # POST /api/v3/order on the REST connection, one request in flight
    WS_API = "ws_api"      # order.place on the WebSocket API connection, many in flight


def rest_target(url: str) -> Target:
    """``https://host[:port]`` (or ``http://`` for plain TCP against a local simulator), no path."""
    target = parse_target(url, ("https", "http"))
    if target.target != "/":
        raise ValueError(f"expected the REST base without a path, got {url!r}")
    return target


@dataclass(frozen=True)
class GatewaySettings:
    rest_url: str
    ca_file: str | None
    credentials: Credentials
    recv_window_ms: int = 5000
    request_timeout_ns: int = 10 * NS
    connect_timeout_ns: int = 10 * NS
    backoff_initial_ns: int = NS // 4
    backoff_max_ns: int = 30 * NS  # the REST reconnect's cap (the engine passes WS_BACKOFF_MAX_S)
    ws_api_url: str = ""          # user data stream; empty: fills come from REST replies only
    order_resp_type: RespType = RespType.FULL   # ACK: fills come from the user data stream alone
    order_transport: OrderTransport = OrderTransport.REST
    order_type: OrderType = OrderType.LIMIT           # LIMIT (at the signal's price) or MARKET
    time_in_force: TimeInForce | None = TimeInForce.IOC     # LIMIT only

    def __post_init__(self) -> None:
        if self.order_transport is OrderTransport.WS_API and not self.ws_api_url:
            raise ValueError("order entry over the WebSocket API needs its URL (ws_api_url)")
        if (self.order_type is OrderType.LIMIT) != (self.time_in_force is not None) or \
                self.order_type not in (OrderType.LIMIT, OrderType.MARKET):
            raise ValueError(f"orders are LIMIT with a time in force or MARKET, not {self.order_type} "
                             f"with {self.time_in_force}")

    @property
    def orders_via_ws_api(self) -> bool:
        return self.order_transport is OrderTransport.WS_API

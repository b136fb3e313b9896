from typing_extensions import disjoint_base

from dmabot.venues.binance.protocol.signing import Credentials

@disjoint_base
class OrderPlaceWriter:
    symbol: str
    def __init__(self, symbol: str, credentials: Credentials, resp_type: str = "RESULT",
                 recv_window_ms: int = 5000) -> None: ...
    def build(self, side: str, order_type: str, time_in_force: str | None, quantity: str, price: str | None,
              client_order_id: str, timestamp_ms: int) -> bytes: ...
    def frame(self, side: str, order_type: str, time_in_force: str | None, quantity: str, price: str | None,
              client_order_id: str, timestamp_ms: int) -> bytes: ...

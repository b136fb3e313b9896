from dmabot.venues.binance.protocol.signing import Credentials

class OrderPlaceWriter:
    symbol: str
    def __init__(self, symbol: str, credentials: Credentials, resp_type: str = "RESULT",
                 recv_window_ms: int = 5000) -> None: ...
    def build(self, side: str, order_type: str, time_in_force: str | None, quantity: str, price: str | None,
              client_order_id: str, timestamp_ms: int) -> bytes: ...
    def frame(self, side: str, order_type: str, time_in_force: str | None, quantity: str, price: str | None,
              client_order_id: str, timestamp_ms: int) -> bytes: ...

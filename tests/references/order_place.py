"""The plain-Python reference of dmabot.venues.binance.fast.order_writer.OrderPlaceWriter: the same pieces,
joined with f-strings and signed by `Credentials.sign`."""
from __future__ import annotations

import ujson

from dmabot.venues.binance.protocol.signing import MAX_RECV_WINDOW_MS, Credentials
from dmabot.venues.binance.protocol.wire import OrderType, RespType, TimeInForce, WireSide


class OrderPlaceTemplate:
    """``order.place`` for one symbol and key, in plain Python: what `OrderPlaceWriter` must
    write byte for byte, itself held equal (as JSON) to what `WsApiSession.request` signs."""

    __slots__ = ("symbol", "_credentials", "_combos", "_sign_head", "_sign_resp", "_json_head", "_json_resp")

    def __init__(self, symbol: str, credentials: Credentials, resp_type: RespType = RespType.RESULT,
                 recv_window_ms: int = 5000) -> None:
        if not symbol.isascii() or not symbol.isalnum():
            raise ValueError(f"symbol {symbol!r} is not plain ASCII letters and digits")
        if isinstance(recv_window_ms, bool) or not 0 < recv_window_ms <= MAX_RECV_WINDOW_MS:
            raise ValueError(f"recv_window_ms must be in (0, {MAX_RECV_WINDOW_MS}], got {recv_window_ms}")
        self.symbol = symbol
        self._credentials = credentials
        key = credentials.api_key
        resp = RespType(resp_type).value
        # (side, type, tif) -> the fixed texts around the per-order values, in sorted-name order:
        # apiKey newClientOrderId newOrderRespType [price] quantity recvWindow side symbol
        # [timeInForce] timestamp type
        self._combos: dict[tuple[WireSide, OrderType, TimeInForce | None], tuple[bool, str, str, str, str]] = {}
        for side in WireSide:
            for order_type, needs_tif, needs_price in ((OrderType.LIMIT, True, True),
                                                       (OrderType.LIMIT_MAKER, False, True),
                                                       (OrderType.MARKET, False, False)):
                for tif in TimeInForce if needs_tif else (None,):
                    tif_sign = f"&timeInForce={tif.value}" if tif else ""
                    tif_json = f',"timeInForce":"{tif.value}"' if tif else ""
                    self._combos[side, order_type, tif] = (
                        needs_price,
                        f"&recvWindow={recv_window_ms}&side={side.value}&symbol={symbol}{tif_sign}&timestamp=",
                        f"&type={order_type.value}",
                        f'","recvWindow":{recv_window_ms},"side":"{side.value}","symbol":"{symbol}"{tif_json}'
                        ',"timestamp":',
                        f',"type":"{order_type.value}","signature":"',
                    )
        self._sign_head = f"apiKey={key}&newClientOrderId="
        self._sign_resp = f"&newOrderRespType={resp}"
        self._json_head = '","method":"order.place","params":{"apiKey":' + ujson.dumps(key) + ',"newClientOrderId":"'
        self._json_resp = f'","newOrderRespType":"{resp}'

    def build(self, side: WireSide, order_type: OrderType, time_in_force: TimeInForce | None, quantity: str,
              price: str | None, client_order_id: str, timestamp_ms: int) -> bytes:
        """The request's JSON text, UTF-8, ready to go into one text frame."""
        try:
            needs_price, sign_mid, sign_tail, json_mid, json_tail = self._combos[side, order_type, time_in_force]
        except KeyError:
            raise ValueError(f"no {side} {order_type} order with timeInForce={time_in_force}") from None
        if needs_price != (price is not None):
            raise ValueError(f"a {order_type} order {'needs' if needs_price else 'takes no'} price")
        if needs_price:
            sign_px, json_px = f"&price={price}", f'","price":"{price}'
        else:
            sign_px = json_px = ""
        payload = (f"{self._sign_head}{client_order_id}{self._sign_resp}{sign_px}&quantity={quantity}"
                   f"{sign_mid}{timestamp_ms}{sign_tail}")
        signature = self._credentials.sign(payload.encode("ascii"))
        return (f'{{"id":"{client_order_id}{self._json_head}{client_order_id}{self._json_resp}{json_px}'
                f'","quantity":"{quantity}{json_mid}{timestamp_ms}{json_tail}{signature}"}}}}').encode("ascii")

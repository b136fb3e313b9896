"""Wire bytes of Binance REST requests, sans-IO.

`OrderTemplate` builds ``POST /api/v3/order`` on the hot path. Everything that is the same for
every order of a symbol (request line, headers up to ``Content-Length: ``, the
``symbol=..&side=..&type=..`` head of the body per side/type/time in force, the
``newOrderRespType``/``recvWindow`` part) is computed once; an order only joins in its
quantity, price, client id and timestamp, signs the body and prepends its length. Building the
same request through h11's ``Connection.send``, ``urlencode`` and ``hmac.new`` costs 20-30
times more (bench/bench_order_request.py measures both in one run).

The body is byte for byte what `signing.signed_query` returns for the same parameters (a test
holds them equal), so the template is an optimisation, not a second signing scheme.

Values go in unquoted. That is only correct because each one is checked to be made of
characters percent-encoding leaves alone: digits and one ``.`` for numbers (write them with
`filters.format_decimal`), ``[A-Za-z0-9_-]`` for client ids (`client_order_id`).

`RestRequests` builds the other, rarer requests (queries, cancels, account, time)
through h11's client side: they are not on the hot path, and h11 checks their framing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import h11

from dmabot.venues.binance.protocol.signing import (
    API_KEY_HEADER,
    MAX_RECV_WINDOW_MS,
    Credentials,
    KeyType,
    Params,
    encode_query,
    signed_query,
)
from dmabot.venues.binance.protocol.wire import OrderType, RespType, TimeInForce, WireSide

ORDER_PATH = "/api/v3/order"
DEFAULT_RECV_WINDOW_MS = 5000
USER_AGENT = "dmabot"
FORM = "application/x-www-form-urlencoded"

_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,36}")
# Order types the template builds -> (takes timeInForce, takes price), docs/binance.md, REST order entry.
_ORDER_TYPES = {
    OrderType.LIMIT: (True, True),
    OrderType.LIMIT_MAKER: (False, True),
    OrderType.MARKET: (False, False),
}


class RequestError(ValueError):
    """A request that Binance would reject for its shape (bad value text, missing price, ...)."""




class OrderTemplate:
    """Prepared ``POST /api/v3/order`` for one symbol, one host (``host[:port]``), one key.

    `build` takes the already-rounded quantity and price as text (`format_decimal` of the
    grid values from `SymbolRules.round_qty`/`round_price`), the client id, and the timestamp
    from `clock.ServerClock.timestamp_ms`. ``time_in_force`` is required for LIMIT and must be
    None for LIMIT_MAKER and MARKET (Binance rejects it there with -1106/-1114); MARKET takes
    no price.
    """

    __slots__ = ("symbol", "resp_type", "recv_window_ms", "_credentials", "_head", "_bodies", "_tail")

    def __init__(
        self,
        host: str,
        symbol: str,
        credentials: Credentials,
        resp_type: RespType = RespType.RESULT,
        recv_window_ms: int = DEFAULT_RECV_WINDOW_MS,
    ) -> None:
        if not symbol.isascii() or not symbol.isalnum():
            raise RequestError(f"symbol {symbol!r} is not plain ASCII letters and digits")
        if isinstance(recv_window_ms, bool) or not 0 < recv_window_ms <= MAX_RECV_WINDOW_MS:
            raise RequestError(f"recv_window_ms must be in (0, {MAX_RECV_WINDOW_MS}], got {recv_window_ms}")
        self.symbol = symbol
        self.resp_type = RespType(resp_type)
        self.recv_window_ms = recv_window_ms
        self._credentials = credentials
        # signing.Credentials keeps the secret private and rebuilds the HMAC per call; the hot
        # path needs the pads precomputed, so it reads the secret here, inside the package.
        self._head = (
            f"POST {ORDER_PATH} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
            f"{API_KEY_HEADER}: {credentials.api_key}\r\nContent-Type: {FORM}\r\nContent-Length: "
        ).encode("ascii")
        # (side, type, time in force) -> ("symbol=..&side=..&type=..[&timeInForce=..]&quantity=",
        # whether a price follows). Combinations Binance refuses have no entry.
        self._bodies: dict[tuple[WireSide, OrderType, TimeInForce | None], tuple[str, bool]] = {}
        for side in WireSide:
            for order_type, (needs_tif, needs_price) in _ORDER_TYPES.items():
                for tif in TimeInForce if needs_tif else (None,):
                    body = f"symbol={symbol}&side={side}&type={order_type}"
                    if tif is not None:
                        body += f"&timeInForce={tif}"
                    self._bodies[side, order_type, tif] = (body + "&quantity=", needs_price)
        self._tail = f"&newOrderRespType={self.resp_type}&recvWindow={recv_window_ms}&timestamp="

    def body(
        self,
        side: WireSide,
        order_type: OrderType,
        time_in_force: TimeInForce | None,
        quantity: str,
        price: str | None,
        client_order_id: str,
        timestamp_ms: int,
    ) -> bytes:
        """The signed form body alone (what `build` sends after the headers)."""
        try:
            head, needs_price = self._bodies[side, order_type, time_in_force]
        except KeyError:
            raise RequestError(f"no {side} {order_type} order with timeInForce={time_in_force}") from None
        if not _is_plain_number(quantity):
            raise RequestError(f"quantity {quantity!r} is not a plain decimal (use filters.format_decimal)")
        if _CLIENT_ID.fullmatch(client_order_id) is None:
            raise RequestError(f"newClientOrderId {client_order_id!r} is not 1-36 of [A-Za-z0-9_-]")
        if timestamp_ms <= 0:
            raise RequestError(f"timestamp_ms must be positive, got {timestamp_ms}")
        if needs_price:
            if price is None or not _is_plain_number(price):
                raise RequestError(f"a {order_type} order needs a plain decimal price, got {price!r}")
            text = f"{head}{quantity}&price={price}&newClientOrderId={client_order_id}{self._tail}{timestamp_ms}"
        elif price is not None:
            raise RequestError(f"a {order_type} order takes no price")
        else:
            text = f"{head}{quantity}&newClientOrderId={client_order_id}{self._tail}{timestamp_ms}"
        payload = text.encode("ascii")
        signature = self._credentials.sign(payload)
        if self._credentials.key_type is KeyType.ED25519:
            # A base64 (Ed25519) signature has + / =, which REST needs percent-encoded.
            signature = encode_query([("", signature)])[1:]
        return payload + b"&signature=" + signature.encode("ascii")

    def build(
        self,
        side: WireSide,
        order_type: OrderType,
        time_in_force: TimeInForce | None,
        quantity: str,
        price: str | None,
        client_order_id: str,
        timestamp_ms: int,
    ) -> bytes:
        """The whole request: headers and signed body, ready to write to the connection."""
        body = self.body(side, order_type, time_in_force, quantity, price, client_order_id, timestamp_ms)
        return b"%b%d\r\n\r\n%b" % (self._head, len(body), body)


def _is_plain_number(text: str) -> bool:
    # Digits with at most one '.', nothing else: what format_decimal writes for a grid value.
    return text.isascii() and text.replace(".", "", 1).isdigit()


# --- requests off the hot path, framed by h11 ------------------------------------------------


class RestRequests:
    """Builds the signed (and public) GET/DELETE requests the gateway needs besides orders."""

    __slots__ = ("host", "recv_window_ms", "_credentials")

    def __init__(self, host: str, credentials: Credentials, recv_window_ms: int = DEFAULT_RECV_WINDOW_MS) -> None:
        self.host = host
        self.recv_window_ms = recv_window_ms
        self._credentials = credentials

    def server_time(self) -> bytes:
        """``GET /api/v3/time`` (public, weight 1)."""
        return self._request("GET", "/api/v3/time", "", signed=False)

    def exchange_info(self, symbols: Sequence[str] = ()) -> bytes:
        """``GET /api/v3/exchangeInfo`` (public, weight 20), for `symbols` or all of them."""
        query = encode_query([("symbols", json.dumps(list(symbols), separators=(",", ":")))]) if symbols else ""
        return self._request("GET", "/api/v3/exchangeInfo", query, signed=False)

    def open_orders(self, symbol: str, timestamp_ms: int) -> bytes:
        """``GET /api/v3/openOrders?symbol=`` (weight 6; without a symbol it costs 80, so none)."""
        return self._signed("GET", "/api/v3/openOrders", [("symbol", symbol)], timestamp_ms)

    def query_order(self, symbol: str, client_order_id: str, timestamp_ms: int) -> bytes:
        """``GET /api/v3/order`` by ``origClientOrderId``: how an unknown outcome is resolved."""
        params = [("symbol", symbol), ("origClientOrderId", client_order_id)]
        return self._signed("GET", ORDER_PATH, params, timestamp_ms)

    def cancel_order(
        self,
        symbol: str,
        timestamp_ms: int,
        order_id: int | None = None,
        client_order_id: str | None = None,
        cancel_client_order_id: str | None = None,
    ) -> bytes:
        """``DELETE /api/v3/order`` by ``orderId`` (fastest) or ``origClientOrderId``."""
        if order_id is None and client_order_id is None:
            raise RequestError("cancel needs order_id or client_order_id (else -1102)")
        params: list[tuple[str, str | int]] = [("symbol", symbol)]
        if order_id is not None:
            params.append(("orderId", order_id))
        if client_order_id is not None:
            params.append(("origClientOrderId", client_order_id))
        if cancel_client_order_id is not None:
            params.append(("newClientOrderId", cancel_client_order_id))
        return self._signed("DELETE", ORDER_PATH, params, timestamp_ms)

    def cancel_all(self, symbol: str, timestamp_ms: int) -> bytes:
        """``DELETE /api/v3/openOrders?symbol=`` (``-2011`` when nothing is open: a no-op)."""
        return self._signed("DELETE", "/api/v3/openOrders", [("symbol", symbol)], timestamp_ms)

    def account(self, timestamp_ms: int) -> bytes:
        """``GET /api/v3/account?omitZeroBalances=true`` (weight 20)."""
        return self._signed("GET", "/api/v3/account", [("omitZeroBalances", True)], timestamp_ms)

    def my_trades(
        self, symbol: str, timestamp_ms: int, from_id: int | None = None, order_id: int | None = None, limit: int = 1000
    ) -> bytes:
        """``GET /api/v3/myTrades``: ``fromId`` pages the gap after a user-stream outage."""
        params: list[tuple[str, str | int]] = [("symbol", symbol)]
        if order_id is not None:
            params.append(("orderId", order_id))
        if from_id is not None:
            params.append(("fromId", from_id))
        params.append(("limit", limit))
        return self._signed("GET", "/api/v3/myTrades", params, timestamp_ms)

    def _signed(self, method: str, path: str, params: Params, timestamp_ms: int) -> bytes:
        return self._request(method, path, signed_query(params, self._credentials, timestamp_ms, self.recv_window_ms))

    def _request(self, method: str, path: str, query: str, signed: bool = True) -> bytes:
        # Signed GET/DELETE carry everything in the query string: no body, and the signed text
        # reaches the wire unchanged because h11 does not re-encode the target.
        target = f"{path}?{query}" if query else path
        headers = [("Host", self.host), ("User-Agent", USER_AGENT)]
        if signed:
            headers.append(self._credentials.header())
        client = h11.Connection(h11.CLIENT)
        wire = client.send(h11.Request(method=method, target=target, headers=headers)) or b""
        wire += client.send(h11.EndOfMessage()) or b""
        return wire


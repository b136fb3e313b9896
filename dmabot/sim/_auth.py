"""Checks on SIGNED requests, as Binance makes them: API key, signature, timestamp window.

The signatures are recomputed with the engine's own `dmabot.binance.signing` (the same
`Credentials.sign`, and `ws_api_payload` for the WebSocket API), so the simulator accepts
exactly what that module produces and rejects anything else with Binance's error:

* REST (SPOT_API.md 4.2): the payload is the query string, as sent, followed directly by
  the body, as sent, each without its ``signature=`` parameter.
* WebSocket API (4.3): the params other than ``signature``, sorted, raw ``k=v&...``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from dmabot.binance.signing import Credentials, ws_api_payload
from dmabot.sim._errors import ApiError

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60_000
AHEAD_LIMIT_MS = 1000


def _bad_key_format() -> ApiError:
    return ApiError(401, -2014, "API-key format invalid.")


def _rejected_key() -> ApiError:
    return ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")


def _bad_signature() -> ApiError:
    return ApiError(400, -1022, "Signature for this request is not valid.")


def _mandatory(name: str) -> ApiError:
    return ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


class Authenticator:
    """The one API key pair the simulator accepts; None accepts no signed request at all."""

    def __init__(self, credentials: Credentials | None) -> None:
        self._credentials = credentials

    def __repr__(self) -> str:
        return f"Authenticator({self._credentials!r})"

    def check_key(self, api_key: str | None) -> Credentials:
        if not api_key or not (api_key.isascii() and api_key.isprintable()) or " " in api_key:
            raise _bad_key_format()
        if self._credentials is None or not hmac.compare_digest(api_key, self._credentials.api_key):
            raise _rejected_key()
        return self._credentials

    def check_rest(self, api_key: str | None, query: str, body: str, params: Mapping[str, str], now_ms: int) -> None:
        """Raise the `ApiError` Binance answers a bad signed REST request with."""
        credentials = self.check_key(api_key)
        if not params.get("signature"):
            raise _mandatory("signature")
        if not params.get("timestamp"):
            raise _mandatory("timestamp")
        payload = _without_signature(query) + _without_signature(body)
        _compare(credentials.sign(payload), params["signature"])
        check_timing(params.get("timestamp"), params.get("recvWindow"), now_ms)

    def check_ws(self, params: Mapping[str, Any], now_ms: int) -> None:
        """The same for the params of a signed WebSocket API request."""
        credentials = self.check_key(params.get("apiKey") if isinstance(params.get("apiKey"), str) else None)
        signature = params.get("signature")
        if not isinstance(signature, str) or not signature:
            raise _mandatory("signature")
        if params.get("timestamp") in (None, ""):
            raise _mandatory("timestamp")
        try:
            payload = ws_api_payload({k: _ws_text(v) for k, v in params.items()})
        except ValueError:
            raise _bad_signature() from None
        _compare(credentials.sign(payload), signature)
        recv_window = params.get("recvWindow")
        check_timing(_plain(params["timestamp"]), None if recv_window is None else _plain(recv_window), now_ms)


def check_timing(timestamp: str | None, recv_window: str | None, now_ms: int) -> None:
    """SPOT_API.md 4.1: not 1000 ms or more ahead, not older than recvWindow (default 5000)."""
    if not timestamp or not timestamp.isdigit() or not timestamp.isascii():
        raise _mandatory("timestamp")
    ts = int(timestamp)
    window = Decimal(DEFAULT_RECV_WINDOW_MS)
    if recv_window is not None:
        try:
            window = Decimal(recv_window)
        except InvalidOperation:
            raise _mandatory("recvWindow") from None
        if not window.is_finite() or window <= 0:
            raise _mandatory("recvWindow")
        if window > MAX_RECV_WINDOW_MS:
            raise ApiError(400, -1131, f"recvWindow must be less than {MAX_RECV_WINDOW_MS}.")
    if ts >= now_ms + AHEAD_LIMIT_MS:
        raise ApiError(400, -1021, f"Timestamp for this request was {AHEAD_LIMIT_MS}ms ahead of the server's time.")
    if now_ms - ts > window:
        raise outside_recv_window()


def outside_recv_window() -> ApiError:
    return ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")


def _without_signature(text: str) -> str:
    return "&".join(part for part in text.split("&") if not part.startswith("signature=")) if text else ""


def _compare(expected: str, sent: str) -> None:
    # HMAC hex is case-insensitive on Binance
    if not hmac.compare_digest(expected.lower().encode(), sent.lower().encode()):
        raise _bad_signature()


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else str(_ws_text(value))


def _ws_text(value: Any) -> Any:
    """A JSON param as the signer saw it: ints and bools as themselves, strings unchanged."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, (str, int, bool)):
        return value
    raise ValueError(f"unsupported param type {type(value).__name__}")

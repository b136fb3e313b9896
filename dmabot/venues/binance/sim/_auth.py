"""Checks on SIGNED requests, as Binance makes them: API key, signature, timestamp window.

The payloads are rebuilt as the engine's own `dmabot.venues.binance.protocol.signing` builds them
(`ws_api_payload` for the WebSocket API), so the simulator accepts exactly what that module
produces and rejects anything else with Binance's error:

* REST: the payload is the query string, as sent, followed directly by the body, as sent,
  each without its ``signature=`` parameter.
* WebSocket API: the params other than ``signature``, sorted, raw ``k=v&...``.

(docs/binance.md, "Signing".) The account's key is of one of two types: an HMAC secret, whose hex signature is
recomputed and compared (any case), or an Ed25519 public key, against which the base64
signature (percent-decoded on REST, like any parameter) is verified; the simulator never
holds the private key, as Binance does not.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from dmabot.venues.binance.protocol.signing import Credentials, ws_api_payload
from dmabot.venues.binance.sim._errors import VenueError

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60_000
AHEAD_LIMIT_MS = 1000


def _bad_key_format() -> VenueError:
    return VenueError(401, -2014, "API-key format invalid.")


def _rejected_key() -> VenueError:
    return VenueError(401, -2015, "Invalid API-key, IP, or permissions for action.")


def _bad_signature() -> VenueError:
    return VenueError(400, -1022, "Signature for this request is not valid.")


def _mandatory(name: str) -> VenueError:
    return VenueError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


class SignatureCheck(Protocol):
    def matches(self, payload: str, signature: str) -> bool:
        """True if `signature` signs `payload` with the account's key."""


class HmacCheck:
    """An HMAC-SHA256 secret (inside `Credentials`): recompute, compare in constant time."""

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def __repr__(self) -> str:
        return "HmacCheck(secret=<set>)"

    def matches(self, payload: str, signature: str) -> bool:
        # HMAC hex is case-insensitive on Binance
        return hmac.compare_digest(self._credentials.sign(payload).lower().encode(), signature.lower().encode())


class Ed25519Check:
    """A registered Ed25519 public key (PEM); needs the optional ``cryptography`` package."""

    def __init__(self, public_key_pem: bytes) -> None:
        try:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
            from cryptography.hazmat.primitives.serialization import load_pem_public_key
        except ImportError:
            raise ValueError("Ed25519 keys need the 'cryptography' package (pip install cryptography)") from None
        try:
            key = load_pem_public_key(public_key_pem)
        except (ValueError, TypeError):
            raise ValueError("the Ed25519 public key could not be loaded (expected a PEM public key)") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError(f"expected an Ed25519 public key, got {type(key).__name__}")
        self._key = key

    def __repr__(self) -> str:
        return "Ed25519Check()"

    def matches(self, payload: str, signature: str) -> bool:
        from cryptography.exceptions import InvalidSignature

        try:
            self._key.verify(base64.b64decode(signature, validate=True), payload.encode())
        except (binascii.Error, ValueError, InvalidSignature):
            return False
        return True


class Authenticator:
    """The one API key the simulator accepts and how its signatures are checked; without a key,
    no signed request passes at all."""

    def __init__(self, credentials: Credentials | None) -> None:
        """An HMAC key: `credentials` hold the API key and its secret."""
        self._api_key = None if credentials is None else credentials.api_key
        self._check: SignatureCheck | None = None if credentials is None else HmacCheck(credentials)

    @classmethod
    def ed25519(cls, api_key: str, public_key_pem: bytes) -> Authenticator:
        """An Ed25519 key: the API key and its registered public key (PEM)."""
        auth = cls(None)
        auth._api_key, auth._check = api_key, Ed25519Check(public_key_pem)
        return auth

    def __repr__(self) -> str:
        return f"Authenticator({self._check!r})"

    def check_key(self, api_key: str | None) -> SignatureCheck:
        if not api_key or not (api_key.isascii() and api_key.isprintable()) or " " in api_key:
            raise _bad_key_format()
        if self._check is None or self._api_key is None or not hmac.compare_digest(api_key, self._api_key):
            raise _rejected_key()
        return self._check

    def check_rest(self, api_key: str | None, query: str, body: str, params: Mapping[str, str], now_ms: int) -> None:
        """Raise the `VenueError` Binance answers a bad signed REST request with."""
        check = self.check_key(api_key)
        if not params.get("signature"):
            raise _mandatory("signature")
        if not params.get("timestamp"):
            raise _mandatory("timestamp")
        payload = _without_signature(query) + _without_signature(body)
        if not check.matches(payload, params["signature"]):
            raise _bad_signature()
        check_timing(params.get("timestamp"), params.get("recvWindow"), now_ms)

    def check_ws(self, params: Mapping[str, Any], now_ms: int) -> None:
        """The same for the params of a signed WebSocket API request."""
        check = self.check_key(params.get("apiKey") if isinstance(params.get("apiKey"), str) else None)
        signature = params.get("signature")
        if not isinstance(signature, str) or not signature:
            raise _mandatory("signature")
        if params.get("timestamp") in (None, ""):
            raise _mandatory("timestamp")
        try:
            payload = ws_api_payload({k: _ws_text(v) for k, v in params.items()})
        except ValueError:
            raise _bad_signature() from None
        if not check.matches(payload, signature):
            raise _bad_signature()
        recv_window = params.get("recvWindow")
        check_timing(_plain(params["timestamp"]), None if recv_window is None else _plain(recv_window), now_ms)


def check_timing(timestamp: str | None, recv_window: str | None, now_ms: int) -> None:
    """A signed request's `timestamp` may be less than 1000 ms ahead of the server's clock and
    no older than `recvWindow` (default 5000 ms); docs/binance.md, "Signing"."""
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
            raise VenueError(400, -1131, f"recvWindow must be less than {MAX_RECV_WINDOW_MS}.")
    if ts >= now_ms + AHEAD_LIMIT_MS:
        raise VenueError(400, -1021, f"Timestamp for this request was {AHEAD_LIMIT_MS}ms ahead of the server's time.")
    if now_ms - ts > window:
        raise outside_recv_window()


def outside_recv_window() -> VenueError:
    return VenueError(400, -1021, "Timestamp for this request is outside of the recvWindow.")


def _without_signature(text: str) -> str:
    return "&".join(part for part in text.split("&") if not part.startswith("signature=")) if text else ""


def _plain(value: Any) -> str:
    return value if isinstance(value, str) else str(_ws_text(value))


def _ws_text(value: Any) -> Any:
    """A JSON param as the signer saw it: ints and bools as themselves, strings unchanged."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, (str, int, bool)):
        return value
    raise ValueError(f"unsupported param type {type(value).__name__}")

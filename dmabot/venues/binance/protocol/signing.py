"""Request signing for Binance Spot: REST (HMAC-SHA256 or Ed25519) and the WebSocket API.

The two services sign different strings (docs/binance.md, Signing):

* REST signs exactly the bytes it sends: the percent-encoded ``k=v&...`` query string (or
  form body), parameters in the order given. `signed_query` returns that string with
  ``&signature=`` appended, ready to go into the URL or body unchanged.
* The WebSocket API signs the request's ``params`` (apiKey included, signature excluded)
  sorted by name and joined as ``k=v&...`` with raw UTF-8 values, no percent-encoding.
  `ws_api_params` returns the ``params`` object with the signature added.

`Credentials` holds the API key and the secret (HMAC) or private key (Ed25519). Neither its
repr nor any exception raised here shows the secret or a signature. Ed25519 needs the optional
``cryptography`` package; HMAC needs only the standard library.

Parameter values must already be wire text: ``str``, ``int``, ``bool`` or ``Decimal`` (written
without exponent). ``float`` is refused, because a float's formatting is not the grid value
the exchange checks (see `dmabot.venues.binance.protocol.filters`).
"""

from __future__ import annotations

import base64
import enum
import hashlib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import quote

API_KEY_HEADER = "X-MBX-APIKEY"
MAX_RECV_WINDOW_MS = 60_000

ParamValue = str | int | bool | Decimal
Params = Mapping[str, ParamValue] | Iterable[tuple[str, ParamValue]]

# Added by the signers; a caller passing one of them would send it twice.
_RESERVED = frozenset({"timestamp", "recvWindow", "signature"})


class SigningError(ValueError):
    """Signing could not be done. The message never contains the secret or a signature."""


class KeyType(enum.Enum):
    HMAC_SHA256 = "HMAC_SHA256"
    ED25519 = "ED25519"


class PreparedHmac:
    """HMAC-SHA256 with the key's inner and outer pad states hashed once (RFC 2104).

    Per message this is two ``copy()``+``update()`` calls on C hash objects, about a third
    of the cost of ``hmac.new(key, msg, sha256)``, which rehashes both pads every time.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _SHA256_BLOCK:
            key = hashlib.sha256(key).digest()
        key = key.ljust(_SHA256_BLOCK, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))

    def pads(self) -> tuple[Any, Any]:
        """Copies of the (inner, outer) states: copy each again per message."""
        return self._inner.copy(), self._outer.copy()

    def hexdigest(self, message: bytes) -> str:
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


_SHA256_BLOCK = 64


class Credentials:
    """An API key and the secret that signs for it; ``repr``/``str`` show neither.

    ``Credentials(api_key, secret)`` is an HMAC-SHA256 key pair;
    ``Credentials.ed25519(api_key, private_key_pem)`` an Ed25519 one.
    """

    __slots__ = ("_api_key", "_key_type", "_hmac", "_ed25519")

    def __init__(self, api_key: str, secret: str | bytes) -> None:
        self._api_key = _check_api_key(api_key)
        self._key_type = KeyType.HMAC_SHA256
        if not isinstance(secret, str | bytes):
            raise SigningError(f"the API secret must be str or bytes, not {type(secret).__name__}")
        secret_bytes = secret.encode() if isinstance(secret, str) else secret
        if not secret_bytes:
            raise SigningError("the API secret is empty")
        if secret_bytes != secret_bytes.strip():
            # Almost always a copy-paste or .env artefact; every signature would be -1022.
            raise SigningError("the API secret has leading or trailing whitespace")
        self._hmac: PreparedHmac | None = PreparedHmac(secret_bytes)
        self._ed25519: Any = None

    @classmethod
    def ed25519(cls, api_key: str, private_key_pem: str | bytes, password: bytes | None = None) -> Credentials:
        """An Ed25519 key pair from the PKCS#8 PEM private key (needs ``cryptography``)."""
        try:
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
            from cryptography.hazmat.primitives.serialization import load_pem_private_key
        except ImportError:
            raise SigningError("Ed25519 keys need the 'cryptography' package (pip install cryptography)") from None
        pem = private_key_pem.encode() if isinstance(private_key_pem, str) else bytes(private_key_pem)
        try:
            key = load_pem_private_key(pem, password=password)
        except (ValueError, TypeError):
            # `from None`: the original error (and its traceback) is not ours to vet for key bytes.
            raise SigningError("the Ed25519 private key could not be loaded (expected a PKCS#8 PEM)") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise SigningError(f"expected an Ed25519 private key, got {type(key).__name__}")
        self = cls.__new__(cls)
        self._api_key = _check_api_key(api_key)
        self._key_type = KeyType.ED25519
        self._hmac = None
        self._ed25519 = key
        return self

    @property
    def api_key(self) -> str:
        return self._api_key

    @property
    def key_type(self) -> KeyType:
        return self._key_type

    def hmac_pads(self) -> tuple[Any, Any] | None:
        """Copies of the HMAC key's inner and outer pad states (None for an Ed25519 key), for
        request builders of this package that sign in C. As secret as the secret: never log them."""
        if self._hmac is None:
            return None
        return self._hmac.pads()

    def header(self) -> tuple[str, str]:
        """The ``X-MBX-APIKEY`` header every signed REST request carries."""
        return API_KEY_HEADER, self._api_key

    def sign(self, payload: str | bytes) -> str:
        """Signature of `payload`: lower-case hex for HMAC, base64 for Ed25519 (not URL-quoted)."""
        data = payload.encode() if isinstance(payload, str) else payload
        if self._key_type is KeyType.ED25519:
            return base64.b64encode(self._ed25519.sign(data)).decode("ascii")
        assert self._hmac is not None
        return self._hmac.hexdigest(data)

    def __repr__(self) -> str:
        # Same policy as Config.summary(): show that keys are set, never any of their characters.
        return f"Credentials(key_type={self._key_type.name}, api_key=<set>, secret=<set>)"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        # Pickling would copy the secret into whatever stores the pickle (a recorder, a queue).
        raise TypeError("Credentials cannot be pickled")


def encode_query(params: Params) -> str:
    """Percent-encode `params` as ``k=v&...`` in the given order (UTF-8, then %XX).

    Only RFC 3986 unreserved characters ``A-Za-z0-9-._~`` stay as they are; a space becomes
    ``%20``, never ``+`` (the form-encoding habit the spec warns about).
    """
    return "&".join(f"{quote(name, safe='')}={quote(_text(name, value), safe='')}" for name, value in _pairs(params))


def signed_query(
    params: Params,
    credentials: Credentials,
    timestamp_ms: int,
    recv_window_ms: int | Decimal | None,
) -> str:
    """The signed REST query string or form body: ``params&recvWindow=..&timestamp=..&signature=..``.

    `params` keep their order; ``recvWindow`` (omitted if None: the server uses 5000 ms) and
    ``timestamp`` follow them, in the order of the documented examples. The signature covers
    exactly the returned text before ``&signature=``; send the string unchanged (never let an
    HTTP client re-encode it). An Ed25519 signature is percent-encoded, as REST requires.
    """
    pairs = _pairs(params)
    _refuse_reserved(pairs)
    pairs += _timing(timestamp_ms, recv_window_ms)
    query = encode_query(pairs)
    return f"{query}&signature={quote(credentials.sign(query), safe='')}"


def ws_api_payload(params: Params) -> str:
    """The WebSocket API signature payload: params sorted by name, raw UTF-8 ``k=v&...``."""
    return "&".join(
        f"{name}={_text(name, value)}" for name, value in sorted(_pairs(params), key=_name) if name != "signature"
    )


def ws_api_params(
    params: Params,
    credentials: Credentials,
    timestamp_ms: int,
    recv_window_ms: int | Decimal | None,
) -> dict[str, Any]:
    """The signed ``params`` object of a WebSocket API request.

    Adds ``apiKey``, ``timestamp``, ``recvWindow`` (unless None) and ``signature`` to `params`.
    Keys come out sorted, signature last; ints and bools stay JSON numbers/booleans (they
    sign as their JSON text), Decimals become plain strings.
    """
    pairs = _pairs(params)
    _refuse_reserved(pairs)
    if any(name == "apiKey" for name, _ in pairs):
        raise SigningError("'apiKey' is added from the credentials; do not pass it in params")
    pairs += [("apiKey", credentials.api_key), *_timing(timestamp_ms, recv_window_ms)]
    signed: dict[str, Any] = {
        name: _text(name, value) if isinstance(value, Decimal) else value for name, value in sorted(pairs, key=_name)
    }
    signed["signature"] = credentials.sign(ws_api_payload(pairs))
    return signed


def _check_api_key(api_key: str) -> str:
    if not isinstance(api_key, str) or not api_key:
        raise SigningError("the API key is empty")
    if not (api_key.isascii() and api_key.isprintable()) or " " in api_key:
        raise SigningError("the API key must be printable ASCII without spaces (it is sent as an HTTP header)")
    return api_key


def _pairs(params: Params) -> list[tuple[str, ParamValue]]:
    items = list(params.items() if isinstance(params, Mapping) else params)
    names = [name for name, _ in items]
    if len(set(names)) != len(names):
        raise SigningError(f"duplicate parameter names in {names}")
    return items


def _name(pair: tuple[str, ParamValue]) -> str:
    return pair[0]


def _refuse_reserved(pairs: list[tuple[str, ParamValue]]) -> None:
    reserved = sorted(_RESERVED.intersection(name for name, _ in pairs))
    if reserved:
        raise SigningError(f"{', '.join(reserved)} must not be passed in params: the signer adds them")


def _timing(timestamp_ms: int, recv_window_ms: int | Decimal | None) -> list[tuple[str, ParamValue]]:
    if isinstance(timestamp_ms, bool) or not isinstance(timestamp_ms, int) or timestamp_ms <= 0:
        raise SigningError(f"timestamp_ms must be a positive int, got {timestamp_ms!r}")
    if recv_window_ms is None:
        return [("timestamp", timestamp_ms)]
    if isinstance(recv_window_ms, bool) or not isinstance(recv_window_ms, int | Decimal):
        raise SigningError(f"recv_window_ms must be an int or Decimal, got {recv_window_ms!r}")
    if not 0 < recv_window_ms <= MAX_RECV_WINDOW_MS:
        raise SigningError(f"recv_window_ms must be in (0, {MAX_RECV_WINDOW_MS}], got {recv_window_ms}")
    return [("recvWindow", recv_window_ms), ("timestamp", timestamp_ms)]


def _text(name: str, value: ParamValue) -> str:
    """The wire text of one parameter value (the same for REST before quoting and for WS)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise SigningError(f"parameter {name!r} is not a finite number: {value}")
        return "0" if value.is_zero() else format(value, "f")
    raise SigningError(
        f"parameter {name!r} has type {type(value).__name__}; pass str, int, bool or Decimal"
        " (put floats on the symbol's grid with dmabot.venues.binance.protocol.filters first)"
    )

"""Binance request signing: the vectors Binance documents (docs/binance.md, Signing), the WebSocket API
rules, Ed25519, and that no secret or signature ever shows in a repr, str or exception."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import pickle
import sys
import traceback
import urllib.parse
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dmabot.venues.binance.protocol import (
    API_KEY_HEADER,
    Credentials,
    KeyType,
    SigningError,
    encode_query,
    signed_query,
    ws_api_params,
    ws_api_payload,
)
from tests.helpers.paths import TEST_DATA

try:
    import cryptography  # noqa: F401

    HAVE_CRYPTOGRAPHY = True
except ImportError:
    HAVE_CRYPTOGRAPHY = False

needs_cryptography = pytest.mark.skipif(
    not HAVE_CRYPTOGRAPHY, reason="Ed25519 signing needs the optional 'cryptography' package, not installed"
)

SAMPLES = TEST_DATA / "binance"
PROPERTY = settings(max_examples=200, deadline=None, derandomize=True)

# The example key pair of Binance's signing documentation: public test values, never a real key.
API_KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
TS = 1499827319559
ORDER = [("symbol", "LTCBTC"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"),
         ("quantity", "1"), ("price", "0.1")]


@pytest.fixture
def creds() -> Credentials:
    return Credentials(API_KEY, SECRET)


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


# --- REST: the documented vectors ---------------------------------------------------------

def test_vector_a_query_string(creds):
    payload = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
               "&recvWindow=5000&timestamp=1499827319559")
    signature = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    assert signed_query(ORDER, creds, TS, 5000) == f"{payload}&signature={signature}"
    assert signed_query(dict(ORDER), creds, TS, 5000) == f"{payload}&signature={signature}"   # dict order kept


def test_vector_b_query_plus_body(creds):
    # Query and body are concatenated without a separator; the caller sends each part as is.
    query = encode_query(ORDER[:4])
    body = encode_query([*ORDER[4:], ("recvWindow", 5000), ("timestamp", TS)])
    assert query == "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
    assert body == "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    assert creds.sign(query + body) == "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"


def test_vector_c_non_ascii_is_percent_encoded_before_signing(creds):
    params = [("symbol", "１２３４５６"), *ORDER[1:]]
    payload = ("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&side=BUY&type=LIMIT"
               "&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559")
    signature = "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3"
    assert signed_query(params, creds, TS, 5000) == f"{payload}&signature={signature}"
    # urllib.parse.urlencode percent-encodes exactly as the venue expects: same bytes for this vector.
    assert encode_query([*params, ("recvWindow", 5000), ("timestamp", TS)]) == urllib.parse.urlencode(
        [*params, ("recvWindow", 5000), ("timestamp", TS)])


def test_percent_encoding_rules():
    # RFC 3986 unreserved stay; space is %20 (never '+', which a form decoder reads as space).
    assert encode_query([("a", "A-z_0.9~")]) == "a=A-z_0.9~"
    assert encode_query([("a", "x y+z/=&")]) == "a=x%20y%2Bz%2F%3D%26"
    assert encode_query([("symbols", '["BTCUSDT","ETHUSDT"]')]) == "symbols=%5B%22BTCUSDT%22%2C%22ETHUSDT%22%5D"


def test_recv_window_omitted_and_decimal(creds):
    q = signed_query([("symbol", "BTCUSDT")], creds, TS, None)
    assert q.startswith(f"symbol=BTCUSDT&timestamp={TS}&signature=")
    q = signed_query([("symbol", "BTCUSDT")], creds, TS, Decimal("6000.346"))
    assert q.startswith(f"symbol=BTCUSDT&recvWindow=6000.346&timestamp={TS}&signature=")


def test_value_types(creds):
    q = encode_query([("price", Decimal("1E-7")), ("qty", Decimal("0.00100")), ("n", 3), ("flag", True),
                      ("zero", Decimal("0E-8"))])
    assert q == "price=0.0000001&qty=0.00100&n=3&flag=true&zero=0"


@pytest.mark.parametrize("bad", [
    [("price", 0.1)],                                  # float: format on the grid first
    [("timestamp", "1")],                              # added by the signer
    [("signature", "x")],
    [("recvWindow", 5000)],
    [("symbol", "A"), ("symbol", "B")],                # duplicate names
    [("price", Decimal("NaN"))],
])
def test_bad_params_refused(creds, bad):
    with pytest.raises(SigningError):
        signed_query(bad, creds, TS, 5000)


@pytest.mark.parametrize("timestamp, window", [(0, 5000), (-1, None), (True, None), (TS, 0), (TS, 60001),
                                               (TS, 1.5), (TS, True)])
def test_bad_timing_refused(creds, timestamp, window):
    with pytest.raises(SigningError):
        signed_query([], creds, timestamp, window)


def test_header(creds):
    assert creds.header() == (API_KEY_HEADER, API_KEY) == ("X-MBX-APIKEY", API_KEY)
    assert creds.key_type is KeyType.HMAC_SHA256


param_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=8).filter(
    lambda s: s not in ("timestamp", "recvWindow", "signature", "apiKey"))
param_values = st.one_of(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12),
                         st.integers(min_value=-(10**12), max_value=10**12))


@PROPERTY
@given(st.lists(st.tuples(param_names, param_values), max_size=6, unique_by=lambda p: p[0]),
       st.integers(min_value=1, max_value=2**45), st.one_of(st.none(), st.integers(1, 60000)))
def test_rest_signature_covers_exactly_the_sent_bytes(params, timestamp, window):
    """Whatever the parameters, the text before &signature= decodes to them in order, and the
    signature is the HMAC of exactly that text."""
    creds = Credentials(API_KEY, SECRET)
    sent = signed_query(params, creds, timestamp, window)
    payload, _, signature = sent.rpartition("&signature=")
    assert signature == hmac_hex(SECRET, payload)
    timing = ([("recvWindow", str(window))] if window is not None else []) + [("timestamp", str(timestamp))]
    decoded = urllib.parse.parse_qsl(payload, keep_blank_values=True, strict_parsing=True)
    assert decoded == [(k, str(v)) for k, v in params] + timing
    assert all(c.isascii() and c not in " +" for c in payload)


# --- WebSocket API --------------------------------------------------------------------------

def test_ws_api_documented_vector(creds):
    params = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC",
              "quantity": "0.01000000", "price": "52000.00"}
    signed = ws_api_params(params, creds, 1645423376532, 100)
    payload = ("apiKey=vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A&price=52000.00"
               "&quantity=0.01000000&recvWindow=100&side=SELL&symbol=BTCUSDT&timeInForce=GTC"
               "&timestamp=1645423376532&type=LIMIT")
    assert ws_api_payload(signed) == payload
    assert signed["signature"] == "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
    assert list(signed) == sorted(set(signed) - {"signature"}) + ["signature"]


def test_ws_api_subscribe_signature_sample(creds):
    sample = json.loads((SAMPLES / "ws_api" / "user_data_subscribe_signature_request.json").read_text())
    request = {"id": "uds-1", "method": "userDataStream.subscribe.signature",
               "params": ws_api_params({}, creds, 1795858200000, None)}
    assert request == sample
    # The JSON the driver sends carries ints as numbers, exactly like the sample.
    assert json.loads(json.dumps(request)) == sample


def test_ws_api_raw_utf8_not_percent_encoded(creds):
    signed = ws_api_params({"symbol": "１２３４５６", "flag": False, "qty": Decimal("0.0010")}, creds, TS, None)
    payload = f"apiKey={API_KEY}&flag=false&qty=0.0010&symbol=１２３４５６&timestamp={TS}"
    assert ws_api_payload(signed) == payload
    assert signed["signature"] == hmac_hex(SECRET, payload)
    assert signed["qty"] == "0.0010" and signed["flag"] is False and signed["timestamp"] == TS


def test_ws_api_refuses_caller_api_key_and_reserved(creds):
    with pytest.raises(SigningError):
        ws_api_params({"apiKey": "other"}, creds, TS, None)
    with pytest.raises(SigningError):
        ws_api_params({"timestamp": TS}, creds, TS, None)


@PROPERTY
@given(st.lists(st.tuples(param_names, param_values), max_size=6, unique_by=lambda p: p[0]), st.randoms())
def test_ws_api_signature_independent_of_param_order(params, rnd):
    creds = Credentials(API_KEY, SECRET)
    shuffled = list(params)
    rnd.shuffle(shuffled)
    a = ws_api_params(params, creds, TS, 5000)
    b = ws_api_params(shuffled, creds, TS, 5000)
    assert a == b
    expected = "&".join(f"{k}={v}" for k, v in sorted([*params, ("apiKey", API_KEY), ("recvWindow", 5000),
                                                      ("timestamp", TS)]))
    assert a["signature"] == hmac_hex(SECRET, expected)


# --- secrets never shown -------------------------------------------------------------------

def _assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


def test_repr_and_str_hide_secret_and_key(creds):
    signature = creds.sign("payload")
    for text in (repr(creds), str(creds), f"{creds}", f"{creds!r}", repr([creds]), repr({"c": creds})):
        _assert_hidden(text, SECRET, API_KEY, signature)
    assert repr(creds) == "Credentials(key_type=HMAC_SHA256, api_key=<set>, secret=<set>)"
    assert not hasattr(creds, "__dict__")


def test_credentials_cannot_be_pickled(creds):
    with pytest.raises(TypeError):
        pickle.dumps(creds)


def test_exceptions_never_show_secret_or_signature(creds):
    signature = signed_query([("symbol", "BTCUSDT")], creds, TS, 5000).rpartition("=")[2]
    failures = []
    for call in (
        lambda: signed_query([("price", 0.1)], creds, TS, 5000),
        lambda: signed_query([("signature", signature)], creds, TS, 5000),
        lambda: ws_api_params({"apiKey": API_KEY}, creds, TS, None),
        lambda: signed_query([], creds, -5, 5000),
        lambda: Credentials(API_KEY, SECRET + "\n"),
        lambda: Credentials(API_KEY, " " + SECRET),
        lambda: Credentials(API_KEY, ""),
        lambda: Credentials("", SECRET),
        lambda: Credentials(API_KEY, 12345),                         # type: ignore[arg-type]
        lambda: Credentials.ed25519(API_KEY, SECRET),               # a secret pasted where a PEM belongs
    ):
        with pytest.raises((SigningError, ValueError, TypeError)) as info:
            call()
        failures.append(info.value)
    for exc in failures:
        text = "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)
        _assert_hidden(text, SECRET, signature)


# --- Ed25519 ----------------------------------------------------------------------------------

# RFC 8032 section 7.1, TEST 2 (public test key): message 0x72, as a PKCS#8 PEM.
RFC8032_PEM = (
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIEzNCJso/5banbbDRuwRTg9bijGfNaumJNqM9u1PuKb7\n"
    "-----END PRIVATE KEY-----\n"
)
RFC8032_PUBLIC = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c"
RFC8032_SIGNATURE = ("92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
                     "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")


def _verify(signature_b64: str, payload: str) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    Ed25519PublicKey.from_public_bytes(bytes.fromhex(RFC8032_PUBLIC)).verify(
        base64.b64decode(signature_b64), payload.encode())   # raises InvalidSignature if wrong


def test_ed25519_without_cryptography_is_a_clear_error(monkeypatch):
    # None in sys.modules makes the import fail, as on a machine without the optional extra.
    monkeypatch.setitem(sys.modules, "cryptography.hazmat.primitives.asymmetric.ed25519", None)
    with pytest.raises(SigningError, match="need the 'cryptography' package"):
        Credentials.ed25519(API_KEY, RFC8032_PEM)


@needs_cryptography
def test_ed25519_rfc8032_vector():
    creds = Credentials.ed25519(API_KEY, RFC8032_PEM)
    assert creds.key_type is KeyType.ED25519
    assert creds.sign(b"\x72") == base64.b64encode(bytes.fromhex(RFC8032_SIGNATURE)).decode()


@needs_cryptography
def test_ed25519_ws_api_session_logon_params():
    creds = Credentials.ed25519(API_KEY, RFC8032_PEM.encode())
    signed = ws_api_params({}, creds, 1795858200000, None)
    assert ws_api_payload(signed) == f"apiKey={API_KEY}&timestamp=1795858200000"
    _verify(signed["signature"], ws_api_payload(signed))          # raw base64 in the JSON params


@needs_cryptography
def test_ed25519_rest_signature_is_percent_encoded():
    creds = Credentials.ed25519(API_KEY, RFC8032_PEM)
    sent = signed_query(ORDER, creds, TS, 5000)
    payload, _, quoted = sent.rpartition("&signature=")
    assert not set(quoted) & set("+/=")
    _verify(urllib.parse.unquote(quoted), payload)


@needs_cryptography
def test_ed25519_bad_keys_and_repr():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(SigningError, match="expected an Ed25519 private key"):
        Credentials.ed25519(API_KEY, ec_pem)
    with pytest.raises(SigningError) as info:
        Credentials.ed25519(API_KEY, RFC8032_PEM.replace("MC4C", "XX4C"))
    assert "MC4C" not in str(info.value) and info.value.__cause__ is None
    creds = Credentials.ed25519(API_KEY, RFC8032_PEM)
    _assert_hidden(repr(creds) + str(creds), "PRIVATE KEY", "MC4CAQAw", API_KEY)

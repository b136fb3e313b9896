"""The one URL parser: where to connect, what to ask for, and the Host header rule."""
from __future__ import annotations

import pytest

from dmabot.io.url import parse_target


@pytest.mark.parametrize(("url", "host_header"), [
    ("ws://h:443/ws", "h:443"),         # 443 is wss's default, not ws's
    ("wss://h:443/ws", "h"),
    ("ws://h:80/ws", "h"),
    ("wss://h:80/ws", "h:80"),
    ("http://h:443", "h:443"),
    ("https://h:443", "h"),
    ("https://h:8443", "h:8443"),
    ("ws://h/ws", "h"),
    ("wss://[::1]:9443/ws", "[::1]:9443"),
    ("wss://[::1]/ws", "[::1]"),
])
def test_host_header_names_the_port_unless_it_is_the_schemes_default(url, host_header):
    assert parse_target(url).host_header == host_header


def test_parts():
    t = parse_target("wss://stream.example.com:9443/stream?streams=a@bookTicker/b@bookTicker")
    assert (t.host, t.port, t.tls, t.target) == ("stream.example.com", 9443, True,
                                                 "/stream?streams=a@bookTicker/b@bookTicker")
    plain = parse_target("ws://127.0.0.1/ws-api/v3")
    assert (plain.host, plain.port, plain.tls, plain.target) == ("127.0.0.1", 80, False, "/ws-api/v3")
    assert parse_target("https://api.example.com").target == "/"
    assert parse_target("wss://[::1]:1/ws").host == "::1"
    assert parse_target("WSS://H:443/ws").url == "wss://h:443/ws"


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://h/ws", "expected a"),
    ("h:443/ws", "expected a"),
    ("wss:///ws", "no host"),
    ("wss://:443/ws", "no host"),
    ("wss://h:0/ws", "bad port"),
    ("wss://h:65536/ws", "bad port"),
    ("wss://h:abc/ws", "bad port"),
    ("wss://h:/ws", "bad port"),
    ("wss://user:pw@h/ws", "user info"),
    ("wss://h/ws#frag", "fragment"),
    ("wss://h/ws#", "fragment"),
    ("wss://a b/ws", "no spaces"),
    ("wss://h/ws\r\nX-Injected: 1", "no spaces"),   # would split the request's head
])
def test_refused_with_the_url_named(url, why):
    with pytest.raises(ValueError, match=why) as raised:
        parse_target(url)
    assert repr(url) in str(raised.value)


def test_schemes_can_be_narrowed():
    with pytest.raises(ValueError, match="expected a ws:// or wss:// URL, got 'https://h'"):
        parse_target("https://h", ("ws", "wss"))

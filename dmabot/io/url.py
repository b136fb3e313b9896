"""The one parser of the URLs the engine connects to: ws, wss, http and https.

A `Target` is where to connect (host, port, TLS or not), what to ask for (path and query) and
the Host header to send. The Host header names the port only when it is not the scheme's
default (80 for ws and http, 443 for wss and https): `ws://h:443` is `h:443`, `wss://h:443`
is `h`. IPv6 literals are written in brackets there, as in the URL.

Anything a connection could not honestly use is refused with a ValueError naming the URL:
another scheme, spaces or control characters, no host, a port that is not a number in
1..65535, user info (credentials have no place in a URL here), a fragment.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"ws": 80, "http": 80, "wss": 443, "https": 443}
TLS_SCHEMES = frozenset(("wss", "https"))


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str           # as in the URL, without brackets; what TLS checks the certificate for
    port: int
    target: str         # path and query, "/" at least: the request target

    @property
    def tls(self) -> bool:
        return self.scheme in TLS_SCHEMES

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        """The URL again, with the port always written (for logs)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.target}"


def parse_target(url: str, schemes: tuple[str, ...] = ("ws", "wss", "http", "https")) -> Target:
    """`url` as a Target; ValueError (naming the URL) for anything else than
    scheme://host[:port][/path][?query] with one of `schemes`."""
    if any(c.isspace() or not c.isprintable() for c in url):
        raise ValueError(f"a URL has no spaces or control characters, got {url!r}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in schemes:
        raise ValueError(f"expected a {' or '.join(s + '://' for s in schemes)} URL, got {url!r}")
    if "@" in parts.netloc:
        raise ValueError(f"user info is not allowed in a URL here, got {url!r}")
    if parts.fragment or url.endswith("#"):
        raise ValueError(f"a fragment is not allowed in a URL here, got {url!r}")
    host = parts.hostname
    if not host:
        raise ValueError(f"no host in {url!r}")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"bad port in {url!r}") from None
    if port is None:
        if parts.netloc.endswith(":"):
            raise ValueError(f"bad port in {url!r}")
        port = DEFAULT_PORTS[scheme]
    elif port == 0:
        raise ValueError(f"bad port in {url!r}")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Target(scheme, host, port, target)

"""`store.url` -> where and how to connect to Redis: redis://, rediss:// (TLS) or unix://.

The forms are redis-py's: `redis://[[user]:password@]host[:port][/db]`, `rediss://...` with
optional `ssl_cert_reqs` (required | optional | none), `ssl_ca_certs`, `ssl_certfile`,
`ssl_keyfile`, `ssl_check_hostname`, and `unix:///path/to.sock?db=0&password=...`. Any other
query parameter is refused when the config loads, rather than silently ignored.
TLS verifies the server's certificate and name unless the URL says otherwise.
"""
from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import parse_qs, unquote, urlsplit

from .resp import Word

SCHEMES = ("redis", "rediss", "unix")
COMMON_PARAMS = {"db", "username", "password"}
TLS_PARAMS = {"ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname"}
CERT_REQS = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class RedisAddress:
    host: str = "127.0.0.1"
    port: int = 6379
    socket_path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: ssl.SSLContext | None = field(default=None, repr=False)

    def handshake(self) -> list[list[Word]]:
        """Commands a fresh connection sends before any other (AUTH, then SELECT)."""
        commands: list[list[Word]] = []
        if self.password is not None:
            commands.append(["AUTH", self.username, self.password] if self.username else ["AUTH", self.password])
        if self.db:
            commands.append(["SELECT", self.db])
        return commands

    async def connect(self, protocol: Callable[[], asyncio.Protocol]) -> asyncio.BaseTransport:
        loop = asyncio.get_running_loop()
        if self.socket_path is not None:
            transport, _ = await loop.create_unix_connection(protocol, self.socket_path)
        else:
            transport, _ = await loop.create_connection(protocol, self.host, self.port, ssl=self.tls)
        return transport


def parse_redis_url(url: str) -> RedisAddress:
    """Raises ValueError, with a message fit for a config error, on anything it cannot honour."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    query = {name: values[-1] for name, values in parse_qs(parts.query, keep_blank_values=True).items()}
    allowed = COMMON_PARAMS | (TLS_PARAMS if parts.scheme == "rediss" else set())
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise ValueError(f"unsupported URL parameter(s) {', '.join(unknown)} (supported: {', '.join(sorted(allowed))})")
    username = unquote(parts.username) if parts.username else query.get("username") or None
    password = unquote(parts.password) if parts.password is not None else query.get("password")
    common = dict(db=_db(parts.path if parts.scheme != "unix" else "", query.get("db")),
                  username=username, password=password)
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("a unix:// URL needs the socket's path")
        return RedisAddress(socket_path=unquote(parts.path), **common)
    if not parts.hostname:
        raise ValueError("needs a host")
    port = parts.port or 6379   # .port raises ValueError on a bad port
    tls = _tls_context(query) if parts.scheme == "rediss" else None
    return RedisAddress(host=parts.hostname, port=port, tls=tls, **common)


def _db(path: str, query_db: str | None) -> int:
    text = query_db if query_db is not None else path.strip("/") or "0"
    if not text.isdigit():
        raise ValueError(f"the database must be a number, not {text!r}")
    return int(text)


def _tls_context(query: dict[str, str]) -> ssl.SSLContext:
    reqs = query.get("ssl_cert_reqs", "required").lower()
    if reqs not in CERT_REQS:
        raise ValueError(f"ssl_cert_reqs must be one of {', '.join(CERT_REQS)}")
    try:
        context = ssl.create_default_context(cafile=query.get("ssl_ca_certs") or None)
        context.check_hostname = CERT_REQS[reqs] != ssl.CERT_NONE and _flag(query.get("ssl_check_hostname", "true"))
        context.verify_mode = CERT_REQS[reqs]
        if query.get("ssl_certfile"):
            context.load_cert_chain(query["ssl_certfile"], query.get("ssl_keyfile") or None)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"cannot set up TLS: {exc}") from None
    return context


def _flag(text: str) -> bool:
    if text.lower() in TRUE_WORDS:
        return True
    if text.lower() in FALSE_WORDS:
        return False
    raise ValueError(f"ssl_check_hostname must be true or false, not {text!r}")

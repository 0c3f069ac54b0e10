"""`store.url` -> where and how to connect to Redis: one node, a Sentinel set or a Cluster.

One node: redis-py's forms, `redis://[[user]:password@]host[:port][/db]`, `rediss://...` with
optional `ssl_cert_reqs` (required | optional | none), `ssl_ca_certs`, `ssl_certfile`,
`ssl_keyfile`, `ssl_check_hostname`, and `unix:///path/to.sock?db=0&password=...`.
Sentinel: `redis+sentinel://[user:password@]host:port[,host:port...]/service_name[/db]`; the
credentials are the data nodes', `sentinel_username` / `sentinel_password` (query) the
sentinels' own when they have any. Cluster: `redis+cluster://[user:password@]host:port[,...]`
(seed nodes; a cluster has database 0 only). `rediss+sentinel` / `rediss+cluster` use TLS, with
the same TLS parameters, towards every node and sentinel. Any other query parameter is refused
when the config loads, rather than silently ignored. TLS verifies the server's certificate and
name unless the URL says otherwise.
"""
from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field, replace
from typing import Callable, ClassVar
from urllib.parse import parse_qs, unquote, urlsplit

from .resp import Word

SINGLE_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEMES = ("redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster")
TLS_SCHEMES = ("rediss", "rediss+sentinel", "rediss+cluster")
COMMON_PARAMS = {"db", "username", "password"}
SENTINEL_PARAMS = {"sentinel_username", "sentinel_password"}
TLS_PARAMS = {"ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname"}
CERT_REQS = {"required": ssl.CERT_REQUIRED, "optional": ssl.CERT_OPTIONAL, "none": ssl.CERT_NONE}
TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
DEFAULT_SENTINEL_PORT = 26379


@dataclass(frozen=True)
class RedisAddress:
    """One Redis node. It is also its own locator (`channel.Locator`): it is always there."""

    host: str = "127.0.0.1"
    port: int = 6379
    socket_path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: ssl.SSLContext | None = field(default=None, repr=False)
    verifies_role: ClassVar[bool] = False   # a node named in the URL is used as it is

    async def locate(self) -> "RedisAddress":
        return self

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

    def at(self, host: str, port: int) -> "RedisAddress":
        """The same credentials, database and TLS at another node (one Sentinel or Cluster named)."""
        return replace(self, host=host, port=port, socket_path=None)


@dataclass(frozen=True)
class SentinelAddress:
    """Sentinels to ask for `service`'s primary; `primary` holds the data nodes' credentials,
    database and TLS (its host and port are filled in by discovery)."""

    sentinels: tuple[RedisAddress, ...]
    service: str
    primary: RedisAddress


@dataclass(frozen=True)
class ClusterAddress:
    """Seed nodes of a Redis Cluster; every node found through them shares their credentials."""

    seeds: tuple[RedisAddress, ...]


StoreAddress = RedisAddress | SentinelAddress | ClusterAddress


def parse_redis_url(url: str) -> StoreAddress:
    """Raises ValueError, with a message fit for a config error, on anything it cannot honour."""
    parts = urlsplit(url)
    scheme = parts.scheme
    if scheme not in SINGLE_SCHEMES + SENTINEL_SCHEMES + CLUSTER_SCHEMES:
        raise ValueError("must be a redis://, rediss://, unix://, redis+sentinel:// or redis+cluster:// URL")
    query = {name: values[-1] for name, values in parse_qs(parts.query, keep_blank_values=True).items()}
    allowed = COMMON_PARAMS | (TLS_PARAMS if scheme in TLS_SCHEMES else set()) | (
        SENTINEL_PARAMS if scheme in SENTINEL_SCHEMES else set())
    unknown = sorted(set(query) - allowed)
    if unknown:
        raise ValueError(f"unsupported URL parameter(s) {', '.join(unknown)} (supported: {', '.join(sorted(allowed))})")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    username = unquote(user) if user else query.get("username") or None
    secret = unquote(password) if ":" in userinfo else query.get("password")
    tls = _tls_context(query) if scheme in TLS_SCHEMES else None
    if scheme == "unix":
        if not parts.path:
            raise ValueError("a unix:// URL needs the socket's path")
        return RedisAddress(socket_path=unquote(parts.path), db=_db("", query.get("db")),
                            username=username, password=secret)
    if scheme in SENTINEL_SCHEMES:
        return _sentinel(hosts, parts.path, query, RedisAddress(username=username, password=secret, tls=tls))
    if scheme in CLUSTER_SCHEMES:
        if _db(parts.path, query.get("db")) != 0:
            raise ValueError("a Redis Cluster has database 0 only")
        template = RedisAddress(username=username, password=secret, tls=tls)
        return ClusterAddress(tuple(template.at(*node) for node in _nodes(hosts, 6379)))
    if "," in hosts:
        raise ValueError("names several hosts: use redis+sentinel:// or redis+cluster://")
    [(host, port)] = _nodes(hosts, 6379)
    return RedisAddress(host=host, port=port, tls=tls, db=_db(parts.path, query.get("db")),
                        username=username, password=secret)


def _sentinel(hosts: str, path: str, query: dict[str, str], primary: RedisAddress) -> SentinelAddress:
    service, _, db = path.strip("/").partition("/")
    if not service:
        raise ValueError("a redis+sentinel:// URL needs the service name: .../service_name[/db]")
    sentinel = RedisAddress(username=query.get("sentinel_username") or None,
                            password=query.get("sentinel_password"), tls=primary.tls)
    return SentinelAddress(tuple(sentinel.at(*node) for node in _nodes(hosts, DEFAULT_SENTINEL_PORT)),
                           unquote(service), replace(primary, db=_db(db, query.get("db"))))


def _nodes(hosts: str, default_port: int) -> list[tuple[str, int]]:
    """`host[:port],...` (IPv6 in brackets) -> (host, port) pairs."""
    nodes = []
    for text in hosts.split(","):
        node = urlsplit(f"//{text}")
        if not node.hostname:
            raise ValueError("needs a host" if not text else f"{text!r} is not host[:port]")
        nodes.append((node.hostname, node.port or default_port))  # .port raises on a bad port
    return nodes


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

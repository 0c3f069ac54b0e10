"""Which forward proxy, if any, the upstream connections go through: HTTP_PROXY / HTTPS_PROXY /
NO_PROXY as curl, requests and aiohttp read them (urllib's parsing, so all of them agree).

`http://` upstreams are sent to the proxy in absolute form (`GET http://ddm/... HTTP/1.1`);
`https://` upstreams get a `CONNECT host:port` tunnel with TLS to DDM inside it, so the proxy
never sees the gateway's credentials. `upstream.trust_env: false` ignores the environment.
"""
from __future__ import annotations

import base64
import urllib.request
from typing import NamedTuple
from urllib.parse import unquote, urlsplit


class ForwardProxy(NamedTuple):
    host: str
    port: int
    authorization: str | None    # a Proxy-Authorization value, from the proxy URL's user:password

    def __repr__(self) -> str:   # the authorization is a credential
        return f"ForwardProxy({self.host!r}, {self.port})"


def proxy_for(scheme: str, host: str, port: int) -> ForwardProxy | None:
    """The proxy for scheme://host:port from the environment, or None (none set, or NO_PROXY)."""
    proxies = urllib.request.getproxies_environment()
    url = proxies.get(scheme)
    if not url or urllib.request.proxy_bypass_environment(f"{host}:{port}", proxies) \
            or urllib.request.proxy_bypass_environment(host, proxies):
        return None
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"{scheme.upper()}_PROXY: only http:// proxies are supported, not {parts.scheme!r}")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    return ForwardProxy(parts.hostname, parts.port or 80, authorization)

"""A whole gateway stack for end-to-end tests: simulator + gateway, real servers on 127.0.0.1."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from signer import SignableRequest, sign

from .harness import OffsetClock, ServerThread, config_data


@dataclass
class Stack:
    servers: ServerThread
    sim_url: str
    url: str
    clock: OffsetClock
    config: Any
    apps: list[web.Application] = field(default_factory=list)


def start_stack(tmp_dir: str, *, store_url: str | None = None, sim_kwargs: dict[str, Any] | None = None,
                upstream_auth: dict[str, Any] | None = None, servers: ServerThread | None = None,
                sim_url: str | None = None, **limits: int) -> Stack:
    from ddmsim import create_app as create_sim
    from gateway.http.app import create_app
    from gateway.config import parse_config

    servers = servers or ServerThread()
    if sim_url is None:
        sim_port = servers.serve(create_sim(job_seconds=0, **(sim_kwargs or {})))
        sim_url = f"http://127.0.0.1:{sim_port}"
    config = parse_config(config_data(state_dir=tmp_dir, upstream_url=sim_url, store_url=store_url,
                                      upstream_auth=upstream_auth, **limits))
    clock = OffsetClock()
    app = create_app(config, clock=clock)
    port = servers.serve(app)
    return Stack(servers, sim_url, f"http://127.0.0.1:{port}", clock, config, [app])


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes | None = None,
         ak: str | None = None, sk: str | None = None, algorithm: str = "SDK-HMAC-SHA256",
         now: datetime | None = None) -> Reply:
    """One real HTTP request; AK/SK-signed with our signer when ak/sk are given."""
    headers = dict(headers or {})
    if body is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "application/json;charset=UTF-8"
    if ak and sk:
        parts = urlsplit(url)
        lowered = {k.lower(): v for k, v in headers.items()}
        lowered["host"] = parts.netloc
        req = SignableRequest(method, parts.path, parts.query, lowered, body or b"")
        headers.update(sign(req, ak, sk, now=now or datetime.now(timezone.utc), algorithm=algorithm,
                            region="cn-north-4", service="ddm"))
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Reply(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as err:
        return Reply(err.code, dict(err.headers.items()), err.read())

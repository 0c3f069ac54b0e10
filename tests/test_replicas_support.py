"""Helpers (no tests) for the multi-replica tests: several gateways sharing one Redis.

Two flavours: `start_replicas` serves N gateway apps in this process on one ServerThread (quick,
and they share an OffsetClock so a test can move time); `GatewayProcesses` runs N real
`ddm-gateway serve` processes, which is what issue #5 asks for when it says "replicas". Either
way every replica has its own store client, breaker, fallback and revocation cache, and they
share the state_dir so a token or temporary key issued by one verifies on all.
"""
from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

import aiohttp
import yaml
from aiohttp import web

from signer import SignableRequest, sign

from .conftest import free_port, wait_for_port
from .harness import ACME, ISSUED_TOKENS, OTHER_DOMAIN, TEST_LOG_DIR, OffsetClock, ServerThread, config_data
from .stack import Reply, http

INSTANCES_PATH = "/v1/0503ddae897000fed2f78c00909158a4/instances"
# harness.config_data hands out the shared ACME dict itself, and test_ops mutates it (bob loses
# his group); modules are imported before any test runs, so this copy is still the original.
PRISTINE_DOMAINS = copy.deepcopy([ACME, OTHER_DOMAIN])


def replica_config(state_dir: str, upstream_url: str, store_url: str | None, *, on_failure: str = "open",
                   replicas: int = 1, limits: dict[str, Any] | None = None, store_timeout_ms: int = 50,
                   trusted_proxies: Sequence[str] = (),
                   adjust: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The tests' identities (harness.config_data) with an explicit store section and limits;
    no store URL means the in-process store (one replica, on the gateway's movable clock).
    `adjust` edits the finished data in place (extra groups, policies, sections)."""
    data = config_data(state_dir=state_dir, upstream_url=upstream_url)
    data["iam"]["domains"] = copy.deepcopy(PRISTINE_DOMAINS)
    if store_url is not None:
        data["store"] = {"url": store_url, "on_failure": on_failure, "replicas": replicas,
                         "timeout_ms": store_timeout_ms}
    data["limits"].update(limits or {})
    if trusted_proxies:
        data["listen"]["trusted_proxies"] = list(trusted_proxies)
    if adjust is not None:
        adjust(data)
    return data


@dataclass
class Replicas:
    """N in-process gateways (and their admin apps) behind one simulator."""

    servers: ServerThread
    urls: list[str]
    admin_urls: list[str]
    clock: OffsetClock
    apps: list[web.Application] = field(default_factory=list)

    def close(self) -> None:
        self.servers.close()


def start_replicas(tmp_dir: str, count: int, store_url: str | None, **options: Any) -> Replicas:
    """`options` go to replica_config (on_failure, replicas, limits, trusted_proxies)."""
    from ddmsim import create_app as create_sim
    from gateway.http.admin import create_admin_app
    from gateway.http.app import create_app
    from gateway.config import parse_config

    servers = ServerThread()
    sim_url = f"http://127.0.0.1:{servers.serve(create_sim(job_seconds=0))}"
    config = parse_config(replica_config(tmp_dir, sim_url, store_url, **options))
    clock = OffsetClock()
    replicas = Replicas(servers, [], [], clock)
    for _ in range(count):
        app = create_app(config, clock=clock)
        replicas.urls.append(f"http://127.0.0.1:{servers.serve(app)}")
        replicas.admin_urls.append(f"http://127.0.0.1:{servers.serve(create_admin_app(app))}")
        replicas.apps.append(app)
    return replicas


class GatewayProcesses:
    """N `ddm-gateway serve --config` processes; each has its own config file and ports."""

    def __init__(self, tmp_dir: Path, count: int, store_url: str, upstream_url: str, **options: Any) -> None:
        self.urls: list[str] = []
        self.admin_urls: list[str] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        binary = Path(sys.executable).with_name("ddm-gateway")
        try:
            for index in range(count):
                self._spawn(binary, tmp_dir, index, store_url, upstream_url, options)
            for url in self.admin_urls:
                wait_until_ready(url)
        except BaseException:
            self.close()
            raise

    def _spawn(self, binary: Path, tmp_dir: Path, index: int, store_url: str, upstream_url: str,
               options: dict[str, Any]) -> None:
        data = replica_config(str(tmp_dir / "state"), upstream_url, store_url, **options)
        port, admin_port = free_port(), free_port()
        data["listen"]["port"], data["admin"]["port"] = port, admin_port
        data["logging"] = {"access_log": str(TEST_LOG_DIR / f"access-replica{index}.log"),
                           "audit_log": str(TEST_LOG_DIR / f"audit-replica{index}.log")}
        path = tmp_dir / f"replica{index}.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        output = open(TEST_LOG_DIR / f"replica{index}.out", "ab")
        self._procs.append(subprocess.Popen([str(binary), "serve", "--config", str(path)],
                                            stdout=output, stderr=subprocess.STDOUT))
        output.close()
        self.urls.append(f"http://127.0.0.1:{port}")
        self.admin_urls.append(f"http://127.0.0.1:{admin_port}")
        wait_for_port(port, timeout_s=20)

    def close(self) -> None:
        for proc in self._procs:
            proc.terminate()
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._procs.clear()


def readyz(admin_url: str) -> tuple[int, dict[str, Any]]:
    reply = http("GET", admin_url + "/readyz")
    return reply.status, reply.json()


def wait_until_ready(admin_url: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if readyz(admin_url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{admin_url} not ready after {timeout_s}s")


def login(url: str, user: str, password: str) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "password": password, "domain": {"name": "acme"}}}},
        "scope": {"project": {"name": "cn-north-4", "domain": {"name": "acme"}}}}}
    reply = http("POST", url + "/v3/auth/tokens?nocatalog=true", body=json.dumps(body).encode())
    assert reply.status == 201, reply.body
    token = reply.headers["X-Subject-Token"]
    ISSUED_TOKENS.append(token)
    return token


def signed_headers(url: str, ak: str, sk: str, method: str = "GET") -> dict[str, str]:
    """SDK-HMAC-SHA256 headers for a bodiless request to `url`, signed now."""
    parts = urlsplit(url)
    request = SignableRequest(method, parts.path, parts.query, {"host": parts.netloc}, b"")
    return sign(request, ak, sk, now=datetime.now(timezone.utc), algorithm="SDK-HMAC-SHA256",
                region="cn-north-4", service="ddm")


async def _send_all(targets: Sequence[tuple[str, str, str]]) -> list[Reply]:
    """Every (url, ak, sk) request at once, each on its own connection."""
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async def one(url: str, ak: str, sk: str) -> Reply:
            async with session.get(url, headers=signed_headers(url, ak, sk)) as response:
                return Reply(response.status, dict(response.headers.items()), await response.read())
        return list(await asyncio.gather(*(one(*target) for target in targets)))


def send_concurrently(targets: Sequence[tuple[str, str, str]]) -> list[Reply]:
    """Fires every request together from a fresh event loop; replies in the order given."""
    return asyncio.run(_send_all(targets))

"""Real servers on 127.0.0.1 for tests that drive synchronous clients (the official SDKs).

`ServerThread` runs one event loop in a background thread and serves aiohttp apps on it; tests
talk to them over real sockets. `OffsetClock` lets a test move the gateway's clock forward
(token expiry, temporary credentials) while clients keep signing with real time.
"""
from __future__ import annotations

import asyncio
import copy
import tempfile
import threading
import time
from pathlib import Path
from concurrent.futures import Future
from typing import Any, Awaitable, TypeVar

from aiohttp import web

from gateway.http.connections import EdgeRunner

T = TypeVar("T")

# Every gateway started by the tests logs here; test_zz_no_secrets greps it at the end.
TEST_LOG_DIR = Path(tempfile.mkdtemp(prefix="ddmgw-test-logs-"))
ISSUED_TOKENS: list[str] = []   # tokens and temporary secrets the tests obtained, for that grep


class OffsetClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class ServerThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="servers", daemon=True)
        self._thread.start()
        self._runners: list[web.AppRunner] = []

    def run(self, coro: Awaitable[T], timeout: float = 30.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return future.result(timeout)

    def serve(self, app: web.Application, port: int = 0) -> int:
        """Starts `app` on 127.0.0.1 and returns its port."""
        async def start() -> int:
            runner = EdgeRunner(app, access_log=None, shutdown_timeout=2, handler_cancellation=True)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", port)
            await site.start()
            self._runners.append(runner)
            return int(runner.addresses[0][1])
        return self.run(start())

    def stop_app(self, app: web.Application) -> None:
        for runner in list(self._runners):
            if runner.app is app:
                self.run(runner.cleanup())
                self._runners.remove(runner)

    def close(self) -> None:
        for runner in reversed(self._runners):
            self.run(runner.cleanup())
        self._runners.clear()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)


def config_data(*, state_dir: str, upstream_url: str | None = None, store_url: str | None = None,
                     upstream_auth: dict[str, Any] | None = None, **limits: int) -> dict[str, Any]:
    """The tests' identities: domain acme (owner password acme-root-pass) with alice (dba),
    bob (readers), carol (guarded: FullAccess + a Deny on instance deletion) and dave (no group)."""
    data: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": 8080},
        "admin": {"host": "127.0.0.1", "port": 8081},
        "region": "cn-north-4",
        "limits": {"per_user_per_minute": 60, "global_per_minute": 8000, **limits},
        "tokens": {"ttl_s": 3600},
        "state_dir": state_dir,
        "iam": {"domains": copy.deepcopy([ACME, OTHER_DOMAIN])},
        "logging": {"access_log": str(TEST_LOG_DIR / "access.log"),
                    "audit_log": str(TEST_LOG_DIR / "audit.log"),
                    "flush_interval_s": 0.02},
    }
    if upstream_url is not None:
        data["upstream"] = {"url": upstream_url, "auth": upstream_auth or {"mode": "none"},
                            "connect_timeout_s": 1, "timeout_s": 5}
    if store_url is not None:
        data["store"] = {"url": store_url, "on_failure": "open"}
    return data


PROJECT_ID = "0503ddae897000fed2f78c00909158a4"
OTHER_PROJECT_ID = "05041fea8a8025662f4ac00927982f3e"
FOREIGN_PROJECT_ID = "0999aaaa897000fed2f78c00909158ff"
ALICE_AK, ALICE_SK = "ALICEAK0000000000001", "alice-secret-key-0000000000000000000001"
BOB_AK, BOB_SK = "BOBAK000000000000001", "bob-secret-key-00000000000000000000001"
CAROL_AK, CAROL_SK = "CAROLAK0000000000001", "carol-secret-key-000000000000000000001"
DAVE_AK, DAVE_SK = "DAVEAK00000000000001", "dave-secret-key-0000000000000000000001"
MALLORY_AK, MALLORY_SK = "MALLORYAK00000000001", "mallory-secret-key-00000000000000000001"

ACME: dict[str, Any] = {
    "id": "0a1b2c3d4e5f40718293a4b5c6d7e8f9", "name": "acme", "password": "acme-root-pass",
    "projects": [{"id": PROJECT_ID, "name": "cn-north-4"}, {"id": OTHER_PROJECT_ID, "name": "cn-east-2"}],
    "groups": [
        {"name": "dba", "grants": [{"policy": "DDM FullAccess", "projects": ["cn-north-4"]}]},
        {"name": "readers", "grants": [{"policy": "DDM ReadOnlyAccess"}]},
        {"name": "guarded", "grants": [{"policy": "DDM FullAccess"}, {"policy": "no-instance-delete"}]},
    ],
    "policies": [{"name": "no-instance-delete", "document": {
        "Version": "1.1", "Statement": [{"Effect": "Deny", "Action": ["ddm:instance:delete"]}]}}],
    "users": [
        {"id": "7f2e0c5a9b8d4e6f8a1b2c3d4e5f6a7b", "name": "alice", "password": "alice-pass-1",
         "groups": ["dba"], "access_keys": [{"ak": ALICE_AK, "sk": ALICE_SK}]},
        {"id": "1c2d3e4f5a6b4c7d8e9f0a1b2c3d4e5f", "name": "bob", "password": "bob-pass-1",
         "groups": ["readers"], "access_keys": [{"ak": BOB_AK, "sk": BOB_SK}]},
        {"id": "2d3e4f5a6b7c4d8e9f0a1b2c3d4e5f60", "name": "carol", "password": "carol-pass-1",
         "groups": ["guarded"], "access_keys": [{"ak": CAROL_AK, "sk": CAROL_SK}]},
        {"id": "3e4f5a6b7c8d4e9f0a1b2c3d4e5f6071", "name": "dave", "password": "dave-pass-1",
         "groups": [], "access_keys": [{"ak": DAVE_AK, "sk": DAVE_SK}]},
    ],
}
OTHER_DOMAIN: dict[str, Any] = {
    "id": "9f8e7d6c5b4a40398271605f4e3d2c1b", "name": "globex", "password": "globex-root-pass",
    "projects": [{"id": FOREIGN_PROJECT_ID, "name": "cn-north-4"}],
    "groups": [{"name": "admins", "grants": [{"policy": "DDM FullAccess"}]}],
    "users": [{"id": "4f5a6b7c8d9e4f0a1b2c3d4e5f607182", "name": "mallory", "password": "mallory-pass-1",
               "groups": ["admins"], "access_keys": [{"ak": MALLORY_AK, "sk": MALLORY_SK}]}],
}

"""Shared fixtures: real servers on loopback, never mocks.

`redis_server` starts a real `redis-server` on a free port once per test session. When the binary
is missing it fails loudly under CI (CI=true) and skips only on a developer machine.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from .redis_ha import ClusterSet, SentinelSet


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s}s")


@dataclass
class RedisServer:
    """A running redis-server process; `stop()`/`start()` let tests kill and revive it."""

    port: int
    workdir: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server not on PATH"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.workdir, "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed; .ci/run must install it")
        pytest.skip("redis-server is not installed")
    with tempfile.TemporaryDirectory(prefix="ddmgw-redis-") as workdir:
        server = RedisServer(port=free_port(), workdir=workdir)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The session's Redis, flushed before each test so tests do not see each other's keys."""
    import redis

    if redis_server.process is None:  # a previous test killed it and did not revive it
        redis_server.start()
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture(scope="session", autouse=True)
def gateway_log_file() -> Iterator[None]:
    """Everything the gateway logs through `logging` during the run also lands in the test log
    directory, so test_zz_no_secrets can prove no secret was ever logged."""
    import logging

    from .harness import TEST_LOG_DIR

    handler = logging.FileHandler(TEST_LOG_DIR / "app.log", encoding="utf-8")
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
        handler.close()


@pytest.fixture(scope="session")
def sentinel_set() -> Iterator["SentinelSet"]:
    """A Sentinel-managed primary and replica that no test fails over (tests/redis_ha.py)."""
    from .redis_ha import running_sentinels

    with running_sentinels() as sentinels:
        yield sentinels


@pytest.fixture
def own_sentinels() -> Iterator["SentinelSet"]:
    """A Sentinel set of the test's own, for tests that fail it over."""
    from .redis_ha import running_sentinels

    with running_sentinels() as sentinels:
        yield sentinels


@pytest.fixture
def sentinel_url(sentinel_set: "SentinelSet") -> str:
    """The session's Sentinel set, its primary flushed before each test."""
    client = sentinel_set.primary().client()
    try:
        client.flushall()
    finally:
        client.close()
    return sentinel_set.url


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator["ClusterSet"]:
    """A 3-primary Redis Cluster (tests/redis_ha.py) for the tests that do not kill its nodes."""
    from .redis_ha import running_cluster

    with running_cluster() as cluster:
        yield cluster


@pytest.fixture
def cluster_url(redis_cluster: "ClusterSet") -> str:
    redis_cluster.flush()
    return redis_cluster.url

"""Real highly available Redis for the tests: a Sentinel set and a 3-primary Cluster.

Everything runs on 127.0.0.1, on free ports, in a temporary directory that is removed with it;
the binaries are the ones CI installs with redis-server (`redis-server --sentinel` is Sentinel,
`redis-cli --cluster create` builds the Cluster). Timings are shortened so a failover takes
about a second: `down-after-milliseconds` 400, `failover-timeout` 2000, `cluster-node-timeout` 1000.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pytest
import redis

SERVICE = "mymaster"
DOWN_AFTER_MS = 400


def require_binaries(*names: str) -> None:
    """Fails under CI (CI=true), skips on a developer machine, when a binary is missing."""
    missing = [name for name in names if shutil.which(name) is None]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{', '.join(missing)} not installed; .ci/run must install redis-server")
        pytest.skip(f"{', '.join(missing)} not installed")


def free_low_port() -> int:
    """A free port whose cluster bus port (+10000) is free and in range too."""
    for _ in range(200):
        port = random.randrange(20000, 30000)
        if _bindable(port) and _bindable(port + 10000):
            return port
    raise RuntimeError("no free port pair found")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what}: not after {timeout_s}s")


@dataclass
class Node:
    """One redis-server process (data node or sentinel) that tests may kill, stop and resume."""

    port: int
    workdir: Path
    args: list[str]
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = open(self.workdir / "redis.log", "ab")
        self.process = subprocess.Popen([shutil.which("redis-server") or "redis-server", *self.args],
                                        cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_until(self.answers, 10, f"redis on {self.port}")

    def answers(self) -> bool:
        client = self.client()
        try:
            return bool(client.ping())
        finally:
            client.close()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, single_connection_client=True)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def pause(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)


def data_node(workdir: Path, *extra: str) -> Node:
    port = free_low_port()
    # A replica is in sync at once, not after the default 5 s wait for more replicas to join.
    return Node(port, workdir, ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", str(workdir), "--repl-diskless-sync-delay", "0", *extra])


@dataclass
class SentinelSet:
    """A primary, one replica and three sentinels (quorum 2) watching them as `mymaster`."""

    root: Path
    nodes: list[Node] = field(default_factory=list)
    sentinels: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def start(self) -> "SentinelSet":
        primary = data_node(self.root / "n0")
        primary.start()
        replica = data_node(self.root / "n1", "--replicaof", "127.0.0.1", str(primary.port))
        replica.start()
        self.nodes = [primary, replica]
        for index in range(3):
            port = free_low_port()
            workdir = self.root / f"s{index}"
            workdir.mkdir(parents=True)
            (workdir / "sentinel.conf").write_text(
                f"port {port}\nbind 127.0.0.1\ndir {workdir}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {primary.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
                f"sentinel failover-timeout {SERVICE} 2000\nsentinel parallel-syncs {SERVICE} 1\n")
            sentinel = Node(port, workdir, [str(workdir / "sentinel.conf"), "--sentinel"])
            sentinel.start()
            self.sentinels.append(sentinel)
        self.wait_settled()
        return self

    def wait_settled(self, timeout_s: float = 20.0) -> None:
        """Every sentinel knows the others and the replica, and the replica is in sync."""
        def in_sync() -> bool:
            client = self.replica().client()
            try:
                return client.info("replication")["master_link_status"] == "up"
            finally:
                client.close()

        def settled() -> bool:
            for sentinel in self.sentinels:
                client = sentinel.client()
                try:
                    if len(client.sentinel_sentinels(SERVICE)) != 2:
                        return False
                    replicas = client.sentinel_slaves(SERVICE)
                    if not any("s_down" not in r["flags"] and "disconnected" not in r["flags"] for r in replicas):
                        return False
                finally:
                    client.close()
            return in_sync()
        wait_until(settled, timeout_s, "sentinel set settled")

    def primary_port(self) -> int:
        client = self.sentinels[0].client()
        try:
            return int(client.sentinel_get_master_addr_by_name(SERVICE)[1])
        finally:
            client.close()

    def primary(self) -> Node:
        port = self.primary_port()
        return next(node for node in self.nodes if node.port == port)

    def replica(self) -> Node:
        port = self.primary_port()
        return next(node for node in self.nodes if node.port != port)

    def stop(self) -> None:
        for node in self.sentinels + self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.resume()
            node.kill()


@dataclass
class ClusterSet:
    """Three primaries holding all 16384 slots, each with `replicas` replicas."""

    root: Path
    replicas: int = 0
    nodes: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> "ClusterSet":
        for index in range(3 * (1 + self.replicas)):
            node = data_node(self.root / f"c{index}", "--cluster-enabled", "yes", "--cluster-config-file",
                             "nodes.conf", "--cluster-node-timeout", "1000")
            node.start()
            self.nodes.append(node)
        subprocess.run([shutil.which("redis-cli") or "redis-cli", "--cluster", "create",
                        *(f"127.0.0.1:{n.port}" for n in self.nodes), "--cluster-replicas", str(self.replicas),
                        "--cluster-yes"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        wait_until(self.healthy, 20, "cluster state ok")
        return self

    def live(self) -> list[Node]:
        return [node for node in self.nodes if node.process is not None]

    def healthy(self) -> bool:
        """Every live node sees all slots served (and, with replicas, every replica in sync)."""
        for node in self.live():
            client = node.client()
            try:
                if client.cluster("INFO").get("cluster_state") != "ok":
                    return False
            finally:
                client.close()
        return True

    def owner_of(self, slot: int) -> Node:
        client = self.live()[0].client()
        try:
            for first, last, primary, *_ in client.execute_command("CLUSTER SLOTS"):
                if first <= slot <= last:
                    return next(n for n in self.nodes if n.port == int(primary[1]))
        finally:
            client.close()
        raise LookupError(slot)

    def flush(self) -> None:
        for node in self.nodes:
            client = node.client()
            try:
                client.flushall()
            finally:
                client.close()

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()


def node_id(node: Node) -> str:
    client = node.client()
    try:
        return client.execute_command("CLUSTER MYID").decode()
    finally:
        client.close()


def migrate_slot(cluster: ClusterSet, slot: int, source: Node, target: Node,
                 between_keys: Callable[[], None] = lambda: None) -> None:
    """Moves `slot` with its keys from `source` to `target` the way redis-cli --cluster reshard
    does: IMPORTING/MIGRATING, MIGRATE key by key (ASK while it runs), then SETSLOT NODE
    everywhere (MOVED from then on)."""
    source_id, target_id = node_id(source), node_id(target)
    src, dst = source.client(), target.client()
    try:
        dst.execute_command("CLUSTER SETSLOT", slot, "IMPORTING", source_id)
        src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", target_id)
        while keys := src.execute_command("CLUSTER GETKEYSINSLOT", slot, 10):
            src.execute_command("MIGRATE", "127.0.0.1", target.port, "", 0, 5000, "REPLACE", "KEYS", *keys)
            between_keys()
        for node in (target, source, *cluster.nodes):
            client = node.client()
            try:
                client.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)
            finally:
                client.close()
    finally:
        src.close()
        dst.close()


@contextmanager
def running_sentinels() -> Iterator[SentinelSet]:
    """A started Sentinel set in a temporary directory, stopped and removed afterwards."""
    require_binaries("redis-server")
    with tempfile.TemporaryDirectory(prefix="ddmgw-sentinel-") as workdir:
        sentinels = SentinelSet(Path(workdir))
        try:
            yield sentinels.start()
        finally:
            sentinels.stop()


@contextmanager
def running_cluster(replicas: int = 0) -> Iterator[ClusterSet]:
    """A started 3-primary Cluster (`replicas` per primary), stopped and removed afterwards."""
    require_binaries("redis-server", "redis-cli")
    with tempfile.TemporaryDirectory(prefix="ddmgw-cluster-") as workdir:
        cluster = ClusterSet(Path(workdir), replicas)
        try:
            yield cluster.start()
        finally:
            cluster.stop()

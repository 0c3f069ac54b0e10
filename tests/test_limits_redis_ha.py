"""The store on highly available Redis, against real servers (tests/redis_ha.py): Sentinel
discovery (all sentinels asked, the primary verified with ROLE, a manual failover followed),
READONLY dropping the connection, a Cluster slot migrated under load and a Cluster failover,
and what every store connection does (TCP keepalive, CLIENT SETNAME)."""
from __future__ import annotations

import asyncio
import os
import socket
import threading
from typing import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from gateway.limits import LimitRule, RedisStore, StoreUnavailable
from gateway.limits.channel import KEEPALIVE_IDLE_S, client_name
from gateway.limits.cluster import key_slot

from .conftest import free_port
from .redis_ha import SERVICE, ClusterSet, Node, SentinelSet, data_node, migrate_slot, running_cluster
from .test_replicas_deadline import serve_resp

RULES = [LimitRule("user", "ha", 1000), LimitRule("global", "global", 100_000)]


async def fake_sentinel(port_of_primary: int) -> AsyncIterator[int]:
    """A sentinel that names `port_of_primary` as the primary, whatever it is."""
    port = str(port_of_primary).encode()

    async def answer(command: list[bytes]) -> bytes:
        if command[0].upper() == b"SENTINEL":
            return b"*2\r\n$9\r\n127.0.0.1\r\n$%d\r\n%s\r\n" % (len(port), port)
        return b"+OK\r\n"

    async for address, _ in serve_resp(answer):
        yield address.port


async def using(url: str, action: Callable[[RedisStore], Awaitable[object]]) -> object:
    store = RedisStore(url, timeout_s=2.0)
    try:
        return await action(store)
    finally:
        await store.close()


async def test_sentinel_names_the_primary_even_with_a_dead_sentinel_listed(sentinel_url: str,
                                                                          sentinel_set: SentinelSet) -> None:
    dead = f"127.0.0.1:{free_port()}"
    url = sentinel_url.replace("redis+sentinel://", f"redis+sentinel://{dead},")
    assert (await using(url, lambda s: s.acquire(RULES))).allowed
    client = sentinel_set.primary().client()
    try:
        assert client.exists("ddmgw:rl:ha")
    finally:
        client.close()


async def test_a_silent_sentinel_listed_first_does_not_hold_discovery_up(sentinel_url: str) -> None:
    """All sentinels are asked at once: one that never answers (stopped, not refusing) costs
    nothing while another answers. Asked one after another, the silent one would use up the
    call's whole deadline and the call would fail."""
    async def silent(command: list[bytes]) -> None:
        return None

    async for address, _ in serve_resp(silent):
        url = sentinel_url.replace("redis+sentinel://", f"redis+sentinel://127.0.0.1:{address.port},")
        assert (await using(url, lambda s: s.acquire(RULES))).allowed


async def test_a_sentinel_naming_a_replica_is_not_believed(sentinel_set: SentinelSet) -> None:
    async for port in fake_sentinel(sentinel_set.replica().port):
        with pytest.raises(StoreUnavailable, match="ROLE slave, not the primary"):
            await using(f"redis+sentinel://127.0.0.1:{port}/{SERVICE}", lambda s: s.acquire(RULES))


async def test_no_sentinel_answering_or_an_unknown_service_is_unavailable(sentinel_set: SentinelSet) -> None:
    with pytest.raises(StoreUnavailable, match="no sentinel named a primary .*ConnectionRefusedError"):
        await using(f"redis+sentinel://127.0.0.1:{free_port()},127.0.0.1:{free_port()}/{SERVICE}",
                    lambda s: s.acquire(RULES))
    unknown = sentinel_set.url.replace(f"/{SERVICE}/", "/nosuchservice/")
    with pytest.raises(StoreUnavailable, match="unknown service"):
        await using(unknown, lambda s: s.acquire(RULES))


@pytest.fixture
def two_nodes(tmp_path) -> Iterator[tuple[Node, Node]]:
    nodes = (data_node(tmp_path / "a"), data_node(tmp_path / "b"))
    try:
        for node in nodes:
            node.start()
        yield nodes
    finally:
        for node in nodes:
            node.kill()


def connections_named(node: Node, name: str) -> int:
    client = node.client()
    try:
        return sum(1 for entry in client.client_list() if entry.get("name") == name)
    finally:
        client.close()


@pytest.mark.parametrize("refusal, refuse, resume", [
    ("READONLY", ["REPLICAOF", "127.0.0.1", "{other}"], ["REPLICAOF", "NO", "ONE"]),
    ("NOREPLICAS", ["CONFIG", "SET", "min-replicas-to-write", "1"], ["CONFIG", "SET", "min-replicas-to-write", "0"]),
])
async def test_a_node_refusing_writes_drops_the_connection_and_the_next_call_connects_anew(
        two_nodes, refusal: str, refuse: list[str], resume: list[str]) -> None:
    """A node demoted under the store (what a DNS-based failover leaves behind), or a primary
    cut off from its replicas: the call fails with the node's refusal, the connection is dropped
    rather than kept, and once the node takes writes again the same store serves on a new
    connection, without a restart."""
    node, other = two_nodes
    store = RedisStore(f"redis://127.0.0.1:{node.port}/0", timeout_s=2.0)
    admin = node.client()
    try:
        assert (await store.acquire(RULES)).allowed
        assert connections_named(node, client_name()) == 1
        admin.execute_command(*(word.format(other=other.port) for word in refuse))
        with pytest.raises(StoreUnavailable, match=refusal):
            await store.acquire(RULES)
        for _ in range(100):   # the socket closes on the loop's next turns
            if connections_named(node, client_name()) == 0:
                break
            await asyncio.sleep(0.02)
        assert connections_named(node, client_name()) == 0
        admin.execute_command(*resume)
        assert (await store.acquire(RULES)).allowed
        assert connections_named(node, client_name()) == 1
    finally:
        admin.close()
        await store.close()


async def test_every_connection_keeps_alive_and_names_itself(redis_url: str) -> None:
    store = RedisStore(redis_url, timeout_s=2.0)
    try:
        await store.ping()
        transport = store._channel._connection._transport   # the one connection of the channel
        sock = transport.get_extra_info("socket")
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == KEEPALIVE_IDLE_S
        assert await store._call(["CLIENT", "GETNAME"]) == f"ddm-gateway:{socket.gethostname()}:{os.getpid()}".encode()
    finally:
        await store.close()


async def test_a_slot_migrated_under_load_reaches_no_caller(redis_cluster: ClusterSet, cluster_url: str) -> None:
    """The store's slot moves to another primary, key by key (ASK, TRYAGAIN while a script's
    keys are split), then for good (MOVED), while checks keep coming: every check is answered
    and the count stays exact."""
    slot = key_slot("ddmgw")
    source = redis_cluster.owner_of(slot)
    target = next(node for node in redis_cluster.nodes if node is not source)
    store = RedisStore(cluster_url, timeout_s=2.0)
    users = [LimitRule("user", f"mover-{i}", 10_000) for i in range(30)]
    done = threading.Event()
    answered = 0

    async def load() -> None:
        nonlocal answered
        while not done.is_set():
            decisions = await asyncio.gather(*(store.acquire([user, RULES[1]]) for user in users))
            assert all(d.allowed for d in decisions)
            answered += len(decisions)

    try:
        await store.acquire(RULES)
        loader = asyncio.ensure_future(load())
        await asyncio.sleep(0.2)
        await asyncio.to_thread(migrate_slot, redis_cluster, slot, source, target,
                                lambda: done.wait(0.01))
        await asyncio.sleep(0.2)
        done.set()
        await loader
        assert redis_cluster.owner_of(slot) is target
        client = target.client()
        try:
            keys = client.keys("*")
        finally:
            client.close()
        assert keys and all(key.startswith(b"{ddmgw}:") for key in keys)   # one hash tag, one slot
        decision = await store.acquire(RULES)
        assert decision.states[1].remaining == 100_000 - answered - 2
    finally:
        done.set()
        await store.close()


@pytest.fixture
def cluster_with_replicas() -> Iterator[ClusterSet]:
    """Three primaries with a replica each: this test kills a primary, so it has its own."""
    with running_cluster(replicas=1) as cluster:
        yield cluster


def replica_of(cluster: ClusterSet, primary: Node) -> Node:
    for node in cluster.live():
        client = node.client()
        try:
            info = client.info("replication")
        finally:
            client.close()
        if info["role"] == "slave" and int(info["master_port"]) == primary.port and info["master_link_status"] == "up":
            return node
    raise LookupError(primary.port)


async def test_a_cluster_failover_is_followed_through_the_slot_map(cluster_with_replicas: ClusterSet) -> None:
    """The slot's primary dies, the Cluster promotes its replica: the store reads the slot map
    again after the failed connection and goes on with the counts the replica holds."""
    cluster, slot = cluster_with_replicas, key_slot("ddmgw")
    store = RedisStore(cluster.url, timeout_s=2.0)
    try:
        for _ in range(5):
            assert (await store.acquire(RULES)).allowed
        primary = cluster.owner_of(slot)
        replica = replica_of(cluster, primary)
        client = replica.client()
        try:
            client.execute_command("READONLY")   # a Cluster replica answers reads only after this
            for _ in range(100):                 # replication is asynchronous: let it catch up
                if client.zcard("{ddmgw}:rl:global") == 5:
                    break
                await asyncio.sleep(0.02)
        finally:
            client.close()
        primary.kill()
        outcomes = []
        for _ in range(400):   # cluster-node-timeout is 1 s; the promotion follows
            try:
                outcomes.append((await store.acquire(RULES)).states[1].remaining)
                break
            except StoreUnavailable:
                await asyncio.sleep(0.05)
        assert outcomes == [100_000 - 6], "not served again after the failover"
        # The promoted node knows at once; another node's CLUSTER SLOTS may lag a gossip round.
        promoted = replica.client()
        try:
            assert promoted.execute_command("ROLE")[0] in ("master", b"master")
        finally:
            promoted.close()
    finally:
        await store.close()


async def test_a_manual_failover_is_followed_without_a_restart(own_sentinels: SentinelSet) -> None:
    """SENTINEL FAILOVER demotes a primary that is still up (and kills its clients' connections);
    the store asks the sentinels again on its next call and goes on, on the promoted replica,
    with the count the replica holds. A call caught in between fails with the demoted node's
    READONLY, its ROLE, or the closed connection, and with nothing else."""
    old = own_sentinels.primary()
    store = RedisStore(own_sentinels.url, timeout_s=2.0)
    try:
        for _ in range(3):
            assert (await store.acquire(RULES)).allowed
        client = own_sentinels.sentinels[0].client()
        try:
            client.execute_command("SENTINEL FAILOVER", SERVICE)
        finally:
            client.close()
        failures: list[str] = []
        remaining = None
        for _ in range(200):
            try:
                remaining = (await store.acquire(RULES)).states[1].remaining
            except StoreUnavailable as exc:
                failures.append(str(exc))
                await asyncio.sleep(0.05)
                continue
            if own_sentinels.primary_port() != old.port:
                break
            await asyncio.sleep(0.05)
        assert own_sentinels.primary_port() != old.port
        assert set(failures) <= {"redis: READONLY", "redis: ROLE slave, not the primary", "redis: ConnectionError"}
        assert remaining is not None and remaining <= 100_000 - 4   # the three hits before survived
        assert (await store.acquire(RULES)).states[1].remaining == remaining - 1
    finally:
        await store.close()

"""Limiter checks per second for the in-process and the Redis store, on one node, Sentinel, Cluster.

    python -m bench.bench_limits [--redis-url redis://127.0.0.1:6379/0] [--seconds 2] [--concurrency 256]
                                 [--topologies single,sentinel,cluster] [--rounds 3]

Without --redis-url a throwaway redis-server is started on a free loopback port, and for the
other topologies a throwaway Sentinel set or 3-primary Cluster (tests/redis_ha.py). Each check
is one `acquire` over a per-user and a global rule (both generous, so every check records a hit);
the Redis run keeps `concurrency` checks in flight with asyncio.gather, which the store pipelines.
Goal: Redis >= 10,000 checks/s from one process.

"client CPU per check" is this process's CPU time (Redis runs elsewhere) over closed-loop checks
at 8 in flight, the median of `rounds` interleaved rounds, for the store's own channel and for
redis-py (the maintained client a channel could wrap: sentinel.Sentinel / cluster.RedisCluster
behind the same channel interface, commands handed over as words).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from typing import Any, Awaitable, Callable, Iterator

from gateway.limits import LimitRule, LimitStore, MemoryStore, RedisStore, ResilientStore
from gateway.limits.redis_url import ClusterAddress, SentinelAddress, parse_redis_url
from gateway.limits.resp import parse_reply

USERS = 10_000


def rules_for(i: int) -> list[LimitRule]:
    # Short windows keep the benchmark's own footprint in Redis small.
    return [LimitRule("user", f"bench-user-{i % USERS}", 10**6, 1.0),
            LimitRule("global", "bench-global", 10**9, 1.0)]


async def measure(store: LimitStore, seconds: float, concurrency: int) -> float:
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        decisions = await asyncio.gather(*(store.acquire(rules_for(done + k)) for k in range(concurrency)))
        assert all(d.allowed for d in decisions)
        done += concurrency
    return done / (time.perf_counter() - started)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def throwaway_redis() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not on PATH; pass --redis-url")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="ddmgw-bench-") as workdir:
        process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--dir", workdir],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.kill()
            process.wait(timeout=10)


async def run(redis_url: str, seconds: float, concurrency: int) -> None:
    memory = MemoryStore()
    print(f"memory: {await measure(memory, seconds, 1):,.0f} checks/s (one at a time)")
    redis_store = RedisStore(redis_url, timeout_s=1.0)
    try:
        await redis_store.acquire(rules_for(0))  # load the script
        rate = await measure(redis_store, seconds, concurrency)
        print(f"redis:  {rate:,.0f} checks/s ({concurrency} in flight, one EVALSHA each)")
    finally:
        await redis_store.close()
    guarded = ResilientStore(RedisStore(redis_url), on_failure="closed")  # the production wiring
    try:
        rate = await measure(guarded, seconds, concurrency)
        state = "degraded: the 50 ms deadline tripped" if guarded.degraded else "breaker stayed closed"
        print(f"redis behind ResilientStore (50 ms deadline): {rate:,.0f} checks/s ({state})")
    finally:
        await guarded.close()


CPU_IN_FLIGHT = 8


async def cpu_per_check(store: LimitStore, seconds: float) -> float:
    """Microseconds of this process's CPU per check, CPU_IN_FLIGHT checks in flight."""
    await store.acquire(rules_for(0))
    done, started, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        await asyncio.gather(*(store.acquire(rules_for(done + k)) for k in range(CPU_IN_FLIGHT)))
        done += CPU_IN_FLIGHT
    return (time.process_time() - cpu) / done * 1e6


class RedisPyChannel:
    """redis-py behind the store's channel interface: each encoded command goes back to words
    (`parse_reply`, ~1-2 us of the figure) and through `execute_command` as its own task."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def call(self, command: bytes) -> asyncio.Future[Any]:
        parsed = parse_reply(command)
        assert parsed is not None
        name, *words = parsed[0]
        return asyncio.ensure_future(self._client.execute_command(name.decode(), *words))

    async def close(self) -> None:
        await self._client.aclose()


def redis_py_client(url: str) -> Any:
    """The candidate client (a test dependency, so imported only when measured)."""
    import redis.asyncio as aioredis
    from redis.asyncio.cluster import RedisCluster
    from redis.asyncio.sentinel import Sentinel

    address = parse_redis_url(url)
    if isinstance(address, SentinelAddress):
        sentinels = Sentinel([(s.host, s.port) for s in address.sentinels], socket_timeout=1.0)
        return sentinels.master_for(address.service, socket_timeout=1.0)
    if isinstance(address, ClusterAddress):
        return RedisCluster(host=address.seeds[0].host, port=address.seeds[0].port)
    return aioredis.Redis.from_url(url)


async def redis_py_store(url: str) -> RedisStore:
    store = RedisStore(url, timeout_s=1.0)
    await store.close()
    client = redis_py_client(url)
    for script in store._scripts.values():   # what the own channel's greeting does
        await client.script_load(script.source)
    store._channel = RedisPyChannel(client)   # bench only: the candidate behind the same store
    return store


async def compare(urls: dict[str, str], seconds: float, rounds: int) -> None:
    """Own channel vs redis-py, per topology, in interleaved rounds; medians printed."""
    makers: dict[str, Callable[[str], Awaitable[RedisStore]]] = {
        "own channel": lambda url: _own(url), "redis-py 8": redis_py_store}
    figures: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for topology, url in urls.items():
            for client, make in makers.items():
                store = await make(url)
                try:
                    figures.setdefault((topology, client), []).append(await cpu_per_check(store, seconds))
                finally:
                    await store.close()
    for (topology, client), values in figures.items():
        print(f"client CPU per check, {topology}, {client}: {statistics.median(values):.1f} us "
              f"({CPU_IN_FLIGHT} in flight; rounds {', '.join(f'{v:.1f}' for v in values)})")


async def _own(url: str) -> RedisStore:
    return RedisStore(url, timeout_s=1.0)


async def run_topology(name: str, url: str, seconds: float, concurrency: int) -> None:
    store = RedisStore(url, timeout_s=1.0)
    try:
        await store.acquire(rules_for(0))
        rate = await measure(store, seconds, concurrency)
        print(f"redis ({name}): {rate:,.0f} checks/s ({concurrency} in flight, one EVALSHA each)")
    finally:
        await store.close()


@contextlib.contextmanager
def throwaway(topology: str) -> Iterator[str]:
    """A throwaway single node, Sentinel set or Cluster; its store URL."""
    if topology == "single":
        with throwaway_redis() as url:
            yield url
        return
    from tests.redis_ha import running_cluster, running_sentinels   # the tests' real processes

    with running_sentinels() if topology == "sentinel" else running_cluster() as started:
        yield started.url


async def run_all(urls: dict[str, str], seconds: float, concurrency: int, rounds: int) -> None:
    if "single" in urls:
        await run(urls["single"], seconds, concurrency)
    for name, url in urls.items():
        if name != "single":
            await run_topology(name, url, seconds, concurrency)
    await compare(urls, seconds, rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--topologies", default="single,sentinel,cluster")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.redis_url:
        asyncio.run(run_all({"single": args.redis_url}, args.seconds, args.concurrency, args.rounds))
        return
    with contextlib.ExitStack() as stack:
        urls = {name: stack.enter_context(throwaway(name)) for name in args.topologies.split(",")}
        asyncio.run(run_all(urls, args.seconds, args.concurrency, args.rounds))


if __name__ == "__main__":
    main()

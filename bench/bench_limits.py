"""Limiter checks per second for the in-process and the Redis store.

    python -m bench.bench_limits [--redis-url redis://127.0.0.1:6379/0] [--seconds 2] [--concurrency 256]

Without --redis-url a throwaway redis-server is started on a free loopback port. Each check is
one `acquire` over a per-user and a global rule (both generous, so every check records a hit);
the Redis run keeps `concurrency` checks in flight with asyncio.gather, which the store pipelines.
Goal: Redis >= 10,000 checks/s from one process.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Iterator

from gateway.limits import LimitRule, LimitStore, MemoryStore, RedisStore, ResilientStore

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=256)
    args = parser.parse_args()
    if args.redis_url:
        asyncio.run(run(args.redis_url, args.seconds, args.concurrency))
        return
    with throwaway_redis() as url:
        asyncio.run(run(url, args.seconds, args.concurrency))


if __name__ == "__main__":
    main()

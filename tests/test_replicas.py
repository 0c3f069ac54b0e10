"""Issue #4/#5 through three real `ddm-gateway serve` processes sharing one Redis.

Each process has its own ports, config file, store client, breaker and fallback; they share the
Redis of the session fixture and the state_dir (so a token issued by one verifies on all). The
simulator runs in this process. Limits: 60/min per user and, so the global rule can be reached
by a few users, 100/min overall; `store.replicas: 3` so an outage gives each replica a third.

`store.timeout_ms: 250`: on a 2-core machine shared with benchmarks, Redis itself was measured
answering after more than 150 ms while the replica sat idle; at the default 50 ms that opens the
breaker and the replica's divided fallback lets more than 60 through. A killed Redis refuses
connections at once, so the outage test's 200 ms bound does not depend on this value.
(Effective once gateway/http/app.py passes `config.store.timeout_ms` to create_store.)
"""
from __future__ import annotations

import time
from collections import Counter
from itertools import cycle
from pathlib import Path
from typing import Iterator

import pytest
import redis

from ddmsim import create_app as create_sim

from .conftest import RedisServer
from .harness import ALICE_AK, ALICE_SK, BOB_AK, BOB_SK, CAROL_AK, CAROL_SK, DAVE_AK, DAVE_SK, ServerThread
from .stack import Reply, http
from .test_replicas_support import INSTANCES_PATH, GatewayProcesses, login, readyz, send_concurrently

POLICY = '"user";q=60;w=60, "global";q=100;w=60'
DEGRADED_POLICY = '"user";q=20;w=60, "global";q=34;w=60'   # ceil(60/3), ceil(100/3)
LATENCY_BOUND_S = 0.2
ATTEMPTS = 3


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[GatewayProcesses]:
    servers = ServerThread()
    sim_url = f"http://127.0.0.1:{servers.serve(create_sim(job_seconds=0))}"
    procs = GatewayProcesses(Path(tmp_path_factory.mktemp("replicas")), 3, redis_server.url, sim_url,
                             replicas=3, limits={"global_per_minute": 100}, store_timeout_ms=250)
    for url in procs.urls:   # each replica loads its scripts and opens its first connection
        assert http("GET", url + INSTANCES_PATH, ak=DAVE_AK, sk=DAVE_SK).status == 403
    yield procs
    procs.close()
    servers.close()


@pytest.fixture(autouse=True)
def closed_breakers(gateways: GatewayProcesses, redis_url: str) -> None:
    """Every test starts on a flushed Redis (redis_url) with every replica's breaker closed."""
    wait_for_closed_breakers(gateways)


def round_robin(gateways: GatewayProcesses, credentials: list[tuple[str, str]], count: int) -> list[tuple[str, str, str]]:
    """`count` requests, replica and credential chosen in turn."""
    urls, creds = cycle(gateways.urls), cycle(credentials)
    return [(next(urls) + INSTANCES_PATH, *next(creds)) for _ in range(count)]


def assert_throttled(reply: Reply, message: str) -> None:
    assert reply.status == 429, reply.body
    body = reply.json()
    assert body["error_code"] == body["errCode"] == "APIGW.0308"
    assert body["error_msg"] == "The throttling threshold has been reached: " + message
    assert int(reply.headers["Retry-After"]) >= 1


def on_the_shared_store(gateways: GatewayProcesses, redis_url: str, *bursts: list[tuple[str, str, str]]
                        ) -> list[list[Reply]]:
    """Sends the bursts one after another, from a flushed Redis and closed breakers.

    If any reply came from a replica's fallback (its RateLimit-Policy shows the divided limits),
    Redis was judged slow and the breaker opened - on this 2-core machine shared with other
    work that happens - and the fallback is then the specified behaviour, not what these tests
    are about; the whole sequence is retried, at most ATTEMPTS times."""
    for _ in range(ATTEMPTS):
        flush(redis_url)
        wait_for_closed_breakers(gateways)
        results = [send_concurrently(burst) for burst in bursts]
        if all(r.headers["RateLimit-Policy"] == POLICY for replies in results for r in replies):
            return results
    pytest.fail(f"a breaker opened on a running Redis in each of {ATTEMPTS} attempts")


def flush(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.flushall()
    finally:
        client.close()


def wait_for_closed_breakers(gateways: GatewayProcesses) -> None:
    """/readyz pings through the breaker (the half-open probe), so "ok" means closed."""
    deadline = time.monotonic() + 5.0
    for admin_url in gateways.admin_urls:
        while readyz(admin_url)[1]["checks"]["store"] != "ok":
            assert time.monotonic() < deadline, f"{admin_url}: store still not ok"
            time.sleep(0.1)


def test_200_concurrent_requests_of_one_user_give_exactly_60(gateways: GatewayProcesses, redis_url: str) -> None:
    bob, alice = (round_robin(gateways, [(BOB_AK, BOB_SK)], 200),
                  round_robin(gateways, [(ALICE_AK, ALICE_SK)], 50))
    replies, after = on_the_shared_store(gateways, redis_url, bob, alice)
    assert Counter(r.status for r in replies) == {200: 60, 429: 140}
    for reply in replies:
        assert reply.headers["RateLimit"].startswith('"user";r=')
        if reply.status == 429:
            assert_throttled(reply, "policy user over ratelimit,limit:60,time:1 minute")
    # The 140 refusals consumed nothing: the global budget still has exactly 100 - 60 left.
    assert Counter(r.status for r in after) == {200: 40, 429: 10}


def test_global_limit_across_users_and_replicas(gateways: GatewayProcesses, redis_url: str) -> None:
    users = [(ALICE_AK, ALICE_SK), (BOB_AK, BOB_SK), (CAROL_AK, CAROL_SK)]
    [replies] = on_the_shared_store(gateways, redis_url, round_robin(gateways, users, 120))  # 40 each
    assert Counter(r.status for r in replies) == {200: 100, 429: 20}
    for reply in replies:
        if reply.status == 429:
            assert_throttled(reply, "policy api over ratelimit,limit:100,time:1 minute")


def test_rejected_requests_leave_no_hit_in_redis(gateways: GatewayProcesses, redis_url: str) -> None:
    [replies] = on_the_shared_store(gateways, redis_url, round_robin(gateways, [(CAROL_AK, CAROL_SK)], 90))
    assert Counter(r.status for r in replies) == {200: 60, 429: 30}
    client = redis.Redis.from_url(redis_url)
    try:
        windows = {key.decode(): client.zcard(key) for key in client.scan_iter("ddmgw:rl:*")}
    finally:
        client.close()
    assert sorted(windows.values()) == [60, 60] and "ddmgw:rl:global" in windows


def test_revoked_token_is_refused_by_the_other_replicas_within_a_second(
        gateways: GatewayProcesses, redis_url: str) -> None:
    first, *others = gateways.urls
    token = login(first, "alice", "alice-pass-1")
    for url in others:
        assert http("GET", url + INSTANCES_PATH, headers={"X-Auth-Token": token}).status == 200
    revoke = http("DELETE", first + "/v3/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert revoke.status == 204, revoke.body
    revoked_at = time.monotonic()
    for url in others:
        while http("GET", url + INSTANCES_PATH, headers={"X-Auth-Token": token}).status != 401:
            assert time.monotonic() - revoked_at < 1.0, f"{url} still accepts a revoked token"
            time.sleep(0.02)


def test_five_bad_signatures_over_three_replicas_lock_the_key_everywhere(
        gateways: GatewayProcesses, redis_url: str) -> None:
    for attempt, url in zip(range(1, 6), cycle(gateways.urls)):
        reply = http("GET", url + INSTANCES_PATH, ak=DAVE_AK, sk="not-daves-secret")
        reason = "AK access failed to reach the limit" if attempt == 5 else "verify aksk signature fail"
        assert reply.status == 401 and reason in reply.json()["error_msg"], (attempt, reply.body)
    for url in gateways.urls:
        reply = http("GET", url + INSTANCES_PATH, ak=DAVE_AK, sk=DAVE_SK)
        assert reply.status == 401
        assert reply.json()["error_msg"].endswith("AK access failed to reach the limit,forbidden.")
    client = redis.Redis.from_url(redis_url)
    try:
        lock_ms = client.pttl("ddmgw:lock:ak:" + DAVE_AK)
    finally:
        client.close()
    assert 290_000 < lock_ms <= 300_000   # five minutes, on the server's clock


def test_a_success_breaks_the_failure_streak_on_every_replica(gateways: GatewayProcesses, redis_url: str) -> None:
    urls = cycle(gateways.urls)
    for _ in range(2):
        for _ in range(4):
            assert http("GET", next(urls) + INSTANCES_PATH, ak=BOB_AK, sk="wrong").status == 401
        assert http("GET", next(urls) + INSTANCES_PATH, ak=BOB_AK, sk=BOB_SK).status == 200


def timed(url: str, ak: str, sk: str) -> Reply:
    started = time.perf_counter()
    reply = http("GET", url + INSTANCES_PATH, ak=ak, sk=sk)
    elapsed = time.perf_counter() - started
    assert elapsed < LATENCY_BOUND_S, f"{elapsed:.3f}s with Redis down"
    return reply


def test_redis_outage_falls_back_per_replica_then_recovers(
        gateways: GatewayProcesses, redis_server: RedisServer, redis_url: str) -> None:
    redis_server.stop()
    try:
        # Each replica has its own third of the budget. Dave (no grants: 403, but counted) is
        # the one user no other test sends through the replicas' fallbacks, whose windows live
        # as long as the module's processes.
        for url in gateways.urls[:2]:
            replies = [timed(url, DAVE_AK, DAVE_SK) for _ in range(22)]
            assert [r.status for r in replies] == [403] * 20 + [429] * 2
            assert {r.headers["RateLimit-Policy"] for r in replies} == {DEGRADED_POLICY}
            assert_throttled(replies[-1], "policy user over ratelimit,limit:20,time:1 minute")
        status, body = readyz(gateways.admin_urls[0])
        assert (status, body["checks"]["store"]) == (200, "degraded")
    finally:
        redis_server.start()
    deadline = time.monotonic() + 5.0
    while timed(gateways.urls[0], BOB_AK, BOB_SK).headers["RateLimit-Policy"] != POLICY:
        assert time.monotonic() < deadline, "still on the fallback 5 s after Redis came back"
        time.sleep(0.1)
    status, body = readyz(gateways.admin_urls[0])
    assert (status, body["checks"]["store"]) == (200, "ok")

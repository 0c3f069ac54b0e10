"""Issue #5 end to end on in-process replicas: headers, 429 bodies, overrides, the per-IP
failed-authentication limit, and a Redis outage under `on_failure: closed`.

The three-process cases (200 concurrent requests, the global limit, `on_failure: open`) are in
test_replicas.py; these need several configurations, which in-process replicas make cheap.
"""
from __future__ import annotations

import json
import time
from typing import Iterator

import pytest

from .conftest import RedisServer
from .harness import ALICE_AK, ALICE_SK, BOB_AK, BOB_SK, DAVE_AK, DAVE_SK
from .stack import Reply, http
from .test_replicas_support import INSTANCES_PATH, Replicas, readyz, start_replicas

LATENCY_BOUND_S = 0.2   # the "no request slower than 200 ms"


@pytest.fixture
def two_replicas(tmp_path, redis_url: str) -> Iterator[Replicas]:
    replicas = start_replicas(str(tmp_path), 2, redis_url,
                              limits={"per_user_per_minute": 3, "users": {"alice": 5}})
    yield replicas
    replicas.close()


def get(url: str, ak: str, sk: str, **headers: str) -> Reply:
    return http("GET", url + INSTANCES_PATH, ak=ak, sk=sk, headers=headers)


def assert_throttled(reply: Reply, message: str) -> None:
    assert reply.status == 429, reply.body
    body = reply.json()
    assert body["error_code"] == body["errCode"] == "APIGW.0308"
    assert body["error_msg"] == body["externalMessage"] == "The throttling threshold has been reached: " + message
    assert body["request_id"] == reply.headers["X-Request-Id"]
    assert 1 <= int(reply.headers["Retry-After"]) <= 60


def test_every_counted_response_carries_ratelimit_headers(two_replicas: Replicas) -> None:
    first, second = two_replicas.urls
    policy = '"user";q=3;w=60, "global";q=8000;w=60'
    replies = [get(first, BOB_AK, BOB_SK), get(second, BOB_AK, BOB_SK), get(first, BOB_AK, BOB_SK),
               get(second, BOB_AK, BOB_SK)]
    assert [r.status for r in replies] == [200, 200, 200, 429]
    assert [r.headers["RateLimit-Policy"] for r in replies] == [policy] * 4
    assert replies[0].headers["RateLimit"] == '"user";r=2;t=60'
    assert [r.headers["RateLimit"].split(";")[1] for r in replies[1:]] == ["r=1", "r=0", "r=0"]
    assert_throttled(replies[3], "policy user over ratelimit,limit:3,time:1 minute")
    denied = get(second, DAVE_AK, DAVE_SK)   # counted, then refused by policy
    assert denied.status == 403 and denied.headers["RateLimit-Policy"] == policy
    unauthenticated = get(first, DAVE_AK, "wrong")   # never reached the limiter
    assert unauthenticated.status == 401 and "RateLimit" not in unauthenticated.headers


def test_per_user_override_applies_on_every_replica(two_replicas: Replicas) -> None:
    replies = [get(url, ALICE_AK, ALICE_SK) for url in two_replicas.urls * 3]
    assert [r.status for r in replies] == [200] * 5 + [429]
    assert replies[0].headers["RateLimit-Policy"] == '"user";q=5;w=60, "global";q=8000;w=60'
    assert_throttled(replies[-1], "policy user over ratelimit,limit:5,time:1 minute")
    assert [get(url, BOB_AK, BOB_SK).status for url in two_replicas.urls * 2] == [200, 200, 200, 429]


def test_global_limit_names_the_api_policy(tmp_path, redis_url: str) -> None:
    replicas = start_replicas(str(tmp_path), 2, redis_url, limits={"global_per_minute": 3})
    try:
        users = [(ALICE_AK, ALICE_SK), (BOB_AK, BOB_SK)] * 2
        replies = [get(url, ak, sk) for url, (ak, sk) in zip(replicas.urls * 2, users)]
        assert [r.status for r in replies] == [200, 200, 200, 429]
        assert_throttled(replies[-1], "policy api over ratelimit,limit:3,time:1 minute")
        assert replies[-1].headers["RateLimit"].startswith('"global";r=0;')
    finally:
        replicas.close()


def test_rejected_requests_do_not_consume(tmp_path) -> None:
    """Memory store on the stack's clock: refusals at t+30 must not block anyone at t+60."""
    stack = start_replicas(str(tmp_path), 1, None, limits={"per_user_per_minute": 3})
    url = stack.urls[0]
    try:
        assert [get(url, BOB_AK, BOB_SK).status for _ in range(3)] == [200] * 3
        stack.clock.advance(30)
        refused = [get(url, BOB_AK, BOB_SK) for _ in range(5)]
        assert {r.status for r in refused} == {429}
        assert refused[0].headers["Retry-After"] == "30"   # when the first hit leaves the window
        stack.clock.advance(30.5)
        assert [get(url, BOB_AK, BOB_SK).status for _ in range(4)] == [200, 200, 200, 429]
    finally:
        stack.close()


def test_failed_authentications_are_limited_per_source_ip(tmp_path, redis_url: str) -> None:
    replicas = start_replicas(str(tmp_path), 2, redis_url, trusted_proxies=["127.0.0.1/32"],
                              limits={"auth_failures_per_ip_per_minute": 3})
    try:
        first, second = replicas.urls
        attacker, bystander = {"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "198.51.100.9"}
        assert [get(first, "NOSUCHAK000000000001", "x", **attacker).status for _ in range(4)] == [401] * 4
        blocked = get(first, "NOSUCHAK000000000001", "x", **attacker)   # over budget: failures are 429
        assert blocked.status == 429
        assert blocked.json()["error_msg"].endswith("policy ip over ratelimit,limit:3,time:1 minute")
        assert int(blocked.headers["Retry-After"]) >= 1
        assert get(first, BOB_AK, BOB_SK, **attacker).status == 200   # a verifying signature still passes
        assert get(first, "NOSUCHAK000000000001", "x", **bystander).status == 401
        # The count is shared: one more failure on the other replica blocks the IP there too.
        assert get(second, "NOSUCHAK000000000001", "x", **attacker).status == 401
        assert get(second, "NOSUCHAK000000000001", "x", **attacker).status == 429
    finally:
        replicas.close()


def timed_get(url: str) -> Reply:
    started = time.perf_counter()
    reply = get(url, BOB_AK, BOB_SK)
    elapsed = time.perf_counter() - started
    assert elapsed < LATENCY_BOUND_S, f"{elapsed:.3f}s with Redis down"
    return reply


def test_redis_down_with_on_failure_closed_refuses_fast_and_recovers(
        tmp_path, redis_server: RedisServer, redis_url: str) -> None:
    replicas = start_replicas(str(tmp_path), 2, redis_url, on_failure="closed")
    try:
        assert timed_get(replicas.urls[0]).status == 200
        redis_server.stop()
        try:
            for url in replicas.urls * 5:
                reply = timed_get(url)
                assert reply.status == 503, reply.body
                assert reply.json()["error_code"] == "APIGW.0601"
            status, body = readyz(replicas.admin_urls[0])
            assert (status, body["status"], body["checks"]["store"]) == (503, "not ready", "down")
        finally:
            redis_server.start()
        deadline = time.monotonic() + 5.0
        while timed_get(replicas.urls[1]).status != 200:
            assert time.monotonic() < deadline, "still refusing 5 s after Redis came back"
            time.sleep(0.1)
        assert readyz(replicas.admin_urls[1])[1]["checks"]["store"] == "ok"
    finally:
        replicas.close()


def password_login(url: str, password: str, ip: str) -> Reply:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "bob", "password": password, "domain": {"name": "acme"}}}}}}
    return http("POST", url + "/v3/auth/tokens", body=json.dumps(body).encode(), headers={"X-Forwarded-For": ip})


def test_password_guessing_is_limited_per_source_ip_before_any_check(tmp_path, redis_url: str) -> None:
    """Bad passwords burn the same per-IP budget as bad signatures; past it, even the right
    password from that IP waits (no scrypt check runs), while other IPs log in normally."""
    replicas = start_replicas(str(tmp_path), 1, redis_url, trusted_proxies=["127.0.0.1/32"],
                              limits={"auth_failures_per_ip_per_minute": 3})
    try:
        url = replicas.urls[0]
        assert [password_login(url, f"guess-{i}", "203.0.113.8").status for i in range(4)] == [401] * 4
        blocked = password_login(url, "bob-pass-1", "203.0.113.8")
        assert blocked.status == 429, blocked.body
        assert blocked.json()["error_code"] == "APIGW.0308"
        assert int(blocked.headers["Retry-After"]) >= 1
        assert password_login(url, "bob-pass-1", "198.51.100.10").status == 201
    finally:
        replicas.close()

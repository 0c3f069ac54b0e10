"""Issue #21 through three real `ddm-gateway serve` processes sharing one Redis: a group budget
shared by two users, a refused create that costs no other budget, report-mode counts and the
usage endpoint, all exact across replicas.

Rules: red-team (alice and bob, 40 per minute), creates (2 per hour per user) and watch (report
mode, 10 lists per minute per user). Like test_replicas.py, a sequence that finds a replica on its
per-replica fallback (a breaker opened on this loaded machine: the divided limits show in
RateLimit-Policy) is retried from a flushed Redis; that fallback is specified elsewhere.
"""
from __future__ import annotations

import json
from collections import Counter
from itertools import cycle
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

import pytest
import redis

from ddmsim import create_app as create_sim

from .conftest import RedisServer
from .harness import ALICE_AK, ALICE_SK, BOB_AK, BOB_SK, CAROL_AK, CAROL_SK, PROJECT_ID, ServerThread
from .stack import Reply, http
from .test_ratelimit_rules import CREATES, TEAM, USAGE, WATCH, metric, with_team
from .test_replicas import flush, wait_for_closed_breakers
from .test_replicas_support import INSTANCES_PATH, GatewayProcesses, send_concurrently

T = TypeVar("T")
SHARED_USER_POLICY = '"user";q=60;w=60'   # the head of RateLimit-Policy while Redis answers
ATTEMPTS = 3
RULES = [{**TEAM, "limit": 40}, CREATES, {**WATCH, "limit": 10}]


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[GatewayProcesses]:
    servers = ServerThread()
    sim_url = f"http://127.0.0.1:{servers.serve(create_sim(job_seconds=0))}"
    procs = GatewayProcesses(Path(tmp_path_factory.mktemp("rules")), 3, redis_server.url, sim_url,
                             replicas=3, limits={"rules": RULES}, adjust=with_team, store_timeout_ms=250)
    yield procs
    procs.close()
    servers.close()


def on_shared_store(gateways: GatewayProcesses, redis_url: str, run: Callable[[], tuple[list[Reply], T]]) -> T:
    """`run` from a flushed Redis with closed breakers; retried when a reply came from a fallback."""
    for _ in range(ATTEMPTS):
        flush(redis_url)
        wait_for_closed_breakers(gateways)
        replies, result = run()
        if all(r.headers.get("RateLimit-Policy", "").startswith(SHARED_USER_POLICY) for r in replies):
            return result
    pytest.fail(f"a breaker opened on a running Redis in each of {ATTEMPTS} attempts")


def lists(gateways: GatewayProcesses, credentials: list[tuple[str, str]], count: int) -> list[Reply]:
    """`count` concurrent list requests, replica and credential taken in turn."""
    urls, creds = cycle(gateways.urls), cycle(credentials)
    return send_concurrently([(next(urls) + INSTANCES_PATH, *next(creds)) for _ in range(count)])


def create(url: str, ak: str, sk: str) -> Reply:
    body = json.dumps({"instance": {"name": "ddm-test"}}).encode()
    return http("POST", url + f"/v1/{PROJECT_ID}/instances", ak=ak, sk=sk, body=body)


def budgets(url: str, ak: str, sk: str) -> dict[str, dict[str, Any]]:
    reply = http("GET", url + USAGE, ak=ak, sk=sk)
    assert reply.status == 200, reply.body
    return {b["rule"]: b for b in reply.json()["budgets"]}


def throttled_by(reply: Reply, message: str) -> bool:
    return reply.status == 429 and reply.json()["error_msg"] == (
        "The throttling threshold has been reached: " + message) and int(reply.headers["Retry-After"]) >= 1


def test_a_group_budget_shared_by_two_users_across_replicas_holds_exactly(
        gateways: GatewayProcesses, redis_url: str) -> None:
    def run() -> tuple[list[Reply], list[Reply]]:
        replies = lists(gateways, [(ALICE_AK, ALICE_SK), (BOB_AK, BOB_SK)], 70)
        return replies, replies
    replies = on_shared_store(gateways, redis_url, run)
    assert Counter(r.status for r in replies) == {200: 40, 429: 30}
    assert all(throttled_by(r, "policy red-team over ratelimit,limit:40,time:1 minute")
               for r in replies if r.status == 429)
    assert '"red-team";q=40;w=60' in replies[0].headers["RateLimit-Policy"]
    # Each user spent only what was accepted for them: their own minute budgets add up to 40.
    spent = [60 - budgets(url, ak, sk)["user"]["remaining"]
             for url, (ak, sk) in zip(gateways.urls, [(ALICE_AK, ALICE_SK), (BOB_AK, BOB_SK)])]
    assert sum(spent) == 40
    assert {r.status for r in lists(gateways, [(CAROL_AK, CAROL_SK)], 6)} == {200}   # not in the group


def test_a_refused_create_consumes_neither_the_users_nor_the_groups_budget(
        gateways: GatewayProcesses, redis_url: str) -> None:
    first, second, third = gateways.urls

    def run() -> tuple[list[Reply], list[Reply]]:
        made = [create(first, ALICE_AK, ALICE_SK), create(second, ALICE_AK, ALICE_SK)]
        refused = [create(url, ALICE_AK, ALICE_SK) for url in gateways.urls * 4]
        return made + refused, made + refused
    replies = on_shared_store(gateways, redis_url, run)
    assert [r.status != 429 for r in replies[:2]] == [True, True]
    assert all(throttled_by(r, "policy creates over ratelimit,limit:2,time:1 hour") for r in replies[2:])
    left = budgets(third, ALICE_AK, ALICE_SK)
    assert (left["user"]["remaining"], left["red-team"]["remaining"], left["creates"]["remaining"]) == (58, 38, 0)
    assert 3500 < left["creates"]["next_free_s"] <= 3600
    # and the limiter agrees: the team has exactly 38 requests left this minute
    after = lists(gateways, [(BOB_AK, BOB_SK), (ALICE_AK, ALICE_SK)], 45)
    assert Counter(r.status for r in after) == {200: 38, 429: 7}


def test_report_mode_never_rejects_and_is_counted_exactly_over_the_replicas(
        gateways: GatewayProcesses, redis_url: str) -> None:
    series = 'ddmgw_ratelimit_would_reject_total{rule="watch"}'

    def run() -> tuple[list[Reply], float]:
        before = sum(metric(admin, series) for admin in gateways.admin_urls)
        replies = lists(gateways, [(CAROL_AK, CAROL_SK)], 25)
        assert [r.status for r in replies] == [200] * 25
        return replies, sum(metric(admin, series) for admin in gateways.admin_urls) - before
    assert on_shared_store(gateways, redis_url, run) == 15
    client = redis.Redis.from_url(redis_url)
    try:
        recorded = [client.zcard(key) for key in client.scan_iter("ddmgw:rl:rule:watch:*")]
    finally:
        client.close()
    assert recorded == [10]   # what it had room for; the 15 beyond were counted, not recorded


def test_the_usage_endpoint_agrees_with_what_the_limiter_then_does(
        gateways: GatewayProcesses, redis_url: str) -> None:
    first, second, _ = gateways.urls

    def run() -> tuple[list[Reply], tuple[dict[str, Any], list[Reply], dict[str, Any]]]:
        warm = [http("GET", first + INSTANCES_PATH, ak=BOB_AK, sk=BOB_SK) for _ in range(5)]
        said = budgets(second, BOB_AK, BOB_SK)
        burst = lists(gateways, [(BOB_AK, BOB_SK)], 50)
        return warm + burst, (said, burst, budgets(second, BOB_AK, BOB_SK))
    said, burst, after = on_shared_store(gateways, redis_url, run)
    assert (said["user"]["remaining"], said["red-team"]["remaining"], said["watch"]["remaining"]) == (55, 35, 5)
    assert Counter(r.status for r in burst) == {200: said["red-team"]["remaining"], 429: 15}
    assert after["red-team"]["remaining"] == 0 and after["user"]["remaining"] == 20
    refused = next(r for r in burst if r.status == 429)
    assert abs(int(refused.headers["Retry-After"]) - after["red-team"]["next_free_s"]) <= 1.5

"""Issue #21 on in-process gateways (memory store on a movable clock): per-action hourly rules,
report mode, report-only policies, the usage endpoint (and `ddm-gateway curl` calling it), and a
reload that keeps the counts of unchanged rules. The cases shared by replicas through Redis are
in test_ratelimit_rules_replicas.py.
"""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from gateway.reload import reload_config
from gateway.services import SERVICES

from .harness import (ALICE_AK, ALICE_SK, BOB_AK, BOB_SK, CAROL_AK, CAROL_SK, DAVE_AK, DAVE_SK, PROJECT_ID,
                      TEST_LOG_DIR, OffsetClock)
from .stack import Reply, http
from .test_logs_support import records_by_request
from .test_replicas_support import INSTANCES_PATH, Replicas, replica_config, start_replicas

USAGE = "/ddm-gateway/v1/usage"
CREATES = {"name": "creates", "per": "user", "actions": ["ddm:instance:create", "ddm:database:create"],
           "limit": 2, "window_s": 3600}


def with_team(data: dict[str, Any]) -> None:
    """Group red-dba (no grants of its own) with alice and bob in it."""
    domain = data["iam"]["domains"][0]
    domain["groups"].append({"name": "red-dba"})
    for user in domain["users"]:
        if user["name"] in ("alice", "bob"):
            user["groups"].append("red-dba")


def get(url: str, ak: str, sk: str, path: str = INSTANCES_PATH) -> Reply:
    return http("GET", url + path, ak=ak, sk=sk)


def create(url: str, ak: str = ALICE_AK, sk: str = ALICE_SK, clock: OffsetClock | None = None) -> Reply:
    """Signed at the gateway's time (`clock`, moved by the test) so the signature stays fresh."""
    body = json.dumps({"instance": {"name": "ddm-test", "flavor_id": "x"}}).encode()
    now = datetime.fromtimestamp(clock(), tz=timezone.utc) if clock is not None else None
    return http("POST", url + f"/v1/{PROJECT_ID}/instances", ak=ak, sk=sk, body=body, now=now)


def usage(url: str, ak: str, sk: str) -> dict[str, dict[str, Any]]:
    reply = get(url, ak, sk, USAGE)
    assert reply.status == 200, reply.body
    return {budget["rule"]: budget for budget in reply.json()["budgets"]}


def log_records(name: str, request_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each request's records in a test log (written off the request path: polled for, bounded)."""
    return records_by_request(TEST_LOG_DIR / name, request_ids)


def metric(admin_url: str, line_start: str) -> float:
    for line in http("GET", admin_url + "/metrics").body.decode().splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    return 0.0


@pytest.fixture
def stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Replicas]:
    rules, adjust = request.param
    replicas = start_replicas(str(tmp_path), 1, None, limits={"rules": rules}, adjust=adjust)
    yield replicas
    replicas.close()


def rules(*items: dict[str, Any], adjust: Any = None) -> Any:
    return pytest.mark.parametrize("stack", [(list(items), adjust)], indirect=True)


@rules(CREATES)
def test_a_per_action_hourly_rule_on_a_moved_clock(stack: Replicas) -> None:
    url, clock = stack.urls[0], stack.clock
    first = create(url)
    assert first.status != 429, first.body
    assert first.headers["RateLimit-Policy"] == '"user";q=60;w=60, "global";q=8000;w=60, "creates";q=2;w=3600'
    clock.advance(600)
    assert create(url, clock=clock).status != 429
    refused = create(url, clock=clock)
    assert refused.status == 429
    assert refused.json()["error_msg"] == ("The throttling threshold has been reached: "
                                           "policy creates over ratelimit,limit:2,time:1 hour")
    assert 2990 <= int(refused.headers["Retry-After"]) <= 3000   # when the first create leaves the hour
    listed = http("GET", url + INSTANCES_PATH, ak=ALICE_AK, sk=ALICE_SK,
                  now=datetime.fromtimestamp(clock(), tz=timezone.utc))
    assert listed.status == 200   # reads are not creates: the hourly budget does not apply to them
    assert listed.headers["RateLimit-Policy"] == '"user";q=60;w=60, "global";q=8000;w=60'
    clock.advance(1800)
    assert create(url, clock=clock).status == 429
    assert create(url, BOB_AK, BOB_SK, clock=clock).status != 429   # one budget per user
    clock.advance(1200)
    assert create(url, clock=clock).status != 429   # the first create left the hour: one slot
    assert create(url, clock=clock).status == 429   # the second one is still in it


WATCH = {"name": "watch", "per": "user", "actions": ["ddm:*:list"], "limit": 3, "window_s": 60, "mode": "report"}


@rules(WATCH)
def test_report_mode_never_rejects_and_says_so_everywhere(stack: Replicas) -> None:
    url, admin = stack.urls[0], stack.admin_urls[0]
    replies = [get(url, BOB_AK, BOB_SK) for _ in range(8)]
    assert [r.status for r in replies] == [200] * 8
    assert {r.headers["RateLimit-Policy"] for r in replies} == {'"user";q=60;w=60, "global";q=8000;w=60'}
    assert metric(admin, 'ddmgw_ratelimit_would_reject_total{rule="watch"}') == 5
    ids = [r.headers["X-Request-Id"] for r in replies]
    access = log_records("access.log", ids)
    assert [access[rid][0]["ratelimit_would_reject"] for rid in ids] == [None] * 3 + [["watch"]] * 5
    audit = log_records("audit.log", ids)
    flagged = [rid for rid in ids if any(r.get("event") == "ratelimit_would_reject" for r in audit[rid])]
    assert flagged == ids[3:]
    assert usage(url, BOB_AK, BOB_SK)["watch"]["remaining"] == 0   # it recorded only what it had room for
    stack.clock.advance(60)
    assert get(url, BOB_AK, BOB_SK).status == 200
    assert metric(admin, 'ddmgw_ratelimit_would_reject_total{rule="watch"}') == 5


def report_only_policies(data: dict[str, Any]) -> None:
    """bob (readers) gets a report-only Deny of listing; dave, in a new group, a report-only Allow."""
    domain = data["iam"]["domains"][0]
    domain["policies"] += [
        {"name": "watch-deny-list", "document": {"Version": "1.1", "Statement": [
            {"Effect": "Deny", "Action": ["ddm:instance:list"]}]}},
        {"name": "trial-read", "document": {"Version": "1.1", "Statement": [
            {"Effect": "Allow", "Action": ["ddm:instance:get"]}, {"Effect": "Allow", "Action": ["ddm:*:list"]}]}}]
    next(g for g in domain["groups"] if g["name"] == "readers")["grants"].append({"policy": "watch-deny-list"})
    domain["groups"].append({"name": "trial", "grants": [{"policy": "trial-read"}]})
    next(u for u in domain["users"] if u["name"] == "dave")["groups"] = ["trial"]
    data["authz"] = {"report_only_policies": ["watch-deny-list", "trial-read"]}


@rules(adjust=report_only_policies)
def test_report_only_policies_change_no_decision_and_are_audited(stack: Replicas) -> None:
    url, admin = stack.urls[0], stack.admin_urls[0]
    bob, dave, carol = get(url, BOB_AK, BOB_SK), get(url, DAVE_AK, DAVE_SK), get(url, CAROL_AK, CAROL_SK)
    assert (bob.status, dave.status, carol.status) == (200, 403, 200)
    ids = [r.headers["X-Request-Id"] for r in (bob, dave, carol)]
    audit = log_records("audit.log", ids)
    shadow = {rid: [r for r in records if r.get("event") == "report_only"] for rid, records in audit.items()}
    [would_deny], [would_allow], untouched = shadow[ids[0]], shadow[ids[1]], shadow[ids[2]]
    assert (would_deny["outcome"], would_deny["decision"], would_deny["user_name"]) == ("would_deny", "allow", "bob")
    assert would_deny["deciding"] == [{"policy": "watch-deny-list", "statement": 0}]
    assert (would_allow["outcome"], would_allow["decision"]) == ("would_allow", "deny")
    assert would_allow["deciding"] == [{"policy": "trial-read", "statement": 1}]
    assert untouched == []
    real = {rid: next(r for r in records if "effect" in r) for rid, records in audit.items()}
    assert [real[rid]["decision"] for rid in ids] == ["allow", "deny", "allow"]
    assert metric(admin, 'ddmgw_policy_report_only_total{outcome="would_deny"}') == 1
    assert metric(admin, 'ddmgw_policy_report_only_total{outcome="would_allow"}') == 1


TEAM = {"name": "red-team", "per": "group", "groups": ["red-dba"], "limit": 5, "window_s": 60}


@rules(TEAM, CREATES, WATCH, adjust=with_team)
def test_the_usage_endpoint_answers_the_callers_budgets_and_counts_nothing(stack: Replicas) -> None:
    url = stack.urls[0]
    assert get(url, ALICE_AK, ALICE_SK).status == 200
    assert get(url, BOB_AK, BOB_SK).status == 200
    for _ in range(3):
        budgets = usage(url, ALICE_AK, ALICE_SK)
    assert list(budgets) == ["user", "global", "red-team", "creates", "watch"]
    assert budgets["user"] == {"rule": "user", "per": "user", "mode": "enforce", "actions": None, "limit": 60,
                               "window_s": 60, "remaining": 59, "reset_s": budgets["user"]["reset_s"],
                               "next_free_s": 0.0}
    assert 59 < budgets["user"]["reset_s"] <= 60
    assert (budgets["red-team"]["remaining"], budgets["red-team"]["group"]) == (3, "red-dba")
    assert budgets["creates"]["actions"] == CREATES["actions"] and budgets["creates"]["window_s"] == 3600
    assert (budgets["watch"]["mode"], budgets["watch"]["remaining"]) == ("report", 2)
    assert "red-team" not in usage(url, CAROL_AK, CAROL_SK)
    # The limiter then does what the endpoint said: three more requests of the team, no fourth.
    assert [get(url, *who).status for who in [(BOB_AK, BOB_SK), (ALICE_AK, ALICE_SK)] * 2] == [200] * 3 + [429]
    full = usage(url, BOB_AK, BOB_SK)["red-team"]
    assert full["remaining"] == 0 and 0 < full["next_free_s"] <= 60
    assert get(url, DAVE_AK, DAVE_SK, USAGE).status == 200
    assert get(url, DAVE_AK, "wrong", USAGE).status == 401
    assert http("POST", url + USAGE, ak=BOB_AK, sk=BOB_SK, body=b"{}").status == 404


@rules(TEAM, adjust=with_team)
def test_ddm_gateway_curl_calls_the_usage_endpoint(stack: Replicas) -> None:
    binary = Path(sys.executable).with_name("ddm-gateway")
    done = subprocess.run([str(binary), "curl", "--ak", ALICE_AK, "--sk", ALICE_SK, stack.urls[0] + USAGE],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert [b["rule"] for b in json.loads(done.stdout)["budgets"]] == ["user", "global", "red-team"]


def test_a_reload_changes_rules_and_keeps_the_counts_of_unchanged_ones(tmp_path: Path) -> None:
    domain_cap = {"name": "domain-cap", "per": "domain", "limit": 100, "window_s": 60}
    stack = start_replicas(str(tmp_path), 1, None, limits={"rules": [CREATES, domain_cap]})
    try:
        url, services = stack.urls[0], stack.apps[0][SERVICES]
        assert [create(url).status != 429 for _ in range(2)] == [True, True]
        assert usage(url, ALICE_AK, ALICE_SK)["domain-cap"]["remaining"] == 98
        fresh = {"name": "fresh", "per": "user", "limit": 10, "window_s": 60}
        path = tmp_path / "gateway.yaml"
        data = replica_config(str(tmp_path), services.runtime.config.upstream.url, None,
                              limits={"rules": [{**CREATES, "limit": 3}, {**domain_cap, "limit": 50}, fresh]})
        path.write_text(yaml.safe_dump(data))
        assert reload_config(services, path)
        budgets = usage(url, ALICE_AK, ALICE_SK)
        assert [(budgets[n]["limit"], budgets[n]["remaining"]) for n in ("user", "creates", "domain-cap", "fresh")] \
            == [(60, 58), (3, 1), (50, 48), (10, 10)]
        assert create(url).status != 429
        refused = create(url)
        assert refused.status == 429 and "policy creates over ratelimit,limit:3,time:1 hour" in refused.json()["error_msg"]
        assert usage(url, ALICE_AK, ALICE_SK)["fresh"]["remaining"] == 9
    finally:
        stack.close()

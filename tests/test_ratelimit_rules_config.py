"""Issue #21: `limits.rules` and `authz.report_only_policies` validated with paths, the pure RuleSet
that picks the budgets of a request, and `ddm-gateway limits explain`."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import ConfigError, parse_config
from gateway.limits.ruleset import RuleSet
from gateway.pipeline.ratelimit import window_text
from gateway.principal import AUTH_TOKEN, Principal

from .harness import ACME, config_data


def data_with(rules: list[Any], **authz: Any) -> dict[str, Any]:
    data = config_data(state_dir="/tmp/unused")
    data["iam"]["domains"][0] = copy.deepcopy(ACME)
    data["limits"]["rules"] = rules
    if authz:
        data["authz"] = authz
    return data


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def test_every_rule_problem_is_reported_with_its_path() -> None:
    found = problems(data_with([
        {"name": "ok", "per": "group", "groups": ["dba"], "limit": 5, "window_s": 60},
        {"name": "user", "per": "users", "limit": 0, "window_s": 86401, "mode": "dry", "extra": 1},
        {"name": "ok", "per": "global", "limit": 5, "window_s": 60},
        {"name": "g", "per": "group", "limit": 5, "window_s": 60},
        {"name": "d", "per": "domain", "groups": ["dba"], "limit": 5, "window_s": 60},
        {"name": "a", "per": "user", "actions": ["ddm:instance:creat", "nonsense"], "limit": 5, "window_s": 60},
        {"name": "e", "per": "user", "actions": [], "limit": 5, "window_s": 60},
        {"name": "bad name!", "per": "group", "groups": ["dbas"], "limit": 5, "window_s": 60},
        {"name": "t", "per": "group", "groups": ["dbas"], "limit": 5, "window_s": 60},
        {"name": "w", "per": "user", "actions": ["ddm:instance:creat"], "limit": 5, "window_s": 60},
    ], report_only_policies=["no-instance-delete", "DDM FullAccess"]))
    assert found == [
        "limits.rules[1].name: 'user' is the name of a built-in budget",
        "limits.rules[1].per: must be one of user, group, domain, global",
        "limits.rules[1].limit: must be between 1 and 100000",
        "limits.rules[1].window_s: must be between 1 and 86400",
        "limits.rules[1].mode: must be one of enforce, report",
        "limits.rules[1].extra: unknown key",
        "limits.rules[2].name: duplicate rule 'ok' (first at limits.rules[0].name)",
        "limits.rules[3].groups: is required (a non-empty list) for per: group",
        "limits.rules[4].groups: is only for per: group",
        "limits.rules[5].actions[1]: 'nonsense' must have the form service:resourceType:operation",
        "limits.rules[6].actions: must list at least one action (leave it out for every request)",
        "limits.rules[7].name: not a valid rule name",
        "limits.rules[7].groups[0]: unknown group 'dbas'",
        "limits.rules[8].groups[0]: unknown group 'dbas'",
        "limits.rules[5].actions: matches no action of any route",
        "limits.rules[9].actions: matches no action of any route",
        "authz.report_only_policies[1]: unknown custom policy 'DDM FullAccess'",
    ]


def test_the_issue_example_is_valid() -> None:
    rules = [
        {"name": "red-team", "per": "group", "groups": ["dba"], "limit": 100, "window_s": 60},
        {"name": "creates", "per": "user", "actions": ["ddm:instance:create", "ddm:database:create"],
         "limit": 5, "window_s": 3600},
        {"name": "domain-cap", "per": "domain", "limit": 2000, "window_s": 60},
        {"name": "new-read-cap", "per": "user", "actions": ["ddm:*:list"], "limit": 30, "window_s": 60,
         "mode": "report"}]
    config = parse_config(data_with(rules, report_only_policies=["no-instance-delete"]))
    assert [r.name for r in config.limits.rules] == ["red-team", "creates", "domain-cap", "new-read-cap"]
    assert config.limits.rules[3].mode == "report" and config.limits.rules[1].actions == tuple(rules[1]["actions"])
    assert config.authz.report_only_policies == ("no-instance-delete",)


def caller(name: str, groups: tuple[str, ...], user_id: str = "u-1", domain_id: str = "d-1") -> Principal:
    return Principal(domain_id, "acme", user_id, name, groups, False, AUTH_TOKEN, "127.0.0.1")


def test_the_rule_set_picks_budgets_by_subject_and_action() -> None:
    config = parse_config(data_with([
        {"name": "team", "per": "group", "groups": ["dba", "readers"], "limit": 9, "window_s": 60},
        {"name": "creates", "per": "user", "actions": ["ddm:instance:create"], "limit": 2, "window_s": 3600},
        {"name": "lists", "per": "domain", "actions": ["ddm:Instance:LIST"], "limit": 50, "window_s": 1, "mode": "report"},
        {"name": "all", "per": "global", "limit": 1000, "window_s": 86400}]))
    rules = RuleSet(config.limits)
    alice = caller("alice", ("dba", "readers"))
    picked = rules.for_request(alice, "ddm:instance:create")
    assert [(r.name, r.key, r.limit, r.window_s, r.report) for r in picked] == [
        ("user", "user:d-1:u-1", 60, 60.0, False), ("global", "global", 8000, 60.0, False),
        ("team:dba", "rule:team:group:d-1:dba", 9, 60.0, False),
        ("team:readers", "rule:team:group:d-1:readers", 9, 60.0, False),
        ("creates", "rule:creates:user:d-1:u-1", 2, 3600.0, False),
        ("all", "rule:all:global", 1000, 86400.0, False)]
    listing = [r.name for r in rules.for_request(caller("dave", ()), "ddm:instance:list")]
    assert listing == ["user", "global", "lists", "all"]          # patterns match case-insensitively
    assert rules.for_request(alice, "ddm:instance:create") is picked   # memoized per (user, action)
    assert [b.rule.name for b in rules.budgets(caller("dave", ()))] == ["user", "global", "creates", "lists", "all"]


@pytest.mark.parametrize(("seconds", "text"), [(1, "1 second"), (45, "45 seconds"), (60, "1 minute"),
                                               (90, "90 seconds"), (600, "10 minutes"), (3600, "1 hour"),
                                               (7200, "2 hours"), (86400, "1 day")])
def test_window_text_follows_huaweis_time_form(seconds: int, text: str) -> None:
    assert window_text(float(seconds)) == text


def test_limits_explain_prints_the_applying_budgets(tmp_path: Path) -> None:
    data = data_with([{"name": "dba-team", "per": "group", "groups": ["dba"], "limit": 100, "window_s": 60},
                      {"name": "creates", "per": "user", "actions": ["ddm:instance:create"], "limit": 5,
                       "window_s": 3600}])
    data["state_dir"] = str(tmp_path)
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(data))
    binary = str(Path(sys.executable).with_name("ddm-gateway"))

    def explain(user: str, action: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([binary, "limits", "explain", "--config", str(path), "--user", user,
                               "--action", action], capture_output=True, text=True, timeout=60, check=False)
    done = explain("alice", "ddm:instance:create")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "alice (acme) doing ddm:instance:create: 4 budgets, checked and recorded in one store round trip",
        "  user             enforce  60 per 1 minute, the user's own",
        "  global           enforce  8000 per 1 minute, shared by everyone",
        "  dba-team         enforce  100 per 1 minute, shared by group dba",
        "  creates          enforce  5 per 1 hour, the user's own; actions ddm:instance:create"]
    bob = explain("bob", "ddm:instance:list").stdout.splitlines()
    assert bob[0].startswith("bob (acme) doing ddm:instance:list: 2 budgets")
    assert bob[-3:] == ["not applying:", "  creates: the action matches none of ddm:instance:create",
                        "  dba-team: bob is in none of the groups dba"]
    assert explain("nobody", "ddm:instance:list").returncode == 2

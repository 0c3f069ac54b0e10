"""Decisions: wildcards, resources, deny precedence across policies, domain owner, dependencies."""
from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies import AuthzRequest, CompiledPolicies, Policy, parse_policy

INSTANCE = "ddm:cn-north-4:dom1:instance:inst-1"


def policy(name: str, *statements: dict) -> Policy:
    return parse_policy(name, {"Version": "1.1", "Statement": list(statements)})


def allow(*actions: str, **extra: object) -> dict:
    return {"Effect": "Allow", "Action": list(actions), **extra}


def deny(*actions: str, **extra: object) -> dict:
    return {"Effect": "Deny", "Action": list(actions), **extra}


def allowed(compiled: CompiledPolicies, action: str, resource: str | None = None) -> bool:
    return compiled.decide(AuthzRequest(action, resource, {})).allowed


WILDCARDS = [
    ("ddm:*:get*", "ddm:instance:get", True),
    ("ddm:*:get*", "ddm:database:getSomething", True),
    ("ddm:*:get*", "ddm:instance:list", False),
    ("ddm:instance:*", "ddm:instance:delete", True),
    ("ddm:instance:*", "ddm:database:delete", False),
    ("*:*:*", "ecs:cloudServers:list", True),
    ("ddm:*", "ddm:instance:get", None),           # invalid: two segments
    ("ddm:*:*", "ddm:instance:get:extra", False),  # '*' never crosses ':'
    ("ddm:inst*:get", "ddm:instance:get", True),
    ("ddm:*ance:g*t", "ddm:instance:get", True),
    ("ddm:instance:GET", "ddm:instance:get", True),   # resource type / operation case-insensitive
    ("ddm:Instance:get", "ddm:INSTANCE:Get", True),
    ("ddm:instance:get", "DDM:instance:get", True),   # request actions are normalized too
    ("dd*:instance:get", "ddm:instance:get", True),
    ("ddm:instance.x:get", "ddm:instanceXx:get", False),  # '.' is literal
    ("ddm:instance:get", "ddm:instance:gets", False),     # anchored
    ("ddm:instance:get", "xddm:instance:get", False),
    ("ddm:*:*", "vpc:ports:delete", False),
]


@pytest.mark.parametrize(("pattern", "action", "expected"), WILDCARDS)
def test_action_wildcards(pattern: str, action: str, expected: bool | None) -> None:
    document = {"Version": "1.1", "Statement": [allow(pattern)]}
    if expected is None:
        with pytest.raises(ValueError):
            parse_policy("p", document)
        return
    assert allowed(CompiledPolicies([parse_policy("p", document)]), action) is expected


RESOURCES = [
    ("DDM:*:*:instance:inst-1", INSTANCE, True),           # service case-insensitive
    ("ddm:*:*:instance:inst-*", INSTANCE, True),
    ("ddm:cn-north-4:dom1:instance:inst-1", INSTANCE, True),
    ("ddm:eu-west-0:*:instance:*", INSTANCE, False),
    ("ddm:*:dom2:instance:*", INSTANCE, False),
    ("ddm:::instance:inst-1", INSTANCE, True),            # empty region/account: any
    ("ddm:*:*:parameterGroup:*", INSTANCE, False),
    ("ddm:*:*:instance:inst-2", INSTANCE, False),
    ("ddm:*:*:instance:inst-1", None, False),             # names one instance, request names none
    ("ddm:*:*:instance:*", None, True),                   # covers every instance
    ("ecs:*:*:instance:*", INSTANCE, False),
    ("ddm:*:*:instance:inst.1", INSTANCE, False),         # '.' literal
]


@pytest.mark.parametrize(("pattern", "resource", "expected"), RESOURCES)
def test_resource_urns(pattern: str, resource: str | None, expected: bool) -> None:
    compiled = CompiledPolicies([policy("p", allow("ddm:instance:*", Resource=[pattern]))])
    assert allowed(compiled, "ddm:instance:get", resource) is expected


def test_statement_without_resource_covers_any_resource() -> None:
    compiled = CompiledPolicies([policy("p", allow("ddm:instance:get"))])
    assert allowed(compiled, "ddm:instance:get", INSTANCE)
    assert allowed(compiled, "ddm:instance:get", None)


def test_deny_wins_across_policies_and_names_the_deciding_statement() -> None:
    compiled = CompiledPolicies([
        policy("full", allow("ddm:*:*")),
        policy("no-delete", allow("ddm:instance:list"), deny("ddm:instance:delete")),
    ])
    decision = compiled.decide(AuthzRequest("ddm:instance:delete", INSTANCE, {}))
    assert (decision.allowed, decision.effect, decision.deciding) == (False, "explicit_deny", (("no-delete", 1),))
    granted = compiled.decide(AuthzRequest("ddm:instance:list", None, {}))
    assert (granted.allowed, granted.effect, granted.deciding) == (True, "allow", (("full", 0),))


def test_deny_on_one_instance_leaves_others() -> None:
    compiled = CompiledPolicies([policy("p", allow("ddm:*:*"), deny("ddm:*:*", Resource=["ddm:*:*:instance:inst-1"]))])
    assert not allowed(compiled, "ddm:instance:get", INSTANCE)
    assert allowed(compiled, "ddm:instance:get", INSTANCE.replace("inst-1", "inst-2"))
    assert allowed(compiled, "ddm:instance:list", None)


def test_implicit_deny_when_nothing_applies() -> None:
    compiled = CompiledPolicies([policy("p", allow("ddm:*:list*"))])
    decision = compiled.decide(AuthzRequest("ddm:instance:delete", INSTANCE, {}))
    assert (decision.allowed, decision.effect, decision.deciding) == (False, "implicit_deny", ())
    assert not CompiledPolicies([]).decide(AuthzRequest("ddm:instance:list", None, {})).allowed


def test_domain_owner_may_do_everything_even_against_a_deny() -> None:
    compiled = CompiledPolicies([policy("p", deny("*:*:*"))])
    decision = compiled.decide(AuthzRequest("ddm:instance:delete", INSTANCE, {}), domain_owner=True)
    assert (decision.allowed, decision.effect) == (True, "owner")
    assert not compiled.decide(AuthzRequest("ddm:instance:delete", INSTANCE, {})).allowed


def test_not_action() -> None:
    compiled = CompiledPolicies([parse_policy("p", {"Version": "5.0", "Statement": [
        {"Effect": "Allow", "NotAction": ["ddm:instance:delete", "ddm:instance:create"]},
        {"Effect": "Deny", "NotAction": ["ddm:*:*", "vpc:*:*"]}]})])
    assert allowed(compiled, "ddm:instance:get")
    assert not allowed(compiled, "ddm:instance:delete")
    assert allowed(compiled, "vpc:ports:get")
    assert not allowed(compiled, "ecs:servers:get")


DEPENDENCIES = [
    # (grants, dependency, expected): dependency patterns are decided as literal action strings
    ([allow("ecs:*:*")], "ecs:*:get*", True),
    ([allow("ecs:*:get*")], "ecs:*:get*", True),
    ([allow("*:*:*")], "vpc:ports:*", True),
    ([allow("ecs:cloudServers:get")], "ecs:*:get*", False),
    ([allow("vpc:ports:delete")], "vpc:ports:*", False),
    ([allow("*:*:*"), deny("vpc:*:*")], "vpc:ports:*", False),
    ([allow("*:*:*"), deny("vpc:ports:delete")], "vpc:ports:delete", False),
]


@pytest.mark.parametrize(("statements", "dependency", "expected"), DEPENDENCIES)
def test_dependency_actions(statements: list[dict], dependency: str, expected: bool) -> None:
    compiled = CompiledPolicies([policy("p", *statements)])
    assert allowed(compiled, dependency) is expected


def test_dependency_denial_blocks_buying_an_instance() -> None:
    """What the authorize stage does: the action and every dependency must be allowed."""
    from policies import RouteCatalog, load_system_policies

    catalog = RouteCatalog.load_default()
    route = catalog.match("POST", ("", "v1", "p1", "instances"))
    assert route is not None and route.dependencies
    system = load_system_policies()
    ok = CompiledPolicies([system["DDM FullAccess"]])
    no_vpc = CompiledPolicies([system["DDM FullAccess"], policy("no-vpc", deny("vpc:*:*"))])
    only_ddm = CompiledPolicies([policy("ddm-only", allow("ddm:*:*"))])

    def buy(compiled: CompiledPolicies) -> list[str]:
        assert allowed(compiled, route.action)
        return [d for d in route.dependencies if not allowed(compiled, d)]

    assert buy(ok) == []
    assert set(buy(no_vpc)) == {d for d in route.dependencies if d.startswith("vpc:")}
    assert buy(only_ddm) == list(route.dependencies)


def test_compiled_policies_are_reusable_and_memo_is_bounded() -> None:
    compiled = CompiledPolicies([policy("p", allow("ddm:*:get*"))])
    for i in range(5000):
        compiled.decide(AuthzRequest(f"ddm:x{i}:get", None, {}))
    assert allowed(compiled, "ddm:x1:get") and not allowed(compiled, "ddm:x1:list")


# --- property: no request is ever allowed when an applicable Deny statement matches it -------

SEGMENTS = st.sampled_from(["*", "instance", "database", "get", "list", "get*", "*e*", "i*", "delete"])
SERVICES = st.sampled_from(["ddm", "vpc", "*", "d*"])
PATTERNS = st.builds(lambda a, b, c: f"{a}:{b}:{c}", SERVICES, SEGMENTS, SEGMENTS)
ACTIONS = st.builds(lambda a, b, c: f"{a}:{b}:{c}", st.sampled_from(["ddm", "vpc", "ecs"]),
                    st.sampled_from(["instance", "database", "Instance"]),
                    st.sampled_from(["get", "list", "delete", "getDetail"]))
RESOURCE_PATTERNS = st.sampled_from(["ddm:*:*:instance:*", "ddm:*:*:instance:i1", "ddm:*:*:instance:i2",
                                     "DDM:cn-north-4:*:instance:i*"])
CONDITIONS = st.sampled_from([None, {"StringEquals": {"g:UserName": ["alice"]}},
                              {"StringNotEquals": {"g:UserName": ["alice"]}},
                              {"BoolIfExists": {"g:MFAPresent": ["true"]}}])


@st.composite
def statements(draw: st.DrawFn) -> dict:
    statement: dict = {"Effect": draw(st.sampled_from(["Allow", "Deny"])),
                       "Action": draw(st.lists(PATTERNS, min_size=1, max_size=3))}
    if draw(st.booleans()):
        statement["Resource"] = draw(st.lists(RESOURCE_PATTERNS, min_size=1, max_size=2))
    condition = draw(CONDITIONS)
    if condition:
        statement["Condition"] = condition
    return statement


def naive_deny_applies(statement: dict, action: str, resource: str | None, context: dict) -> bool:
    """Reference check, written independently of the engine with fnmatch."""
    def covers(pattern: str) -> bool:
        return all(fnmatch.fnmatchcase(a.lower(), p.lower().replace("[", "[[]"))
                   for a, p in zip(action.split(":"), pattern.split(":")))
    if not any(covers(p) for p in statement["Action"]):
        return False
    if "Resource" in statement:
        if resource is None:
            if not any(r.endswith(":*") for r in statement["Resource"]):
                return False
        elif not any(fnmatch.fnmatchcase(resource.lower(), r.lower()) for r in statement["Resource"]):
            return False
    condition = statement.get("Condition") or {}
    user, mfa = context.get("g:UserName"), context.get("g:MFAPresent")
    if "StringEquals" in condition:
        return user == "alice"
    if "StringNotEquals" in condition:
        return user != "alice"
    if "BoolIfExists" in condition:
        return mfa is None or mfa == "true"
    return True


@settings(max_examples=300, deadline=None)
@given(policies=st.lists(st.lists(statements(), min_size=1, max_size=4), min_size=1, max_size=3),
       action=ACTIONS, resource=st.sampled_from([None, "ddm:cn-north-4:d:instance:i1", "ddm:eu:d:instance:i2"]),
       user=st.sampled_from([None, "alice", "bob"]), mfa=st.sampled_from([None, "true", "false"]))
def test_never_allows_what_an_applicable_deny_matches(policies: list[list[dict]], action: str,
                                                      resource: str | None, user: str | None,
                                                      mfa: str | None) -> None:
    context = {k: v for k, v in (("g:UserName", user), ("g:MFAPresent", mfa)) if v is not None}
    parsed = [policy(f"p{i}", *s) for i, s in enumerate(policies)]
    decision = CompiledPolicies(parsed).decide(AuthzRequest(action, resource, context))
    denying = [(f"p{i}", j) for i, s in enumerate(policies) for j, st_ in enumerate(s)
               if st_["Effect"] == "Deny" and naive_deny_applies(st_, action, resource, context)]
    if denying:
        assert not decision.allowed and decision.effect == "explicit_deny"
        assert set(decision.deciding) == set(denying)
    else:
        assert decision.effect != "explicit_deny"
    # adding a Deny for the very action never grants anything
    stricter = CompiledPolicies(parsed + [policy("deny", deny(action.lower()))])
    assert not stricter.decide(AuthzRequest(action, resource, context)).allowed


def test_allow_names_a_plain_statement_before_a_conditional_one() -> None:
    compiled = CompiledPolicies([
        policy("cond", allow("ddm:*:*", Condition={"Bool": {"g:MFAPresent": ["true"]}})),
        policy("plain", allow("ddm:instance:get")),
    ])
    decision = compiled.decide(AuthzRequest("ddm:instance:get", None, {"g:MFAPresent": "true"}))
    assert decision.deciding == (("plain", 0),)

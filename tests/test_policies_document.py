"""Policy validation: IAM's documented limits, every problem reported with its location."""
from __future__ import annotations

import json

import pytest

from policies import PolicyError, parse_policy, validate_document


def doc(*statements: dict, version: str = "1.1") -> dict:
    return {"Version": version, "Statement": list(statements)}


ALLOW_GET = {"Effect": "Allow", "Action": ["ddm:instance:get"]}


def test_valid_documents_have_no_problems() -> None:
    assert validate_document(doc(ALLOW_GET)) == []
    assert validate_document(json.dumps(doc(ALLOW_GET))) == []
    full = {"Sid": "s1", "Effect": "deny", "NotAction": ["ddm:*:get*"], "Resource": ["DDM:*:*:instance:*"],
            "Condition": {"ForAnyValue:StringEqualsIfExists": {"g:UserName": ["a"]}}}
    assert validate_document(doc(full, version="5.0")) == []


INVALID = [
    ({"Statement": [ALLOW_GET]}, "Version: is required"),
    (doc(ALLOW_GET, version="1.0"), "Version: is required and must be one of 1.1, 5.0 (got '1.0')"),
    ({"Version": "1.1"}, "Statement: must be a list of 1-8 statements"),
    (doc(), "Statement: must be a list of 1-8 statements"),
    (doc(*[ALLOW_GET] * 9), "Statement: must be a list of 1-8 statements"),
    ({"Version": "1.1", "Statement": [ALLOW_GET], "Extra": 1}, "Extra: unknown element"),
    (doc({"Effect": "Permit", "Action": ["ddm:instance:get"]}), "Statement[0].Effect: is required"),
    (doc({"Action": ["ddm:instance:get"]}), "Statement[0].Effect: is required"),
    (doc({"Effect": "Allow"}), "Statement[0]: needs exactly one of Action or NotAction"),
    (doc({"Effect": "Deny", "Action": ["a:b:c"], "NotAction": ["a:b:d"]}),
     "Statement[0]: needs exactly one of Action or NotAction"),
    (doc({"Effect": "Allow", "NotAction": ["ddm:*:*"]}), "Statement[0].NotAction: cannot be used with Effect 'Allow'"),
    (doc(ALLOW_GET, {"Effect": "Allow", "Action": ["ddm:instance"]}),
     "Statement[1].Action[0]: 'ddm:instance' must have the form service:resourceType:operation"),
    (doc({"Effect": "Allow", "Action": ["ddm:instance:get", "DDM:instance:get"]}),
     "Statement[0].Action[1]: service 'DDM' must be lowercase"),
    (doc({"Effect": "Allow", "Action": ["ddm:inst(ance:get"]}), "Statement[0].Action[0]: 'ddm:inst(ance:get' may only use"),
    (doc({"Effect": "Allow", "Action": ["ddm:x:" + "a" * 130]}), "Statement[0].Action[0]: is longer than 128"),
    (doc({"Effect": "Allow", "Action": [f"ddm:instance:op{i}" for i in range(101)]}),
     "Statement[0].Action: must be a list of 1-100 actions"),
    (doc({"Effect": "Allow", "Action": []}), "Statement[0].Action: must be a list of 1-100 actions"),
    (doc({"Effect": "Allow", "Action": [3]}), "Statement[0].Action[0]: must be a string"),
    (doc({"Effect": "Allow", "Action": ["ddm:*:*"], "Resource": ["ddm:*:instance:x"]}),
     "Statement[0].Resource[0]: 'ddm:*:instance:x' must have the form"),
    (doc({"Effect": "Allow", "Action": ["ddm:*:*"], "Resource": ["ddm:*:*:instance:x"] * 21}),
     "Statement[0].Resource: must be a list of 1-20 resource URNs"),
    (doc({"Effect": "Allow", "Action": ["ddm:*:*"], "Condition": {"StringSortOf": {"g:UserName": ["a"]}}}),
     "Statement[0].Condition.StringSortOf: unknown condition operator"),
    (doc({"Effect": "Allow", "Action": ["ddm:*:*"], "Condition": {"Maybe:StringEquals": {"g:UserName": ["a"]}}}),
     "Statement[0].Condition.Maybe:StringEquals: unknown condition operator"),
    (doc({"Effect": "Allow", "Action": ["ddm:*:*"], "Condition": {"NumberEquals": {"g:MFAAge": ["ten"]}}}),
     "Statement[0].Condition.NumberEquals.g:MFAAge[0]: 'ten' is not a valid number value"),
    (doc({"Effect": "Allow", "Action": ["ddm:*:*"], "Condition": {"DateLessThan": {"g:CurrentTime": ["tomorrow"]}}}),
     "Statement[0].Condition.DateLessThan.g:CurrentTime[0]: 'tomorrow' is not a valid date value"),
    (doc({"Effect": "Allow", "Action": ["ddm:*:*"], "Condition": {"IpAddress": {"g:SourceIp": ["10.0.0.300/8"]}}}),
     "Statement[0].Condition.IpAddress.g:SourceIp[0]: '10.0.0.300/8' is not a valid ip value"),
    (doc({"Effect": "Allow", "Action": ["ddm:*:*"], "Condition": {"Bool": {"g:MFAPresent": ["yes"]}}}),
     "Statement[0].Condition.Bool.g:MFAPresent[0]: 'yes' is not a valid bool value"),
    (doc({"Effect": "Allow", "Action": ["ddm:*:*"], "Condition": {"StringEquals": {"g:UserName": []}}}),
     "Statement[0].Condition.StringEquals.g:UserName: must be a non-empty list of strings"),
    (doc({"Effect": "Allow", "Action": ["ddm:*:*"], "Condition": {"StringEquals": {"g:UserName": [""]}}}),
     "Statement[0].Condition.StringEquals.g:UserName[0]: value length must be 1-1024"),
    (doc({"Effect": "Allow", "Action": ["ddm:*:*"],
          "Condition": {"StringEquals": {f"g:K{i}": ["v"] for i in range(11)}}}),
     "Statement[0].Condition: has 11 conditions; at most 10 are allowed"),
    (doc({"Effect": "Allow", "Action": ["ddm:*:*"], "Condition": {}}), "Statement[0].Condition: must be a non-empty object"),
    (doc({"Effect": "Allow", "Action": ["ddm:*:*"], "Sid": 5}), "Statement[0].Sid: must be a string"),
    (doc({"Effect": "Allow", "Action": ["ddm:*:*"], "Principal": "*"}), "Statement[0].Principal: unknown element"),
    (doc(*[{"Effect": "Allow", "Action": [f"ddm:instance:{'x' * 120}{i}" for i in range(7)]}] * 8),
     "(document): is "),
    ("{not json", "(document): not valid JSON"),
    ([ALLOW_GET], "(document): must be a JSON object"),
]


@pytest.mark.parametrize(("document", "expected"), INVALID)
def test_invalid_documents_name_the_problem_and_its_place(document: object, expected: str) -> None:
    problems = validate_document(document)
    assert any(p.startswith(expected) for p in problems), problems


def test_all_problems_are_reported_at_once() -> None:
    problems = validate_document({"Statement": [{"Effect": "x", "Action": ["bad"]}, "oops"]})
    assert len(problems) == 4, problems


def test_parse_policy_raises_with_every_problem_and_the_policy_name() -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy("mine", doc({"Effect": "Allow", "Action": ["x"]}, {"Effect": "Allow"}))
    assert len(caught.value.problems) == 2
    assert all(p.startswith("policy 'mine': Statement[") for p in caught.value.problems)
    assert isinstance(caught.value, ValueError)


def test_parse_policy_normalizes_into_frozen_data() -> None:
    policy = parse_policy("p", doc({"Sid": "a", "Effect": "deny", "Action": "ddm:*:*", "Resource": "ddm:*:*:instance:*",
                                    "Condition": {"ForAllValues:StringLikeIfExists": {"g:Tags": "x*"}}}))
    (statement,) = policy.statements
    assert (statement.effect, statement.actions, statement.resources, statement.sid) == (
        "Deny", ("ddm:*:*",), ("ddm:*:*:instance:*",), "a")
    (condition,) = statement.conditions
    assert (condition.base, condition.qualifier, condition.if_exists, condition.key, condition.values) == (
        "StringLike", "ForAllValues", True, "g:Tags", ("x*",))
    with pytest.raises(AttributeError):
        statement.effect = "Allow"  # type: ignore[misc]


def test_notaction_allow_is_fine_in_version_5() -> None:
    assert validate_document(doc({"Effect": "Allow", "NotAction": ["iam:*:*"]}, version="5.0")) == []


# --- fuzz: validation never crashes, and what it accepts always parses and compiles ----------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from policies import AuthzRequest, CompiledPolicies  # noqa: E402

SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.sampled_from(["Allow", "deny", "ddm:*:*", "ddm:instance:get", "1.1", "*",
                                     "ddm:*:*:instance:*", "10.0.0.0/8", "true", "", "a:b", "x" * 2000]))
JSONISH = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(["Version", "Statement", "Effect", "Action", "NotAction", "Resource",
                                     "Condition", "Sid", "StringEquals", "IpAddress", "NumberEquals",
                                     "ForAllValues:StringLike", "IsNullOrEmpty", "g:UserName", "x"]),
                    inner, max_size=5)), max_leaves=20)
STATEMENT = st.fixed_dictionaries({"Effect": st.sampled_from(["Allow", "Deny", "allow", "x"]),
                                   "Action": st.one_of(JSONISH, st.just(["ddm:*:*"]))},
                                  optional={"Condition": JSONISH, "Resource": JSONISH, "Sid": JSONISH})
DOCUMENTS = st.one_of(JSONISH, st.fixed_dictionaries(
    {"Version": st.sampled_from(["1.1", "5.0", 1.1]), "Statement": st.lists(STATEMENT, max_size=3)}))


@settings(max_examples=400, deadline=None)
@given(DOCUMENTS)
def test_validation_never_crashes_and_accepted_documents_compile(document: object) -> None:
    problems = validate_document(document)
    assert all(isinstance(p, str) and ": " in p for p in problems)
    if not problems:
        compiled = CompiledPolicies([parse_policy("fuzz", document)])
        compiled.decide(AuthzRequest("ddm:instance:get", "ddm:r:d:instance:i", {"g:UserName": "a"}))
    else:
        with pytest.raises(PolicyError):
            parse_policy("fuzz", document)


REGISTRY = [
    ("ddm:instance:delet", ["Statement[0].Action[0]: Action 'ddm:instance:delet' has not been registered."]),
    ("ddm:instanse:*", ["Statement[0].Action[0]: Action 'ddm:instanse:*' has not been registered."]),
    ("ddm:instance:delete", []),
    ("ddm:*:get*", []),
    ("DDM_fake:x:y".lower(), []),          # other services are not checked
    ("vpc:ports:whatever", []),
]


@pytest.mark.parametrize(("action", "expected"), REGISTRY)
def test_known_actions_catch_typos(action: str, expected: list[str]) -> None:
    from policies import RouteCatalog

    known = RouteCatalog.load_default().registered_actions()
    assert validate_document(doc({"Effect": "Deny", "Action": [action]}), known_actions=known) == expected
    assert validate_document(doc({"Effect": "Deny", "Action": [action]})) == []

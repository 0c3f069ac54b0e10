"""Every condition operator, table-driven: plain, IfExists, ForAnyValue/ForAllValues, missing keys."""
from __future__ import annotations

import pytest

from policies import AuthzRequest, CompiledPolicies, parse_policy

NOW = "2026-11-28T10:00:00Z"
BASE = {"g:UserName": "alice", "g:CurrentTime": NOW, "g:SourceIp": "10.1.2.3",
        "g:MFAPresent": "true", "g:MFAAge": "300", "g:AuthMethod": "aksk",
        "g:ProjectName": "cn-north-4", "ddm:InstanceId": "inst-1",
        "g:Tags": ["env=prod", "team=db"], "g:Empty": ""}


def holds(operator: str, key: str, values: list[str] | str, context: dict | None = None) -> bool:
    """Whether an Allow statement guarded by one condition applies."""
    document = {"Version": "1.1", "Statement": [{
        "Effect": "Allow", "Action": ["ddm:*:*"], "Condition": {operator: {key: values}}}]}
    compiled = CompiledPolicies([parse_policy("p", document)])
    request = AuthzRequest("ddm:instance:get", None, BASE if context is None else context)
    return compiled.decide(request).allowed


CASES = [
    # string equality, case-sensitive and not
    ("StringEquals", "g:UserName", ["bob", "alice"], True),
    ("StringEquals", "g:UserName", ["Alice"], False),
    ("StringNotEquals", "g:UserName", ["bob"], True),
    ("StringNotEquals", "g:UserName", ["bob", "alice"], False),
    ("StringEqualsIgnoreCase", "g:UserName", ["ALICE"], True),
    ("StringEqualsIgnoreCase", "g:UserName", ["bob"], False),
    ("StringNotEqualsIgnoreCase", "g:UserName", ["ALICE"], False),
    ("StringNotEqualsIgnoreCase", "g:UserName", ["bob"], True),
    # globs: * and ? only, regex metacharacters literal
    ("StringLike", "g:UserName", ["al*"], True),
    ("StringLike", "g:UserName", ["a?ice"], True),
    ("StringLike", "g:UserName", ["a.*"], False),
    ("StringLike", "g:UserName", ["AL*"], False),
    ("StringNotLike", "g:UserName", ["b*"], True),
    ("StringNotLike", "g:UserName", ["*ic*"], False),
    ("StringMatch", "g:ProjectName", ["cn-*-4"], True),
    ("StringMatch", "g:ProjectName", ["cn-north-?"], True),
    ("StringNotMatch", "g:ProjectName", ["cn-*"], False),
    ("StringNotMatch", "g:ProjectName", ["eu-*"], True),
    ("StringStartWith", "g:UserName", ["ali"], True),
    ("StringStartWith", "g:UserName", ["lic"], False),
    ("StringEndWith", "g:UserName", ["ice"], True),
    ("StringEndWith", "g:UserName", ["ali"], False),
    # numbers
    ("NumberEquals", "g:MFAAge", ["300"], True),
    ("NumberEquals", "g:MFAAge", ["300.0"], True),
    ("NumberEquals", "g:MFAAge", ["301"], False),
    ("NumberNotEquals", "g:MFAAge", ["301"], True),
    ("NumberNotEquals", "g:MFAAge", ["300"], False),
    ("NumberLessThan", "g:MFAAge", ["301"], True),
    ("NumberLessThan", "g:MFAAge", ["300"], False),
    ("NumberLessThanEquals", "g:MFAAge", ["300"], True),
    ("NumberLessThanEquals", "g:MFAAge", ["299"], False),
    ("NumberGreaterThan", "g:MFAAge", ["299"], True),
    ("NumberGreaterThan", "g:MFAAge", ["300"], False),
    ("NumberGreaterThanEquals", "g:MFAAge", ["300"], True),
    ("NumberGreaterThanEquals", "g:MFAAge", ["301"], False),
    ("NumberEquals", "g:UserName", ["1"], False),          # not a number: no match
    # dates (ISO 8601; naive means UTC)
    ("DateLessThan", "g:CurrentTime", ["2026-11-28T10:00:01Z"], True),
    ("DateLessThan", "g:CurrentTime", [NOW], False),
    ("DateLessThanEquals", "g:CurrentTime", [NOW], True),
    ("DateLessThanEquals", "g:CurrentTime", ["2026-11-28T09:59:59Z"], False),
    ("DateGreaterThan", "g:CurrentTime", ["2026-11-28T09:59:59"], True),
    ("DateGreaterThan", "g:CurrentTime", [NOW], False),
    ("DateGreaterThanEquals", "g:CurrentTime", ["2026-11-28T11:00:00+01:00"], True),
    ("DateGreaterThanEquals", "g:CurrentTime", ["2026-11-29"], False),
    ("DateGreaterThan", "g:UserName", ["2000-01-01"], False),  # not a date: no match
    # booleans
    ("Bool", "g:MFAPresent", ["true"], True),
    ("Bool", "g:MFAPresent", ["TRUE"], True),
    ("Bool", "g:MFAPresent", ["false"], False),
    ("Bool", "g:MFAPresent", True, True),
    # IP ranges
    ("IpAddress", "g:SourceIp", ["10.0.0.0/8"], True),
    ("IpAddress", "g:SourceIp", ["192.168.0.0/16", "10.1.2.3"], True),
    ("IpAddress", "g:SourceIp", ["192.168.0.0/16"], False),
    ("IpAddress", "g:UserName", ["0.0.0.0/0"], False),     # not an address: no match
    ("NotIpAddress", "g:SourceIp", ["192.168.0.0/16"], True),
    ("NotIpAddress", "g:SourceIp", ["10.0.0.0/8"], False),
    ("IpAddress", "g:SourceIp", ["::/0"], False),
    # null / empty
    ("IsNullOrEmpty", "g:Missing", ["true"], True),
    ("IsNullOrEmpty", "g:Empty", ["true"], True),
    ("IsNullOrEmpty", "g:UserName", ["true"], False),
    ("IsNullOrEmpty", "g:UserName", ["false"], True),
    ("IsNullOrEmpty", "g:Missing", ["false"], False),
    # scalar values are accepted; operator and key names are case-insensitive
    ("stringequals", "G:USERNAME", "alice", True),
]


@pytest.mark.parametrize(("operator", "key", "values", "expected"), CASES)
def test_operator(operator: str, key: str, values: list[str], expected: bool) -> None:
    assert holds(operator, key, values) is expected


MISSING = [
    # a missing key makes a positive operator false, a negated one true, IfExists true
    ("StringEquals", False), ("StringEqualsIfExists", True),
    ("StringNotEquals", True), ("StringNotEqualsIfExists", True),
    ("StringLike", False), ("StringLikeIfExists", True),
    ("StringStartWith", False), ("StringEndWithIfExists", True),
    ("NumberLessThan", False), ("NumberLessThanIfExists", True),
    ("DateGreaterThan", False), ("DateGreaterThanIfExists", True),
    ("Bool", False), ("BoolIfExists", True),
    ("IpAddress", False), ("IpAddressIfExists", True), ("NotIpAddress", True),
    ("ForAnyValue:StringEquals", False), ("ForAnyValue:StringEqualsIfExists", True),
    ("ForAllValues:StringEquals", True),
]


@pytest.mark.parametrize(("operator", "expected"), MISSING)
@pytest.mark.parametrize("key", ["g:Missing", "g:Empty"])
def test_missing_or_empty_key(operator: str, expected: bool, key: str) -> None:
    value = "2026-01-01T00:00:00Z" if "Date" in operator else "10.0.0.0/8" if "Ip" in operator \
        else "true" if "Bool" in operator else "1"
    assert holds(operator, key, [value]) is expected


IF_EXISTS_PRESENT = [
    ("StringEqualsIfExists", ["alice"], True), ("StringEqualsIfExists", ["bob"], False),
    ("StringEndWithIfExists", ["ice"], True), ("StringEndWithIfExists", ["x"], False),
]


@pytest.mark.parametrize(("operator", "values", "expected"), IF_EXISTS_PRESENT)
def test_if_exists_still_checks_a_present_value(operator: str, values: list[str], expected: bool) -> None:
    assert holds(operator, "g:UserName", values) is expected


MULTI = [
    # request g:Tags = [env=prod, team=db]
    ("ForAnyValue:StringEquals", ["env=prod"], True),
    ("ForAnyValue:StringEquals", ["env=dev"], False),
    ("ForAllValues:StringEquals", ["env=prod", "team=db", "x"], True),
    ("ForAllValues:StringEquals", ["env=prod"], False),
    ("ForAnyValue:StringNotEquals", ["env=prod"], True),       # team=db differs
    ("ForAllValues:StringNotEquals", ["env=prod"], False),     # env=prod does not differ
    ("ForAllValues:StringNotEquals", ["x"], True),
    ("ForAllValues:StringLike", ["*=*"], True),
    ("ForAnyValue:StringLike", ["team=*"], True),
    ("StringEquals", ["team=db"], True),                        # no prefix: any value
    ("StringNotEquals", ["team=db"], False),                    # no prefix, negated: none may match
    ("forallvalues:stringequals", ["env=prod", "team=db"], True),
]


@pytest.mark.parametrize(("operator", "values", "expected"), MULTI)
def test_multi_valued_keys(operator: str, values: list[str], expected: bool) -> None:
    assert holds(operator, "g:Tags", values) is expected


def test_operators_and_keys_are_anded_values_ored() -> None:
    document = {"Version": "1.1", "Statement": [{
        "Effect": "Allow", "Action": ["ddm:*:*"],
        "Condition": {"StringEquals": {"g:UserName": ["bob", "alice"], "g:AuthMethod": ["aksk"]},
                      "Bool": {"g:MFAPresent": ["true"]}}}]}
    compiled = CompiledPolicies([parse_policy("p", document)])
    decide = lambda ctx: compiled.decide(AuthzRequest("ddm:instance:get", None, ctx)).allowed
    assert decide(BASE)
    assert not decide({**BASE, "g:AuthMethod": "token"})
    assert not decide({**BASE, "g:MFAPresent": "false"})
    assert decide({**BASE, "g:UserName": "bob"})


def test_deny_with_false_condition_does_not_deny() -> None:
    document = {"Version": "1.1", "Statement": [
        {"Effect": "Allow", "Action": ["ddm:*:*"]},
        {"Effect": "Deny", "Action": ["ddm:*:*"], "Condition": {"NotIpAddress": {"g:SourceIp": ["10.0.0.0/8"]}}}]}
    compiled = CompiledPolicies([parse_policy("p", document)])
    inside = compiled.decide(AuthzRequest("ddm:instance:get", None, BASE))
    outside = compiled.decide(AuthzRequest("ddm:instance:get", None, {**BASE, "g:SourceIp": "8.8.8.8"}))
    assert (inside.allowed, inside.effect) == (True, "allow")
    assert (outside.allowed, outside.effect, outside.deciding) == (False, "explicit_deny", (("p", 1),))


def test_context_values_may_be_booleans_numbers_or_lists_under_any_key_case() -> None:
    context = {"G:MFAPRESENT": True, "g:MFAAge": 300, "g:Tags": ("a", ""), "g:UserName": ["", "alice"]}
    assert holds("Bool", "g:MFAPresent", ["true"], context)
    assert holds("NumberLessThan", "g:mfaage", ["301"], context)
    assert holds("ForAllValues:StringEquals", "g:Tags", ["a"], context)
    assert holds("StringEquals", "g:UserName", ["alice"], context)

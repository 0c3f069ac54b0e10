"""Fault injection rules for testing the gateway against a misbehaving upstream.

Pure: a rule is data, matching is a function. Path patterns are globs where ``*`` matches one
path segment and ``**`` any number of them; they are escaped before becoming regexes.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any, Mapping

from ddmsim.errors import fail


@dataclass(frozen=True)
class FaultRule:
    method: str
    path: str
    delay_s: float = 0.0
    status: int | None = None
    body: str = ""
    content_type: str = "application/json"
    drop: bool = False
    times: int | None = None   # None: every matching request

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method.upper()) and re.fullmatch(glob_regex(self.path), path) is not None


def glob_regex(pattern: str) -> str:
    parts = re.split(r"(\*\*|\*)", pattern)
    table = {"**": ".*", "*": "[^/]*"}
    return "".join(table.get(part, re.escape(part)) for part in parts)


def _body_text(body: Any) -> str:
    """A string body is sent as-is (HTML, garbage, empty); JSON values are serialised."""
    if body is None:
        return ""
    return body if isinstance(body, str) else json.dumps(body)


def parse_rule(data: Any) -> FaultRule:
    """Build a rule from the admin API's JSON, refusing anything malformed with a 400."""
    if not isinstance(data, dict) or not isinstance(data.get("path", "/**"), str):
        raise fail("parameter_error")
    try:
        rule = FaultRule(
            method=str(data.get("method", "*")).upper(), path=data.get("path", "/**"),
            delay_s=float(data.get("delay_s", 0.0)),
            status=None if data.get("status") is None else int(data["status"]),
            body=_body_text(data.get("body")), content_type=str(data.get("content_type", "application/json")),
            drop=bool(data.get("drop", False)),
            times=None if data.get("times") is None else int(data["times"]),
        )
    except (TypeError, ValueError):
        raise fail("parameter_error") from None
    if rule.delay_s < 0 or (rule.status is not None and not 100 <= rule.status <= 599):
        raise fail("parameter_error")
    return rule


def take_fault(rules: list[FaultRule], method: str, path: str) -> tuple[FaultRule | None, list[FaultRule]]:
    """The first matching rule and the rule list after using it up once."""
    for index, rule in enumerate(rules):
        if rule.matches(method, path):
            if rule.times is None:
                return rule, rules
            left = rules[:index] + ([replace(rule, times=rule.times - 1)] if rule.times > 1 else []) + rules[index + 1:]
            return rule, left
    return None, rules


def rule_view(rule: FaultRule) -> Mapping[str, Any]:
    return {"method": rule.method, "path": rule.path, "delay_s": rule.delay_s, "status": rule.status,
            "body": rule.body, "content_type": rule.content_type, "drop": rule.drop, "times": rule.times}

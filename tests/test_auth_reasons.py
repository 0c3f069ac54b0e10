"""The reasons authentication failures are counted under: a closed set, spelled at the failure."""
from __future__ import annotations

import ast

from gateway.authn.failures import AUTH_FAILURE_REASONS

from .test_import_direction import project_modules


def test_every_authentication_failure_reason_is_a_known_label() -> None:
    """The labels of ddmgw_auth_failures_total are a closed set: every `reason=` (AuthFailure)
    and `kind=` (SignatureError) the code spells, and the metric incremented directly, is in
    AUTH_FAILURE_REASONS."""
    spelled: set[str] = set()
    for path in project_modules().values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                for keyword in node.keywords:
                    if keyword.arg in ("reason", "kind") and isinstance(keyword.value, ast.Constant) \
                            and ("unauthorized" in ast.unparse(node.func) or "SignatureError" in ast.unparse(node.func)):
                        spelled.add(keyword.value.value)
                if ast.unparse(node.func).endswith(("auth_failures.inc", "count_failure")) \
                        and isinstance(node.args[0], ast.Constant):
                    spelled.add(node.args[0].value)
    assert {"unknown_access_key", "date_out_of_window", "bad_password"} <= spelled   # the walk sees them
    assert spelled <= AUTH_FAILURE_REASONS

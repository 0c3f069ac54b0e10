"""Runs last (file order): no configured secret and no issued token appears in any log."""
from __future__ import annotations

import pytest

from .harness import ACME, ISSUED_TOKENS, OTHER_DOMAIN, TEST_LOG_DIR


def configured_secrets() -> list[str]:
    secrets = []
    for domain in (ACME, OTHER_DOMAIN):
        secrets.append(domain["password"])
        for user in domain["users"]:
            secrets.append(user["password"])
            secrets.extend(key["sk"] for key in user["access_keys"])
    return secrets


def test_logs_were_written() -> None:
    if not ISSUED_TOKENS:
        pytest.skip("run with the end-to-end tests: they produce the logs this checks")
    assert (TEST_LOG_DIR / "access.log").exists(), "the e2e tests should have produced access logs"
    assert (TEST_LOG_DIR / "audit.log").stat().st_size > 0


def test_no_secret_or_token_in_any_log() -> None:
    needles = configured_secrets() + ISSUED_TOKENS
    for path in TEST_LOG_DIR.iterdir():
        text = path.read_text(encoding="utf-8", errors="replace")
        for needle in needles:
            assert needle not in text, f"{path.name} contains a secret or token"

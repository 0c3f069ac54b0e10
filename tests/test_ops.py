"""Operations: admin endpoints, metrics after traffic, audit trail, config reload."""
from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import pytest
import yaml

from gateway.http.admin import create_admin_app
from gateway.observability.metrics import GatewayMetrics
from gateway.observability.writer import LogPump, StreamTarget
from gateway.reload import reload_config, watch_file
from gateway.services import SERVICES

from .harness import BOB_AK, BOB_SK, CAROL_AK, CAROL_SK, PROJECT_ID, TEST_LOG_DIR, config_data
from .stack import Stack, http, start_stack
from .test_logs_support import record_of

INSTANCES = f"/v1/{PROJECT_ID}/instances"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(str(tmp_path_factory.mktemp("ops")))
    admin_port = stack.servers.serve(create_admin_app(stack.apps[0]))
    stack.admin_url = f"http://127.0.0.1:{admin_port}"  # type: ignore[attr-defined]
    yield stack
    stack.servers.close()


def test_health_and_readiness(stack: Stack) -> None:
    assert http("GET", stack.admin_url + "/healthz").status == 200
    ready = http("GET", stack.admin_url + "/readyz")
    assert ready.status == 200, ready.body
    assert ready.json()["checks"]["store"] == "ok"


def test_metrics_count_traffic(stack: Stack) -> None:
    assert http("GET", stack.url + INSTANCES, ak=BOB_AK, sk=BOB_SK).status == 200
    assert http("GET", stack.url + INSTANCES, ak=BOB_AK, sk="wrong").status == 401
    text = http("GET", stack.admin_url + "/metrics").body.decode()
    assert 'ddmgw_requests_total{action="ddm:instance:list",status="200"}' in text
    assert 'ddmgw_auth_failures_total{reason="bad_signature"}' in text
    assert 'ddmgw_upstream_latency_seconds_count{action="ddm:instance:list"}' in text
    assert 'ddmgw_policy_decisions_total{effect="allow"}' in text


def test_each_authentication_failure_is_counted_under_its_own_reason(stack: Stack) -> None:
    """The label comes from the failure itself (AuthFailure.reason), not from its wording."""
    old = datetime.now(timezone.utc) - timedelta(minutes=20)
    cases = {
        "unknown_access_key": http("GET", stack.url + INSTANCES, ak="NOSUCHAK000000000001", sk="x"),
        "date_out_of_window": http("GET", stack.url + INSTANCES, ak=BOB_AK, sk=BOB_SK, now=old),
        "missing_credentials": http("GET", stack.url + INSTANCES),
        "bad_token": http("GET", stack.url + INSTANCES, headers={"X-Auth-Token": "not-a-token"}),
    }
    assert {reason: reply.status for reason, reply in cases.items()} == dict.fromkeys(cases, 401)
    text = http("GET", stack.admin_url + "/metrics").body.decode()
    for reason in cases:
        assert f'ddmgw_auth_failures_total{{reason="{reason}"}}' in text
    assert 'ddmgw_auth_failures_total{reason="other"}' not in text


def test_audit_trail_names_the_deciding_statement(stack: Stack) -> None:
    reply = http("DELETE", stack.url + f"{INSTANCES}/0123456789abcdef0123456789abcdefin09", ak=CAROL_AK, sk=CAROL_SK)
    assert reply.status == 403
    rid = reply.headers["X-Request-Id"]
    record = record_of(TEST_LOG_DIR / "audit.log", rid)
    assert record["decision"] == "deny" and record["user_name"] == "carol"
    assert record["action"] == "ddm:instance:delete"
    assert {"policy": "no-instance-delete", "statement": 0} in record["deciding"]
    line = record_of(TEST_LOG_DIR / "access.log", rid)
    assert line["status"] == 403 and line["access_key"] == CAROL_AK and line["action"] == "ddm:instance:delete"


def test_reload_applies_policy_changes_and_refuses_broken_configs(tmp_path: Path) -> None:
    stack = start_stack(str(tmp_path))
    try:
        data = config_data(state_dir=str(tmp_path), upstream_url=stack.sim_url)
        path = tmp_path / "gateway.yaml"
        services = stack.apps[0][SERVICES]
        assert http("GET", stack.url + INSTANCES, ak=BOB_AK, sk=BOB_SK).status == 200
        bob = next(u for u in data["iam"]["domains"][0]["users"] if u["name"] == "bob")
        bob["groups"] = []
        path.write_text(yaml.safe_dump(data))
        assert reload_config(services, path)
        assert http("GET", stack.url + INSTANCES, ak=BOB_AK, sk=BOB_SK).status == 403
        path.write_text(yaml.safe_dump({**data, "limits": {"per_user_per_minut": 5}}))
        assert not reload_config(services, path)
        assert http("GET", stack.url + INSTANCES, ak=BOB_AK, sk=BOB_SK).status == 403  # old config still in force
    finally:
        stack.servers.close()


async def test_watch_file_reports_rewrites_renames_and_survives_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("a: 1\n")
    changes: list[int] = []
    watcher = asyncio.create_task(watch_file(path, 0.01, lambda: changes.append(1)))
    try:
        await asyncio.sleep(0.05)
        assert changes == []                       # nothing changed: nothing reported
        path.write_text("a: 22\n")                 # rewritten in place
        await _until(lambda: len(changes) == 1)
        path.unlink()                              # gone for a moment (an editor's save)
        await asyncio.sleep(0.05)
        assert len(changes) == 1
        replacement = tmp_path / "new.yaml"
        replacement.write_text("a: 333\n")
        replacement.rename(path)                   # replaced by a rename
        await _until(lambda: len(changes) == 2)
    finally:
        watcher.cancel()


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


def test_a_log_record_is_exactly_one_ascii_line_whatever_the_client_sent() -> None:
    """Paths are client-chosen: line separators other than LF must not split a record for any
    reader (str.splitlines splits on U+2028, U+0085, form feed...), nor reach a terminal raw."""
    stream = io.StringIO()
    pump = LogPump()
    writer = pump.add(StreamTarget(stream), name="access", drop_when_full=True,
                      full=GatewayMetrics().access_log_dropped)
    writer.write({"path": "/v1/a\u2028b\x85c\x0cd\ne\u00e9", "status": 404})
    pump.close()
    text = stream.getvalue()
    assert text.isascii() and text.count("\n") == 1 and len(text.splitlines()) == 1
    assert json.loads(text)["path"] == "/v1/a\u2028b\x85c\x0cd\ne\u00e9"

"""`ddm-gateway policy simulate|validate` run as the real console script (subprocess).

simulate uses the initech domain of the authorization e2e tests written to a config file: it
must print the decision, the deciding statements (policy name + Statement[index]), the user's
policies and the context, and exit 0 for allow, 1 for deny (CONTRACT.md). validate exits 0, or
2 with one "file: path: message" line per problem.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from .paths import console_script
from .test_authz_e2e_support import DOMAIN_ID, authz_config

CLI = console_script()
URN_DENIED, KEY_DENIED = "0123456789abcdef0123456789abcdefin01", "0123456789abcdef0123456789abcdefin02"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("policy-cli")
    path = folder / "gateway.json"
    path.write_text(json.dumps(authz_config(str(folder), "http://127.0.0.1:9", URN_DENIED, KEY_DENIED)))
    return str(path)


def simulate(config_file: str, user: str, action: str, *extra: str,
             project: str = "cn-north-4") -> subprocess.CompletedProcess[str]:
    return run("policy", "simulate", "--config", config_file, "--user", user, "--project", project,
               "--action", action, *extra)


def printed_context(output: str) -> dict[str, str]:
    line = next(line for line in output.splitlines() if line.startswith("context: "))
    return json.loads(line.removeprefix("context: "))


def test_allow_names_the_allowing_statement(config_file: str) -> None:
    done = simulate(config_file, "full", "ddm:instance:create")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("decision: allow (allow)\n")
    assert "decided by: policy 'DDM FullAccess', Statement[0]" in done.stdout
    assert "policies: DDM FullAccess\n" in done.stdout
    context = printed_context(done.stdout)
    assert (context["g:UserName"], context["g:ProjectName"], context["g:DomainId"]) == \
        ("full", "cn-north-4", DOMAIN_ID)


def test_a_deny_in_another_group_decides(config_file: str) -> None:
    done = simulate(config_file, "split", "ddm:instance:delete")
    assert done.returncode == 1, done.stderr
    assert done.stdout.startswith("decision: deny (explicit_deny)\n")
    assert "decided by: policy 'no-instance-delete', Statement[0]" in done.stdout
    assert "policies: DDM FullAccess, no-instance-delete\n" in done.stdout


def test_tenant_administrator_is_denied_identity_actions(config_file: str) -> None:
    done = simulate(config_file, "admin", "identity:users:create")
    assert done.returncode == 1
    assert "decided by: policy 'Tenant Administrator', Statement[1]" in done.stdout
    assert simulate(config_file, "admin", "ecs:cloudServers:create").returncode == 0


def test_an_implicit_deny_names_no_statement(config_file: str) -> None:
    done = simulate(config_file, "reader", "ddm:instance:modify")
    assert done.returncode == 1
    assert done.stdout.startswith("decision: deny (implicit_deny)\n")
    assert "decided by" not in done.stdout


def test_project_scoped_grants_and_denies(config_file: str) -> None:
    assert simulate(config_file, "eastonly", "ddm:instance:list", project="cn-east-2").returncode == 0
    assert simulate(config_file, "eastonly", "ddm:instance:list").returncode == 1
    east = simulate(config_file, "eastdeny", "ddm:instance:list", project="cn-east-2")
    assert east.returncode == 1
    assert "decided by: policy 'deny-all-ddm', Statement[0]" in east.stdout
    assert simulate(config_file, "eastdeny", "ddm:instance:list").returncode == 0


def test_context_overrides_decide_conditions(config_file: str) -> None:
    now = simulate(config_file, "dated", "ddm:instance:list")
    assert now.returncode == 0
    then = simulate(config_file, "dated", "ddm:instance:list", "--context", "g:CurrentTime=2019-06-01T00:00:00Z")
    assert then.returncode == 1
    assert "decided by: policy 'dated', Statement[0]" in then.stdout
    assert printed_context(then.stdout)["g:CurrentTime"] == "2019-06-01T00:00:00Z"
    assert simulate(config_file, "condy", "ddm:instance:list").returncode == 0
    assert simulate(config_file, "condx", "ddm:instance:list").returncode == 1


def test_resource_urn_and_instance_id_condition(config_file: str) -> None:
    urn = f"ddm:cn-north-4:{DOMAIN_ID}:instance:"
    by_urn = simulate(config_file, "res", "ddm:instance:get", "--resource", urn + URN_DENIED)
    assert by_urn.returncode == 1
    assert "decided by: policy 'deny-one-instance', Statement[0]" in by_urn.stdout
    by_key = simulate(config_file, "res", "ddm:instance:get", "--resource", urn + KEY_DENIED,
                      "--context", f"ddm:InstanceId={KEY_DENIED}")
    assert by_key.returncode == 1
    assert "decided by: policy 'deny-one-instance', Statement[1]" in by_key.stdout
    other = simulate(config_file, "res", "ddm:instance:get", "--resource", urn + "other",
                     "--context", "ddm:InstanceId=other")
    assert other.returncode == 0, other.stdout


def test_usage_errors_exit_2(config_file: str, tmp_path: Path) -> None:
    project = simulate(config_file, "full", "ddm:instance:list", project="cn-nowhere")
    assert project.returncode == 2 and "unknown project 'cn-nowhere'" in project.stderr
    context = simulate(config_file, "full", "ddm:instance:list", "--context", "no-equals-sign")
    assert context.returncode == 2 and "KEY=VALUE" in context.stderr
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"iam": {"domains": [{"id": "x", "name": "x", "groups": [{"name": "g",
                                  "grants": [{"policy": "No Such Policy"}]}]}]}}))
    config = run("policy", "simulate", "--config", str(broken), "--user", "x", "--project", "p",
                 "--action", "ddm:instance:list")
    assert config.returncode == 2 and "unknown policy 'No Such Policy'" in config.stderr


def test_an_unknown_user_is_a_usage_error_not_a_deny(config_file: str) -> None:
    done = simulate(config_file, "nobody", "ddm:instance:list")
    assert "user 'nobody': no such user" in done.stderr
    assert done.returncode == 2


# ---- validate -----------------------------------------------------------------------------------

def test_validate_accepts_a_good_document(tmp_path: Path) -> None:
    path = tmp_path / "good.json"
    path.write_text(json.dumps({"Version": "1.1", "Statement": [{
        "Effect": "Allow", "Action": ["ddm:instance:get"], "Resource": ["ddm:*:*:instance:abc"],
        "Condition": {"StringEquals": {"g:UserName": ["bob"]}}}]}))
    done = run("policy", "validate", str(path))
    assert (done.returncode, done.stdout) == (0, f"{path}: ok\n")


def test_validate_names_the_path_of_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text('Version: "1.1"\nStatement:\n  - Effect: Permit\n    Action: ["ddm:instance"]\n'
                    '    Resource: ["ddm:instance"]\n  - Effect: Allow\n    Action: ["ddm:instance:get"]\n'
                    '    Condition: {StringSorta: {"g:UserName": ["x"]}}\n')
    done = run("policy", "validate", str(path))
    assert done.returncode == 2
    assert done.stdout.splitlines() == [f"{path}: {p}" for p in (
        "Statement[0].Effect: is required and must be 'Allow' or 'Deny'",
        "Statement[0].Action[0]: 'ddm:instance' must have the form service:resourceType:operation",
        "Statement[0].Resource[0]: 'ddm:instance' must have the form service:region:domain_id:resourceType:id",
        "Statement[1].Condition.StringSorta: unknown condition operator")]


def test_validate_refuses_an_unregistered_ddm_action(tmp_path: Path) -> None:
    path = tmp_path / "typo.json"
    path.write_text(json.dumps({"Version": "1.1", "Statement": [
        {"Effect": "Allow", "Action": ["ddm:instance:get", "ddm:instance:delet"]}]}))
    done = run("policy", "validate", str(path))
    assert done.returncode == 2
    assert done.stdout.startswith(f"{path}: Statement[0].Action[1]:"), done.stdout
    assert "ddm:instance:delet" in done.stdout


@pytest.mark.parametrize("content", [None, "Version: [unclosed"])
def test_validate_an_unreadable_file_exits_2(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "doc.yaml"
    if content is not None:
        path.write_text(content)
    done = run("policy", "validate", str(path))
    assert done.returncode == 2
    assert done.stderr.startswith(f"{path}: cannot read:")


# ---- --enterprise-project (issue #20) -----------------------------------------------------------

@pytest.fixture(scope="module")
def ep_config_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    from .test_authz_e2e_ep_support import ep_config
    folder = tmp_path_factory.mktemp("policy-cli-ep")
    path = folder / "gateway.json"
    path.write_text(json.dumps(ep_config(str(folder), "http://127.0.0.1:9")))
    return str(path)


def test_simulate_in_an_enterprise_project_uses_the_grants_in_it(ep_config_file: str) -> None:
    allowed = simulate(ep_config_file, "red", "ddm:instance:delete", "--enterprise-project", "team-red")
    assert allowed.returncode == 0, allowed.stderr
    assert "decision: allow (allow)" in allowed.stdout
    assert "enterprise project: team-red (7a1c9e52-3b4d-4e6f-8a9b-0c1d2e3f4a5b)" in allowed.stdout
    assert "policies: DDM FullAccess" in allowed.stdout
    denied = simulate(ep_config_file, "red", "ddm:instance:delete", "--enterprise-project", "team-blue")
    assert denied.returncode == 1 and "decision: deny (implicit_deny)" in denied.stdout
    assert simulate(ep_config_file, "red", "ddm:instance:delete").returncode == 1     # no EP: project grants


def test_simulate_fills_the_enterprise_project_condition_key(ep_config_file: str) -> None:
    blue = "b2d4f6a8-1c3e-4a5b-9c7d-e1f2a3b4c5d6"
    done = simulate(ep_config_file, "condblue", "ddm:instance:get", "--enterprise-project", blue)
    assert done.returncode == 0 and f'"g:EnterpriseProjectId": "{blue}"' in done.stdout
    assert simulate(ep_config_file, "condblue", "ddm:instance:get", "--enterprise-project", "0").returncode == 1
    careful = simulate(ep_config_file, "careful", "ddm:instance:delete", "--enterprise-project", "team-red")
    assert careful.returncode == 1 and "explicit_deny" in careful.stdout and "'no-delete'" in careful.stdout


def test_simulate_refuses_an_unknown_enterprise_project(ep_config_file: str) -> None:
    done = simulate(ep_config_file, "red", "ddm:instance:get", "--enterprise-project", "team-purple")
    assert done.returncode == 2 and "unknown enterprise project 'team-purple'" in done.stderr

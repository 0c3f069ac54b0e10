"""The benchmark's gateway configuration: realistic IAM, limits that never throttle, default logging.

    python -m bench.serve_gateway --port P --admin-port A --upstream URL --state-dir D [--store-url R] [--logs-off]

writes `<state-dir>/bench-gateway.yaml` and prints its path; bench.run then starts
`ddm-gateway serve --config <that file> [--workers N]` as a separate process, so the server under
test never shares an event loop with the load generator. The benchmark user belongs to 10 groups,
each granting one custom policy of 8 statements (the statement mix of bench.bench_policies), so
every request pays for a realistically sized policy set.

Logging is what operators run: the access log on (to `<state-dir>/access.log`, a file, as in
production rather than a terminal) and the audit log on (`<state-dir>/audit.log`). `logs=False`
(`--logs-off`) switches both off: the reference row that shows what logging costs.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .bench_policies import statement
from .upstream import BENCH_EP

DOMAIN, DOMAIN_ID = "benchco", "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
PROJECT_NAME, PROJECT_ID = "cn-north-4", "0503ddae897000fed2f78c00909158a4"
USER, USER_ID, PASSWORD = "bencher", "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "bench-pass-1"
AK, SK = "BENCHAK0000000000001", "bench-secret-key-000000000000000000001"
GROUPS, STATEMENTS = 10, 8
UNTHROTTLED = 10**9
# Scenario (h): six configured rules that all apply to the benchmark request (ddm:instance:list),
# one of each kind, none of which throttles (config caps a rule's limit at 100,000).
SIX_RULES = [
    {"name": "bench-team", "per": "group", "groups": ["bench-group-0"], "limit": 100_000, "window_s": 10},
    {"name": "bench-domain", "per": "domain", "limit": 100_000, "window_s": 10},
    {"name": "bench-global", "per": "global", "limit": 100_000, "window_s": 10},
    {"name": "bench-reads", "per": "user", "actions": ["ddm:instance:list"], "limit": 100_000, "window_s": 10},
    {"name": "bench-lists", "per": "user", "actions": ["ddm:*:list"], "limit": 100_000, "window_s": 5},
    {"name": "bench-watch", "per": "user", "actions": ["ddm:*:list"], "limit": 100_000, "window_s": 10,
     "mode": "report"},
]


# Registered actions only: `config check` refuses unknown ones (bench_policies' "op" names are synthetic).
EXPLICIT = ["ddm:instance:get", "ddm:instance:modify", "ddm:database:get", "ddm:database:list",
            "ddm:param:list", "ddm:user:list", "ddm:instance:scale", "ddm:param:apply"]


def policy_document(index: int) -> dict[str, Any]:
    """Custom policy `index`: 8 statements mixing wildcards, resources, conditions and denies."""
    statements = [statement(index, i) for i in range(STATEMENTS)]
    statements[1] = {"Effect": "Allow", "Action": EXPLICIT[index % 4:] + EXPLICIT[:index % 4]}
    return {"Version": "1.1", "Statement": statements}


def config_dict(*, port: int, admin_port: int, upstream: str, state_dir: str,
                store_url: str | None = None, logs: bool = True,
                enterprise_project: bool = False, rules: bool = False) -> dict[str, Any]:
    """The whole gateway config as plain data (JSON is valid YAML). `enterprise_project`: the
    same grants, given in enterprise project BENCH_EP instead of the whole project (a cache TTL
    longer than any run: after its first lookup every request is a cache hit). `rules`: the six
    rate-limit rules of scenario (h)."""
    where = {"enterprise_projects": ["bench-ep"]} if enterprise_project else {}
    domain = {
        "id": DOMAIN_ID, "name": DOMAIN, "password": "benchco-root-pass",
        "projects": [{"id": PROJECT_ID, "name": PROJECT_NAME}],
        "groups": [{"name": f"bench-group-{i}", "grants": [{"policy": f"bench-policy-{i}", **where}]}
                   for i in range(GROUPS)],
        "policies": [{"name": f"bench-policy-{i}", "document": policy_document(i)} for i in range(GROUPS)],
        "users": [{"id": USER_ID, "name": USER, "password": PASSWORD,
                   "groups": [f"bench-group-{i}" for i in range(GROUPS)],
                   "access_keys": [{"ak": AK, "sk": SK}]}],
    }
    data: dict[str, Any] = {
        "listen": {"host": "127.0.0.1", "port": port},
        "admin": {"host": "127.0.0.1", "port": admin_port},
        "region": "cn-north-4",
        "upstream": {"url": upstream, "auth": {"mode": "none"}, "connect_timeout_s": 3, "timeout_s": 30},
        "limits": {"per_user_per_minute": UNTHROTTLED, "global_per_minute": UNTHROTTLED,
                   "auth_failures_per_ip_per_minute": UNTHROTTLED, "rules": SIX_RULES if rules else []},
        "tokens": {"ttl_s": 86400},
        "state_dir": state_dir,
        "iam": {"domains": [domain]},
        "logging": logging_section(state_dir, logs),
    }
    if enterprise_project:
        domain["enterprise_projects"] = [{"id": BENCH_EP, "name": "bench-ep"}]
        data["authz"] = {"enterprise_project_cache_s": 86400}
    if store_url is not None:
        data["store"] = {"url": store_url, "on_failure": "open"}
    return data


def logging_section(state_dir: str, logs: bool) -> dict[str, Any]:
    """The default logging (access and audit log, to files), or both off."""
    if not logs:
        return {"access_log": False}
    return {"access_log": str(Path(state_dir) / "access.log"), "audit_log": str(Path(state_dir) / "audit.log")}


def write_config(path: Path, **kwargs: Any) -> Path:
    path.write_text(json.dumps(config_dict(**kwargs), indent=1))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--admin-port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--store-url")
    parser.add_argument("--logs-off", action="store_true", help="access and audit log off (reference)")
    args = parser.parse_args()
    path = Path(args.state_dir) / "bench-gateway.yaml"
    print(write_config(path, port=args.port, admin_port=args.admin_port, upstream=args.upstream,
                       state_dir=args.state_dir, store_url=args.store_url, logs=not args.logs_off))


if __name__ == "__main__":
    main()

"""`ddm-gateway` command line (CONTRACT.md): serve, sim, config check, policy, limits, hash-password, curl."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any, Sequence


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ddm-gateway", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway (no --config: the built-in demo)")
    serve.add_argument("--config", help="YAML config file")
    serve.add_argument("--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT)")
    serve.add_argument("--allow-per-worker-limits", action="store_true",
                       help="allow --workers > 1 with the in-process store (limits multiply)")
    serve.add_argument("--port", type=int, help="override listen.port (e.g. to run the demo elsewhere)")
    serve.add_argument("--admin-port", type=int, help="override admin.port")
    serve.add_argument("--shutdown-grace-s", type=float, default=None,
                       help="on SIGTERM, how long in-flight requests may take to finish "
                            "(default: listen.shutdown_grace_s, 30)")

    sim = sub.add_parser("sim", help="run the DDM simulator alone")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=9000)
    sim.add_argument("--require-aksk", metavar="AK:SK", help="require SDK-HMAC-SHA256 signatures by this key")
    sim.add_argument("--require-token", metavar="TOKEN", help="require this X-Auth-Token")
    sim.add_argument("--job-seconds", type=float, default=2.0, help="how long asynchronous jobs take")

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a config file")
    check.add_argument("file")

    policy = sub.add_parser("policy", help="policy tools")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True)
    simulate = policy_sub.add_parser("simulate", help="decide one action for one user")
    simulate.add_argument("--config", required=True)
    simulate.add_argument("--user", required=True)
    simulate.add_argument("--domain", help="domain name, when the user name is not unique")
    simulate.add_argument("--project", required=True)
    simulate.add_argument("--action", required=True)
    simulate.add_argument("--resource")
    simulate.add_argument("--context", action="append", default=[], metavar="KEY=VALUE")
    simulate.add_argument("--enterprise-project", metavar="NAME",
                          help="the resource's enterprise project (name or id): decide with the grants "
                               "in it and g:EnterpriseProjectId, as the gateway does")
    validate = policy_sub.add_parser("validate", help="validate a policy document (JSON or YAML)")
    validate.add_argument("file")

    limits = sub.add_parser("limits", help="rate-limit tools")
    limits_sub = limits.add_subparsers(dest="limits_command", required=True)
    explain = limits_sub.add_parser("explain", help="which rate-limit budgets a request would be checked against")
    explain.add_argument("--config", required=True)
    explain.add_argument("--user", required=True)
    explain.add_argument("--domain", help="domain name, when the user name is not unique")
    explain.add_argument("--action", required=True)

    sub.add_parser("hash-password", help="read a password on stdin, print a password_hash value")

    curl = sub.add_parser("curl", help="send one signed request and print the response")
    curl.add_argument("--ak")
    curl.add_argument("--sk")
    curl.add_argument("--algorithm", default="SDK-HMAC-SHA256")
    curl.add_argument("--region", help="region for V11-HMAC-SHA256 (default from the URL's gateway)")
    curl.add_argument("--service", default="ddm", help="service for V11-HMAC-SHA256")
    curl.add_argument("--token")
    curl.add_argument("-X", "--request", dest="method")
    curl.add_argument("-d", "--data")
    curl.add_argument("-H", "--header", action="append", default=[])
    curl.add_argument("-i", "--include", action="store_true", help="print the response headers")
    curl.add_argument("-k", "--insecure", action="store_true", help="do not verify TLS certificates")
    curl.add_argument("url")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {"serve": _serve, "sim": _sim, "config": _config, "policy": _policy, "limits": _limits,
               "hash-password": _hash_password, "curl": _curl}[args.command]
    return handler(args)


def _serve(args: argparse.Namespace) -> int:
    from .server import configure_logging, run_gateway
    from .workers import refusal, run_workers
    config = _serve_config(args)
    if config is None:
        return 2
    configure_logging(config)
    problem = refusal(config, args.workers, args.allow_per_worker_limits)
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    grace = config.listen.shutdown_grace_s if args.shutdown_grace_s is None else args.shutdown_grace_s
    if args.workers > 1:
        return run_workers(args.config, args.workers, port=args.port, admin_port=args.admin_port,
                           shutdown_grace_s=grace)
    if args.config is None:
        _print_demo_banner(config)
    asyncio.run(run_gateway(config, shutdown_grace_s=grace, adjust=lambda c: _with_overrides(c, args)))
    return 0


def _serve_config(args: argparse.Namespace) -> Any:
    """The config `serve` runs (demo without --config), or None after printing why not."""
    from .config import ConfigError, demo_config, load_config
    if args.config is None:
        return _with_overrides(demo_config(), args)
    try:
        return _with_overrides(load_config(args.config), args)
    except ConfigError as err:
        print("\n".join(err.problems), file=sys.stderr)
        return None


def _with_overrides(config: Any, args: argparse.Namespace) -> Any:
    """Applies --port/--admin-port (also to every SIGHUP reload): one config file can then serve
    on other ports (tests, a second instance on one host) without editing it."""
    from .workers import with_ports
    return with_ports(config, args.port, args.admin_port)


def _print_demo_banner(config: object) -> None:
    from .demo import demo_banner
    print(demo_banner(config), flush=True)


def _sim(args: argparse.Namespace) -> int:
    from ddmsim import run_sim
    require_aksk = None
    if args.require_aksk:
        ak, sep, sk = args.require_aksk.partition(":")
        if not sep or not ak or not sk:
            print("--require-aksk takes AK:SK", file=sys.stderr)
            return 2
        require_aksk = (ak, sk)
    print(f"DDM simulator on http://{args.host}:{args.port}", flush=True)
    try:
        asyncio.run(run_sim(args.host, args.port, job_seconds=args.job_seconds,
                            require_aksk=require_aksk, require_token=args.require_token))
    except KeyboardInterrupt:
        pass
    return 0


def _config(args: argparse.Namespace) -> int:
    from .config import check_config_file
    problems = check_config_file(args.file)
    for line in problems:
        print(line)
    if problems:
        return 2
    print(f"{args.file}: ok")
    return 0


def _policy(args: argparse.Namespace) -> int:
    from .policy_tools import simulate, validate
    return simulate(args) if args.policy_command == "simulate" else validate(args.file)


def _limits(args: argparse.Namespace) -> int:
    from .limits_tools import explain
    return explain(args)


def _hash_password(args: argparse.Namespace) -> int:
    from .passwords import hash_password
    password = getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("empty password", file=sys.stderr)
        return 2
    print(hash_password(password))
    return 0


def _curl(args: argparse.Namespace) -> int:
    from .curl import run_curl
    return run_curl(args)


if __name__ == "__main__":
    sys.exit(main())

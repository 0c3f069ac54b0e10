"""Decisions per second for one principal holding 10 policies of 8 statements each.

Run: python -m bench.bench_policies [--seconds S]. Goal: >= 100,000 decisions/s on one core.
The request mix cycles through every action of the route catalog with realistic URNs and a
full global-key context, so memoized candidates, resource checks and conditions are all hit.
"""
from __future__ import annotations

import argparse
import time

from policies import AuthzRequest, CompiledPolicies, Policy, RouteCatalog, parse_policy

CONTEXT = {"g:UserId": "u-1", "g:UserName": "alice", "g:DomainName": "acme", "g:DomainId": "d-1",
           "g:ProjectName": "cn-north-4", "g:ProjectId": "p-1", "g:CurrentTime": "2026-11-28T10:00:00Z",
           "g:SourceIp": "10.1.2.3", "g:MFAPresent": "true", "g:AuthMethod": "aksk"}


def statement(policy: int, index: int) -> dict:
    """Eight kinds of statement, mixing wildcards, resources, conditions and denies."""
    kinds = [
        {"Effect": "Allow", "Action": ["ddm:*:get*", "ddm:*:list*"]},
        {"Effect": "Allow", "Action": [f"ddm:instance:op{policy}{i}" for i in range(20)]},
        {"Effect": "Allow", "Action": ["ddm:database:*", "ddm:user:*"],
         "Resource": [f"ddm:*:*:instance:inst-{policy}*"]},
        {"Effect": "Allow", "Action": ["ddm:instance:modify", "ddm:instance:reboot"],
         "Condition": {"IpAddress": {"g:SourceIp": ["10.0.0.0/8"]}, "Bool": {"g:MFAPresent": ["true"]}}},
        {"Effect": "Deny", "Action": ["ddm:instance:delete"],
         "Condition": {"StringNotEquals": {"g:UserName": ["admin"]}}},
        {"Effect": "Allow", "Action": ["vpc:*:get*", "vpc:*:list*", "ecs:*:get*"]},
        {"Effect": "Deny", "Action": ["ddm:param:delete"],
         "Condition": {"DateGreaterThan": {"g:CurrentTime": ["2030-01-01T00:00:00Z"]}}},
        {"Effect": "Allow", "Action": ["ddm:param:*"], "Resource": ["ddm:*:*:parameterGroup:*"]},
    ]
    return kinds[index % len(kinds)]


def principal_policies(count: int = 10, statements: int = 8) -> list[Policy]:
    return [parse_policy(f"policy-{p}", {"Version": "1.1",
                                         "Statement": [statement(p, i) for i in range(statements)]})
            for p in range(count)]


def requests() -> list[AuthzRequest]:
    catalog = RouteCatalog.load_default()
    out = []
    for index, row in enumerate(r for r in catalog.operations() if r.action):
        kind = row.resource_type
        resource = f"ddm:cn-north-4:d-1:{kind}:inst-{index % 12}" if kind else None
        out.append(AuthzRequest(row.action, resource, {**CONTEXT, "ddm:InstanceId": f"inst-{index % 12}"}))
    return out


def run(seconds: float) -> tuple[int, float]:
    compiled = CompiledPolicies(principal_policies())
    batch = requests()
    decide = compiled.decide
    done, started = 0, time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for request in batch:
            decide(request)
        done += len(batch)
    return done, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    done, elapsed = run(args.seconds)
    print(f"policies=10 statements/policy=8 decisions={done} seconds={elapsed:.2f} "
          f"decisions/s={done / elapsed:,.0f}")


if __name__ == "__main__":
    main()

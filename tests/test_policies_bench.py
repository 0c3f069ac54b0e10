"""The benchmark runs and measures the shape it claims (10 policies x 8 statements)."""
from __future__ import annotations

from bench.bench_policies import principal_policies, requests, run
from policies import CompiledPolicies


def test_benchmark_shape_and_smoke_run() -> None:
    policies = principal_policies()
    assert len(policies) == 10 and all(len(p.statements) == 8 for p in policies)
    assert len(CompiledPolicies(policies).statements) == 80
    assert len(requests()) == 123
    done, elapsed = run(0.05)
    assert done > 0 and elapsed > 0

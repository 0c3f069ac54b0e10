"""Smoke test of the benchmark command (issue #7): `python -m bench.run --quick` runs and prints its table.

A benchmark is not a test: nothing here looks at a number, only that every scenario row, the
column headers, the target line and the micro figures are printed, with no failed request.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROWS = ["(a) upstream alone", "(b) aiohttp pass-through", "(c) gateway, token", "(d) gateway, AK/SK",
        "(e) gateway, AK/SK + Redis", "(h) (e) + six applicable rules"]
HEADERS = ["scenario", "workers", "req/s", "p50 ms", "p99 ms", "vs (b)", "p50 ms @50%", "p99 ms @50%",
           "+p50 ms vs (b) @50%", "errors", "CPU us/req", "load"]
MICRO = ["signature verifications", "policy decisions", "limiter checks, in-process store",
         "limiter checks, Redis store"]


def test_quick_bench_prints_the_table() -> None:
    done = subprocess.run([sys.executable, "-m", "bench.run", "--quick"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("| scenario |"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == HEADERS
    for label in ROWS:
        row = next((line for line in lines if line.startswith(f"| {label} |")), None)
        assert row is not None, f"no row for {label}:\n{done.stdout}"
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert re.fullmatch(r"[\d,]+", cells[2]) and int(cells[2].replace(",", "")) > 0, row
        assert cells[HEADERS.index("errors")] == "0", row
    assert any(line.startswith("targets: (d)/(b) = ") for line in lines)
    assert not any(line.startswith("FAILED") for line in lines), done.stdout
    for name in MICRO:
        assert any(line.startswith(f"| {name}") for line in lines), f"no micro figure {name}"


def test_enterprise_filter_bench_runs() -> None:
    """Issue #20: the 500-instance list filter bench checks its own result and prints one line."""
    done = subprocess.run([sys.executable, "-m", "bench.bench_enterprise", "--rounds", "1", "--lists", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"filter a 500-instance list .* 167 visible\): [\d,]+ us/list", done.stdout), done.stdout

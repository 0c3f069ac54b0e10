"""The benchmark suite in one command: every server on 127.0.0.1, one table (issue #7).

    python -m bench.run [--duration S] [--rounds R] [--concurrency C] [--workers-variants] [--quick]
                        [--loadgen auto|wrk|asyncio]

Scenarios: (a) the fixed-response upstream alone, (b) a bare aiohttp pass-through proxy, (c) the
gateway with token auth, (d) with SDK-HMAC-SHA256 AK/SK, (e) (d) with the Redis store, (h) (e) with
six configured rate-limit rules that all apply (issue #21: still one Redis round trip); (c)-(e) and
(h) run the default logging (access and audit log on, to files), and (d)/(e) "logs off" are the
reference rows that show what logging costs. Each server
runs in its own process; limits are raised so nothing is throttled; the benchmark user holds 10
policies of 8 statements. All servers of a worker group run at once and are measured in
interleaved rounds (b, c, d, e, b, c, ...), so a shared machine's load drifting during the run hits
every scenario alike: each round is a closed-loop run at fixed concurrency (wrk when on PATH, else
bench.loadgen) for req/s, p50, p99 and the servers' CPU per request, then an open-loop run at 50% of
(b)'s median capacity (always bench.loadgen: wrk cannot do open loop) for latency at half load.
The table shows medians over rounds; "vs (b)" and "+p50 @50%" are medians of per-round comparisons.
Then the micro figures of bench_signer, bench_policies and bench_limits. A benchmark, not a test:
nothing here asserts timing.
`--quick` (the smoke test) runs a fraction of a second per step with the upstream in-process.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import bench_limits, bench_policies, bench_signer, loadgen, serve_gateway, upstream
from .bench_limits import free_port
from .serve_gateway import AK, DOMAIN, PASSWORD, PROJECT_ID, PROJECT_NAME, SK, USER

PATH = f"/v1/{PROJECT_ID}/instances?offset=0&limit=10"
BASE_HEADERS = {"Content-Type": "application/json", "X-Project-Id": PROJECT_ID}
LABELS = {"a": "(a) upstream alone", "b": "(b) aiohttp pass-through", "c": "(c) gateway, token",
          "d": "(d) gateway, AK/SK", "e": "(e) gateway, AK/SK + Redis",
          "d-off": "(d) AK/SK, logs off (reference)", "e-off": "(e) AK/SK + Redis, logs off (reference)",
          "h": "(h) (e) + six applicable rules"}
AUTH = {"a": "none", "b": "none", "c": "token", "d": "aksk", "e": "aksk", "d-off": "aksk", "e-off": "aksk",
        "h": "aksk"}
REDIS = ("e", "e-off", "h")


def logs_on(key: str) -> bool:
    """Gateway scenarios run the default logging (access and audit log to files) unless "-off"."""
    return not key.endswith("-off")
FAILURES: list[str] = []   # scenarios that could not run, printed under the table


@dataclass
class Target:
    """What to load: one URL, its headers (for wrk's -H) and a pool of ready request bytes."""

    url: str
    headers: dict[str, str]
    pool: list[bytes]


NAN = float("nan")


@dataclass
class Run:
    """One closed-loop run (or one open-loop run: cpu_us NaN)."""

    rps: float
    p50: float
    p99: float
    errors: int
    cpu_us: float = NAN   # server CPU (all its processes) per request


@dataclass
class Row:
    """One scenario of one worker group: its closed- and open-loop runs, one per round."""

    key: str
    workers: int
    tool: str
    closed: list[Run] = field(default_factory=list)
    fixed: list[Run] = field(default_factory=list)
    failed: bool = False

    def median(self, runs: str, attr: str) -> float:
        values = [getattr(run, attr) for run in getattr(self, runs)]
        return statistics.median(values) if values else NAN

    @property
    def errors(self) -> int:
        return -1 if self.failed else sum(run.errors for run in self.closed + self.fixed)


def per_round(row: Row, base: Row, runs: str, compare: Callable[[Run, Run], float]) -> float:
    """The median over rounds of `compare(row's run, (b)'s run of the same round)`."""
    pairs = list(zip(getattr(row, runs), getattr(base, runs)))
    return statistics.median(compare(r, b) for r, b in pairs) if pairs else NAN


class Servers:
    """Child processes of one scenario, logged to the work dir, stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, args: list[str], port: int) -> None:
        log = open(self.workdir / f"{name}.log", "ab")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parent.parent)
        log.close()
        self.procs.append(proc)
        wait_port(port, proc, self.workdir / f"{name}.log")

    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    def __enter__(self) -> "Servers":
        return self

    def __exit__(self, *_exc: object) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30.0) -> None:
    """Returns once 127.0.0.1:port accepts; fails fast (with the log) if the process died."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{proc.args} did not listen on {port} within {timeout}s")
            time.sleep(0.05)


def inline_upstream() -> str:
    """The upstream on a daemon thread of this process (--quick: one process fewer, timing irrelevant)."""
    port, ready = free_port(), threading.Event()

    def run() -> None:
        async def main() -> None:
            started = asyncio.Event()
            task = asyncio.ensure_future(upstream.serve("127.0.0.1", port, ready=started))
            await started.wait()
            ready.set()
            await task
        asyncio.run(main())
    threading.Thread(target=run, name="bench-upstream", daemon=True).start()
    ready.wait(10)
    return f"http://127.0.0.1:{port}"


def start_upstream(servers: Servers) -> str:
    port = free_port()
    servers.spawn("upstream", [sys.executable, "-m", "bench.upstream", "--port", str(port)], port)
    return f"http://127.0.0.1:{port}"


def start_passthrough(servers: Servers, upstream_url: str, workers: int) -> str:
    port = free_port()
    for i in range(workers):
        servers.spawn(f"passthrough-{i}", [sys.executable, "-m", "bench.passthrough", "--port", str(port),
                                           "--upstream", upstream_url, "--reuse-port"], port)
    return f"http://127.0.0.1:{port}"


def start_gateway(servers: Servers, workdir: Path, upstream_url: str, store_url: str | None,
                  workers: int, logs: bool = True, *, rules: bool = False) -> str:
    port, admin = free_port(), free_port()
    state = Path(tempfile.mkdtemp(prefix="gw-", dir=workdir))
    config = serve_gateway.write_config(state / "bench-gateway.yaml", port=port, admin_port=admin,
                                        upstream=upstream_url, state_dir=str(state), store_url=store_url,
                                        logs=logs, rules=rules)
    args = [str(Path(sys.executable).with_name("ddm-gateway")), "serve", "--config", str(config),
            "--workers", str(workers)]
    if workers > 1 and store_url is None:
        args.append("--allow-per-worker-limits")
    servers.spawn(f"gateway-{port}", args, port)
    return f"http://127.0.0.1:{port}"


def login(base: str) -> str:
    """A project-scoped token for the benchmark user (one password check, reused for every request)."""
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": USER, "password": PASSWORD, "domain": {"name": DOMAIN}}}},
        "scope": {"project": {"name": PROJECT_NAME, "domain": {"name": DOMAIN}}}}}
    request = urllib.request.Request(f"{base}/v3/auth/tokens?nocatalog=true", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return reply.headers["X-Subject-Token"]


def target(base: str, auth: str, path: str = PATH) -> Target:
    """The request of a scenario: no auth, a token, or AK/SK (a pre-signed pool)."""
    url = base + path
    headers = dict(BASE_HEADERS)
    if auth == "token":
        headers["X-Auth-Token"] = login(base)
    if auth == "aksk":
        return Target(url, loadgen.aksk_headers("GET", url, headers, AK, SK),
                      loadgen.presigned_pool(url, headers, AK, SK))
    return Target(url, headers, [loadgen.build("GET", url, headers)])


def check(t: Target) -> None:
    """One request before the load: a misconfigured scenario must fail loudly, not benchmark a 401."""
    request = urllib.request.Request(t.url, headers=t.headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            reply.read()
    except urllib.error.HTTPError as err:
        raise SystemExit(f"{t.url}: {err.code} {err.read()[:500]!r}")


def run_wrk(t: Target, concurrency: int, duration: float) -> tuple[float, float, float, int]:
    """wrk -t1 --latency; returns req/s, p50 ms, p99 ms, non-2xx + socket errors."""
    args = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(duration))}s", "--latency", "--timeout", "10s"]
    for name, value in t.headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args + [t.url], capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> tuple[float, float, float, int]:
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}

    def pct(p: str) -> float:
        match = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        return float(match.group(1)) * unit[match.group(2)] if match else float("nan")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", out))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors += sum(int(n) for n in socket_errors.groups()) if socket_errors else 0
    return rps, pct("50"), pct("99"), errors


def cpu_seconds(pids: list[int]) -> float:
    """User+system CPU of `pids` and all their descendants (Linux /proc; NaN elsewhere).

    CPU per request is the figure that survives a shared, busy machine: req/s does not."""
    total, todo, tick = 0.0, list(pids), os.sysconf("SC_CLK_TCK")
    try:
        while todo:
            pid = todo.pop()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for children in Path(f"/proc/{pid}/task").glob("*/children"):
                todo += [int(child) for child in children.read_text().split()]
    except (OSError, ValueError, IndexError):
        return float("nan")
    return total


@dataclass
class Scenario:
    """A started scenario: what to load and whose CPU to count."""

    row: Row
    target: Target
    pids: list[int]


def start_scenario(key: str, workers: int, servers: Servers, extra: ExitStack, workdir: Path,
                   upstream_url: str, args: argparse.Namespace) -> Scenario:
    if key == "a":
        return Scenario(Row(key, 1, args.loadgen), target(upstream_url, "none"), args.upstream_pids)
    before = len(servers.procs)
    if key == "b":
        base = start_passthrough(servers, upstream_url, workers)
        t = target(base, "none")
    else:
        store = extra.enter_context(bench_limits.throwaway_redis()) if key in REDIS else None
        base = start_gateway(servers, workdir, upstream_url, store, workers, logs=logs_on(key), rules=key == "h")
        t = target(base, AUTH[key])
    check(t)
    asyncio.run(loadgen.closed_loop(t.url, t.pool, min(args.concurrency, 8), args.warmup))
    return Scenario(Row(key, workers, args.loadgen), t, [p.pid for p in servers.procs[before:]])


def closed_run(sc: Scenario, args: argparse.Namespace) -> Run:
    cpu_before = cpu_seconds(sc.pids) if sc.pids else NAN
    if args.loadgen == "wrk":
        rps, p50, p99, errors = run_wrk(sc.target, args.concurrency, args.duration)
    else:
        res = asyncio.run(loadgen.closed_loop(sc.target.url, sc.target.pool, args.concurrency, args.duration))
        rps, p50, p99, errors = res.rps, res.percentile(50), res.percentile(99), res.errors
    seconds = max(1, round(args.duration)) if args.loadgen == "wrk" else args.duration
    cpu = (cpu_seconds(sc.pids) - cpu_before) / max(1.0, rps * seconds) * 1e6 if sc.pids else NAN
    return Run(rps, p50, p99, errors, cpu)


def open_run(sc: Scenario, rate: float, args: argparse.Namespace) -> Run:
    fixed = asyncio.run(loadgen.open_loop(sc.target.url, sc.target.pool, rate, args.duration))
    return Run(fixed.rps, fixed.percentile(50), fixed.percentile(99), fixed.errors)


def run_group(workers: int, keys: list[str], workdir: Path, upstream_url: str,
              args: argparse.Namespace) -> tuple[list[Row], float]:
    """Starts every scenario of the group, then measures them in interleaved rounds: closed-loop
    rounds first, since (b)'s median capacity sets the open-loop rate of the open-loop rounds."""
    with Servers(workdir) as servers, ExitStack() as extra:
        started: dict[str, Scenario] = {}
        rows: dict[str, Row] = {}
        for key in keys:
            try:
                started[key] = start_scenario(key, workers, servers, extra, workdir, upstream_url, args)
                rows[key] = started[key].row
            except (SystemExit, Exception) as err:  # noqa: BLE001 - reported under the table
                rows[key] = failed_row(key, workers, err)
        for _ in range(args.rounds):
            for sc in started.values():
                guarded(lambda: sc.row.closed.append(closed_run(sc, args)), sc.row)
        rate = rows["b"].median("closed", "rps") / 2 if "b" in started else NAN
        for _ in range(0 if math.isnan(rate) else args.rounds):
            for sc in started.values():
                guarded(lambda: sc.row.fixed.append(open_run(sc, rate, args)), sc.row)
        print(f"  done: x{workers} ({', '.join(keys)})", file=sys.stderr)
        return [rows[k] for k in keys], rate


def failed_row(key: str, workers: int, err: BaseException) -> Row:
    """A scenario that cannot start still leaves a (failed) row: the rest of the table is worth having."""
    FAILURES.append(f"{LABELS[key]} x{workers}: {_reason(err)}")
    return Row(key, workers, "failed", failed=True)


def guarded(step: Callable[[], None], row: Row) -> None:
    try:
        step()
    except (SystemExit, Exception) as err:  # noqa: BLE001 - reported in the table, not swallowed
        FAILURES.append(f"{LABELS[row.key]} x{row.workers}: {_reason(err)}")
        row.failed = True


def _reason(err: BaseException) -> str:
    """The last line of the error (a subprocess's log tail ends with the cause), or its type."""
    text = str(err).strip()
    return text.splitlines()[-1][:300] if text else type(err).__name__


def table(rows: list[Row], rates: dict[int, float]) -> str:
    head = ("| scenario | workers | req/s | p50 ms | p99 ms | vs (b) | p50 ms @50% | p99 ms @50% "
            "| +p50 ms vs (b) @50% | errors | CPU us/req | load |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    base = {r.workers: r for r in rows if r.key == "b"}
    for r in rows:
        b = base[r.workers]
        ratio = per_round(r, b, "closed", lambda x, y: x.rps / y.rps)
        added = per_round(r, b, "fixed", lambda x, y: x.p50 - y.p50)
        lines.append(f"| {LABELS[r.key]} | {r.workers} | {r.median('closed', 'rps'):,.0f} | "
                     f"{r.median('closed', 'p50'):.2f} | {r.median('closed', 'p99'):.2f} | {ratio:.2f} | "
                     f"{r.median('fixed', 'p50'):.2f} | {r.median('fixed', 'p99'):.2f} | {added:+.2f} | "
                     f"{r.errors} | {r.median('closed', 'cpu_us'):.0f} | {r.tool} |")
    lines += [f"open-loop rate (50% of (b) x{w}): {rate:,.0f} req/s" for w, rate in rates.items()]
    lines += [f"FAILED {failure}" for failure in FAILURES]
    return "\n".join(lines)


def targets(rows: list[Row]) -> str:
    """The issues' goals, checked on this run's numbers (informational: never an exit status).
    (d) and (e) are the default logging; the logging cost compares them with their logs-off rows
    of the same rounds."""
    by = {r.key: r for r in rows if r.workers == 1}
    b = by["b"]
    d = per_round(by["d"], b, "closed", lambda x, y: x.rps / y.rps)
    e = per_round(by["e"], b, "closed", lambda x, y: x.rps / y.rps)
    added = per_round(by["e"], b, "fixed", lambda x, y: x.p50 - y.p50)
    cpu_d = per_round(by["d"], b, "closed", lambda x, y: y.cpu_us / x.cpu_us)
    cpu_e = per_round(by["e"], b, "closed", lambda x, y: y.cpu_us / x.cpu_us)
    logs_d = per_round(by["d"], by["d-off"], "closed", lambda x, y: x.rps / y.rps)
    logs_e = per_round(by["e"], by["e-off"], "closed", lambda x, y: x.rps / y.rps)
    mark = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    return (f"targets: (d)/(b) = {d:.2f} (>= 0.75: {mark(d >= 0.75)}); "
            f"(e)/(b) = {e:.2f} (>= 0.70: {mark(e >= 0.70)}); added p50 of (e) over (b) at 50% load = "
            f"{added:+.2f} ms (<= 1 ms: {mark(added <= 1)}); logging on vs off: (d) {logs_d:.2f}, "
            f"(e) {logs_e:.2f} (>= 0.95: {mark(min(logs_d, logs_e) >= 0.95)}); by CPU per request "
            f"(noise-robust): (b)/(d) = {cpu_d:.2f}, (b)/(e) = {cpu_e:.2f}; medians of {len(b.closed)} "
            f"interleaved rounds")


async def limiter_rates(redis_url: str, seconds: float) -> tuple[float, float]:
    from gateway.limits import MemoryStore, RedisStore
    memory = await bench_limits.measure(MemoryStore(), seconds, 1)
    store = RedisStore(redis_url, timeout_s=1.0)
    try:
        await store.acquire(bench_limits.rules_for(0))
        return memory, await bench_limits.measure(store, seconds, 256)
    finally:
        await store.close()


def micro(seconds: float) -> str:
    """The micro benches of the other issues, imported (same code as their own CLIs)."""
    signer = bench_signer.rate("SDK-HMAC-SHA256", seconds)
    done, elapsed = bench_policies.run(seconds)
    with bench_limits.throwaway_redis() as url:
        memory, redis = asyncio.run(limiter_rates(url, seconds))
    return "\n".join([
        "| micro | per second |", "|---|---|",
        f"| signature verifications (SDK-HMAC-SHA256) | {signer:,.0f} |",
        f"| policy decisions (10 policies x 8 statements) | {done / elapsed:,.0f} |",
        f"| limiter checks, in-process store | {memory:,.0f} |",
        f"| limiter checks, Redis store (256 in flight) | {redis:,.0f} |"])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per closed and per open run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per scenario (medians)")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers-variants", action="store_true", help="also run (b)-(e) with 2 workers")
    parser.add_argument("--quick", action="store_true", help="smoke run: a fraction of a second per step")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "asyncio"], default="auto")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.concurrency, args.rounds = min(args.duration, 0.3), min(args.concurrency, 8), 1
    if args.loadgen == "auto":
        args.loadgen = "wrk" if shutil.which("wrk") and not args.quick else "asyncio"
    args.warmup = 0.1 if args.quick else 1.0
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rows: list[Row] = []
    rates: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="ddmgw-bench-") as tmp, Servers(Path(tmp)) as servers:
        workdir = Path(tmp)
        upstream_url = inline_upstream() if args.quick else start_upstream(servers)
        args.upstream_pids = servers.pids()   # empty with the in-process upstream: no CPU figure
        group, rates[1] = run_group(1, list("abcdeh") + ["d-off", "e-off"], workdir, upstream_url, args)
        rows += group
        if args.workers_variants:
            group, rates[2] = run_group(2, list("bcde"), workdir, upstream_url, args)
            rows += group
        print(table(rows, rates))
        print()
        print(targets(rows))
        print()
        print(micro(0.2 if args.quick else 2.0))


if __name__ == "__main__":
    main()

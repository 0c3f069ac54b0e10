"""Instructions per request under callgrind: the deterministic yardstick behind bench/RESULTS.md.

    python -m bench.instructions [--requests N] [b c d e d-off e-off f g h]

Wall-clock CPU per request moves 20-40% between runs on a shared box; instruction counts of the
same code repeat to 0.1%. Each scenario's server runs under `valgrind --tool=callgrind` (needs
valgrind on PATH; ~50x slower, so a few thousand requests), gets 300 warm-up requests, then
exactly N from 8 keep-alive connections; the counters are dumped before and after, and the
second dump divided by N is the figure. (c)-(e) run the default logging (access and audit log to
files, bench/serve_gateway.py); "d-off" and "e-off" are (d) and (e) with both logs off, the
reference for what logging costs. Instructions are not time (no cache misses, no kernel
work), but they are what a change to Python code changes. The upstream runs natively.

(f) and (g) are show instance (`GET /v1/{p}/instances/{id}`) by AK/SK: (f) with the bench
policies granted in the whole project, (g) with the same policies granted in an enterprise
project, so every request finds the instance's enterprise project in the cache (one lookup
during warm-up) and is decided in it; (g)/(f) is what enterprise-project isolation costs.
"""
from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

from . import loadgen, serve_gateway
from .bench_limits import free_port, throwaway_redis
from .run import AUTH, LABELS, PATH, REDIS, Servers, Target, logs_on, start_upstream, target, wait_port

CONCURRENCY = 8
WARMUP = 300
SCENARIOS = ["b", "c", "d", "e", "d-off", "e-off"]   # (c)-(e): default logging; "-off": the reference
SHOW_PATH = f"/v1/{serve_gateway.PROJECT_ID}/instances/bench-inst-00"
EXTRA_LABELS = {"f": "(f) AK/SK, show instance", "g": "(g) AK/SK, show, EP grant"}
# (h) is (e) with six rate-limit rules that all apply (issue #21): (h)/(e) is what they cost.


async def fire(t: Target, count: int) -> None:
    """`count` requests over CONCURRENCY keep-alive connections; any non-2xx stops the run."""
    host, port = t.url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
    left = [count]

    async def connection(k: int) -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        i = k
        while left[0] > 0:
            left[0] -= 1
            writer.write(t.pool[i % len(t.pool)])
            i += CONCURRENCY
            status = await loadgen._read_response(reader)
            if not 200 <= status < 300:
                raise SystemExit(f"{t.url}: status {status}")
        writer.close()
    await asyncio.gather(*(connection(k) for k in range(CONCURRENCY)))


def dump(pid: int, out_dir: Path, keep_as: Path | None = None) -> int:
    """Ask callgrind to dump (and reset) its counters; the dump's total instruction count."""
    before = set(out_dir.glob(f"callgrind.out.{pid}.*"))
    subprocess.run(["callgrind_control", "--dump", str(pid)], capture_output=True, timeout=600, check=False)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        new = set(out_dir.glob(f"callgrind.out.{pid}.*")) - before
        if new:
            time.sleep(0.5)   # let callgrind finish writing it
            path = new.pop()
            if keep_as is not None:
                keep_as.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, keep_as)
            text = path.read_text(errors="replace")
            return int(re.search(r"^summary:\s+(\d+)", text, re.M).group(1))  # type: ignore[union-attr]
        time.sleep(0.2)
    raise SystemExit(f"callgrind did not dump for pid {pid}")


def start(key: str, servers: Servers, workdir: Path, upstream_url: str, store: str | None) -> tuple[int, Target]:
    grind = ["valgrind", "--tool=callgrind", "--dump-instr=no", "--dump-line=no",
             f"--callgrind-out-file={workdir}/callgrind.out.%p"]
    port = free_port()
    if key == "b":
        args = grind + [sys.executable, "-m", "bench.passthrough", "--port", str(port), "--upstream", upstream_url]
    else:
        state = Path(tempfile.mkdtemp(prefix="gw-", dir=workdir))
        config = serve_gateway.write_config(state / "gateway.yaml", port=port, admin_port=free_port(),
                                            upstream=upstream_url, state_dir=str(state), store_url=store,
                                            logs=logs_on(key), enterprise_project=key == "g", rules=key == "h")
        args = grind + [str(Path(sys.executable).with_name("ddm-gateway")), "serve", "--config", str(config)]
    log = open(workdir / f"{key}.log", "ab")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).parent.parent)
    log.close()
    servers.procs.append(proc)
    wait_port(port, proc, workdir / f"{key}.log", timeout=300)
    base = f"http://127.0.0.1:{port}"
    auth = {**AUTH, "f": "aksk", "g": "aksk"}[key]
    return proc.pid, target(base, auth, SHOW_PATH if key in ("f", "g") else PATH)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="copy each scenario's measured dump here (for callgrind_annotate --inclusive=yes)")
    parser.add_argument("scenarios", nargs="*", default=SCENARIOS, choices=SCENARIOS + ["f", "g", "h"])
    args = parser.parse_args()
    if not shutil.which("valgrind") or not shutil.which("callgrind_control"):
        raise SystemExit("needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="ddmgw-instr-") as tmp, Servers(Path(tmp)) as servers:
        workdir = Path(tmp)
        upstream_url = start_upstream(servers)
        counts: dict[str, float] = {}
        for key in args.scenarios:
            with throwaway_redis() if key in REDIS else nullcontext() as store:
                pid, t = start(key, servers, workdir, upstream_url, store)
                asyncio.run(fire(t, WARMUP))
                dump(pid, workdir)                       # resets the counters after warm-up
                asyncio.run(fire(t, args.requests))
                keep_as = args.keep / f"callgrind.{key}" if args.keep else None
                counts[key] = dump(pid, workdir, keep_as) / args.requests
                servers.procs.pop().terminate()
            base = f" ({counts['b'] / counts[key]:.3f} of (b)'s count)" if "b" in counts else ""
            if key == "g" and "f" in counts:
                base = f" ({counts[key] / counts['f']:.3f} of (f)'s count)"
            if key == "h" and "e" in counts:
                base = f" ({counts[key] / counts['e']:.3f} of (e)'s count, the two-budget case)"
            on = counts.get(key[:-4]) if key.endswith("-off") else None
            cost = f"; logging on costs {(on / counts[key] - 1) * 100:+.1f}%" if on else ""
            label = {**LABELS, **EXTRA_LABELS}[key]
            print(f"{label:40s} {counts[key] / 1000:8.1f}k instructions/request{base}{cost}", flush=True)


if __name__ == "__main__":
    main()

"""`serve --workers N`: N processes, each with its own event loop, sharing the ports through
SO_REUSEPORT. The parent only supervises: it forwards SIGTERM/SIGINT/SIGHUP and exits when the
workers have.

Refused combinations (each would silently multiply or split state): the in-process store with
N > 1 (every worker would grant the full limits) unless explicitly allowed, and the embedded
simulator (every worker would simulate a different DDM).
"""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any


def refusal(config: Any, workers: int, allow_per_worker_limits: bool) -> str | None:
    if workers < 1:
        return "--workers must be at least 1"
    if workers == 1:
        return None
    if config.upstream is None:
        return "--workers > 1 needs a configured upstream: each worker would embed its own simulator"
    if config.store is None and not allow_per_worker_limits:
        return ("--workers > 1 with the in-process store would multiply the rate limits by the number "
                "of workers; configure store.url (Redis), or pass --allow-per-worker-limits")
    return None


def _worker_main(config_path: str) -> None:
    from .config import load_config
    from .server import run_gateway
    asyncio.run(run_gateway(load_config(config_path), reuse_port=True))


def run_workers(config_path: str | Path, workers: int) -> int:
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_worker_main, args=(str(config_path),), name=f"worker-{i}")
                 for i in range(workers)]
    for process in processes:
        process.start()

    def forward(signum: int, _frame: object) -> None:
        for process in processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    codes = []
    for process in processes:
        process.join()
        codes.append(process.exitcode or 0)
    return 0 if all(code == 0 for code in codes) else 1


"""`serve --workers N`: N processes, each with its own event loop, sharing the public port
through SO_REUSEPORT. The parent supervises: it forwards SIGTERM/SIGINT/SIGHUP, restarts a worker
that died (with backoff, logged), exits when the workers have, and owns the admin port itself
(workers_admin.py): a scrape there adds up every worker's metrics, asked over each worker's
private Unix socket, so Prometheus sees one process whose counters never go backwards.

Refused combinations (each would silently multiply or split state): the in-process store with
N > 1 (every worker would grant the full limits) unless explicitly allowed, and the embedded
simulator (every worker would simulate a different DDM).
"""
from __future__ import annotations

import asyncio
import multiprocessing
import signal
import tempfile
from dataclasses import replace
from multiprocessing import resource_tracker
from pathlib import Path
from typing import Any

FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)   # SIGUSR1: reopen logs


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


def with_ports(config: Any, port: int | None, admin_port: int | None) -> Any:
    """`serve --port/--admin-port`: the config with those listener ports replaced."""
    if port is not None:
        config = replace(config, listen=replace(config.listen, port=port))
    if admin_port is not None:
        config = replace(config, admin=replace(config.admin, port=admin_port))
    return config


def _worker_main(config_path: str, port: int | None, admin_port: int | None,
                 shutdown_grace_s: float, admin_path: str) -> None:
    asyncio.run(_serve_worker(config_path, port, admin_port, shutdown_grace_s, admin_path))


async def _serve_worker(config_path: str, port: int | None, admin_port: int | None,
                        shutdown_grace_s: float, admin_path: str) -> None:
    """The worker was started with the parent's stop/reload signals blocked (see Supervisor): a
    SIGTERM or SIGHUP forwarded while it was still importing would otherwise kill it (the default
    action) and turn a clean shutdown into exit 1. They are unblocked once the handlers exist."""
    from .config import load_config
    from .server import configure_logging, run_gateway
    config = with_ports(load_config(config_path), port, admin_port)
    configure_logging(config)
    started = asyncio.Event()

    async def unblock_when_started() -> None:
        await started.wait()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
    unblock = asyncio.create_task(unblock_when_started())
    try:
        await run_gateway(config, started=started, reuse_port=True, shutdown_grace_s=shutdown_grace_s,
                          adjust=lambda c: with_ports(c, port, admin_port), admin_path=admin_path)
    finally:
        unblock.cancel()


def run_workers(config_path: str | Path, workers: int, *, port: int | None = None,
                admin_port: int | None = None, shutdown_grace_s: float = 30.0) -> int:
    from .config import load_config
    from .workers_admin import Supervisor, WorkerArgs
    admin = with_ports(load_config(config_path), port, admin_port).admin
    # The resource tracker is started first: starting it later would unblock SIGINT/SIGTERM.
    resource_tracker.ensure_running()
    with tempfile.TemporaryDirectory(prefix="ddmgw-workers-") as private:   # mode 0700
        args = WorkerArgs(str(config_path), port, admin_port, shutdown_grace_s)
        supervisor = Supervisor(multiprocessing.get_context("spawn"), _worker_main, args, workers, private)
        return asyncio.run(supervisor.run(admin.host, admin.port))

"""The `--workers` parent: supervises the worker processes and serves the admin port for them.

Metrics that add up: each worker's admin app listens on a Unix socket in the parent's private
directory; a scrape of the parent asks every live worker for its samples (`/metrics/state`) and
adds them to what retired workers had counted. A worker's last answer is kept, so a worker that
is slow to answer, or dies, never makes a counter go backwards (what a dead worker counted after
its last answer is lost, and counters only ever miss those; the parent asks every
REFRESH_S so that window stays short). Scrapes are serialized: an older answer arriving late
cannot replace a newer one.

A worker that dies is restarted after RESTART_MIN_S, doubling per quick death up to
RESTART_MAX_S (a worker that ran STABLE_S starts again from the minimum); each death and
restart is logged.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from multiprocessing.context import SpawnContext, SpawnProcess
from typing import Callable, NamedTuple

import aiohttp
from aiohttp import web

from .observability.access import REOPEN_DEADLINE_S
from .observability.metrics import GatewayMetrics, Snapshot, snapshot_from_json
from .workers import FORWARDED

log = logging.getLogger("ddm_gateway.workers")

RESTART_MIN_S = 0.5
RESTART_MAX_S = 30.0
STABLE_S = 60.0            # a worker that lived this long was not crash-looping
ASK_TIMEOUT_S = 1.0        # one worker's answer to a scrape or a readiness check
REOPEN_ASK_TIMEOUT_S = REOPEN_DEADLINE_S + 1.0   # one worker's answer to a log reopen (it waits that long)
REFRESH_S = 5.0            # the parent asks for samples this often even without scrapes
POLL_S = 0.1               # how often worker liveness is checked
STOP_MARGIN_S = 5.0        # after the grace: workers still running are killed


class WorkerArgs(NamedTuple):
    config_path: str
    port: int | None
    admin_port: int | None
    shutdown_grace_s: float


@dataclass
class Slot:
    """One worker position: its socket, its current process, and its restart state."""

    index: int
    socket_path: str
    process: SpawnProcess | None = None
    started_at: float = 0.0
    backoff_s: float = RESTART_MIN_S
    restart_at: float | None = None
    exitcode: int = 0
    last: Snapshot | None = None   # the current process's latest samples


@dataclass
class Supervisor:
    context: SpawnContext
    target: Callable[..., None]
    args: WorkerArgs
    workers: int
    private_dir: str
    slots: list[Slot] = field(default_factory=list)
    retired: GatewayMetrics = field(default_factory=GatewayMetrics)
    stopping: bool = False
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.slots = [Slot(i, os.path.join(self.private_dir, f"worker-{i}.sock")) for i in range(self.workers)]

    async def run(self, admin_host: str, admin_port: int) -> int:
        """The admin port is bound first: if it cannot be, no worker was started for nothing."""
        loop = asyncio.get_running_loop()
        runner = web.AppRunner(create_workers_admin_app(self), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, admin_host, admin_port).start()
            for sig in FORWARDED:
                loop.add_signal_handler(sig, self._on_signal, sig)
            for slot in self.slots:
                if not self.stopping:      # a SIGTERM may already have come
                    self._spawn(slot)
            refresher = asyncio.create_task(self._refresh_forever())
            try:
                await self._supervise()
            finally:
                refresher.cancel()
                self._stop_leftovers()
        finally:
            await runner.cleanup()
        return 0 if all(slot.exitcode == 0 for slot in self.slots) else 1

    # -- processes --------------------------------------------------------------------------
    def _spawn(self, slot: Slot) -> None:
        """Started with the forwarded signals blocked: the worker unblocks them once it has its
        handlers (a SIGTERM during its imports would otherwise kill it with exit 1)."""
        if os.path.exists(slot.socket_path):
            os.unlink(slot.socket_path)
        process = self.context.Process(target=self.target, args=(*self.args, slot.socket_path),
                                       name=f"worker-{slot.index}")
        signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        try:
            process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)
        slot.process, slot.started_at, slot.restart_at, slot.last = process, time.monotonic(), None, None

    def _on_signal(self, signum: int) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self.stopping = True
        for slot in self.slots:
            process = slot.process
            if process is not None and process.is_alive() and process.pid is not None:
                os.kill(process.pid, signum)

    async def _supervise(self) -> None:
        stop_deadline: float | None = None
        while True:
            now = time.monotonic()
            for slot in self.slots:
                self._check(slot, now)
            if self.stopping:
                if all(slot.process is None for slot in self.slots):
                    return
                if stop_deadline is None:
                    stop_deadline = now + self.args.shutdown_grace_s + STOP_MARGIN_S
                elif now > stop_deadline:
                    self._kill_remaining()
            await asyncio.sleep(POLL_S)

    def _check(self, slot: Slot, now: float) -> None:
        process = slot.process
        if process is not None and process.exitcode is not None:
            process.join()
            slot.exitcode = process.exitcode
            slot.process = None
            if slot.last is not None:          # what it counted stays counted
                self.retired.add(slot.last, gauges=False)
                slot.last = None
            if not self.stopping:
                if now - slot.started_at >= STABLE_S:
                    slot.backoff_s = RESTART_MIN_S
                slot.restart_at = now + slot.backoff_s
                log.warning("worker-%d (pid %s) exited with code %s; restarting in %.1f s",
                            slot.index, process.pid, process.exitcode, slot.backoff_s)
                slot.backoff_s = min(slot.backoff_s * 2, RESTART_MAX_S)
        elif process is None and slot.restart_at is not None and not self.stopping and now >= slot.restart_at:
            self._spawn(slot)
            log.warning("worker-%d restarted (pid %s)", slot.index, slot.process.pid if slot.process else None)

    def _stop_leftovers(self) -> None:
        """Only after a failure in the parent itself: no worker outlives it."""
        for slot in self.slots:
            process = slot.process
            if process is not None and process.is_alive():
                process.terminate()
                process.join(self.args.shutdown_grace_s + STOP_MARGIN_S)
                if process.is_alive():
                    process.kill()

    def _kill_remaining(self) -> None:
        for slot in self.slots:
            if slot.process is not None and slot.process.is_alive() and slot.process.pid is not None:
                log.error("worker-%d did not stop within the grace; killing it", slot.index)
                os.kill(slot.process.pid, signal.SIGKILL)

    # -- asking the workers -----------------------------------------------------------------
    async def ask(self, slot: Slot, path: str, *, method: str = "GET",
                  timeout_s: float = ASK_TIMEOUT_S) -> tuple[int, object] | None:
        """(status, JSON body) from one worker's admin app, or None if it did not answer."""
        try:
            async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=slot.socket_path),
                                             timeout=aiohttp.ClientTimeout(total=timeout_s)) as session:
                async with session.request(method, f"http://worker{path}") as response:
                    return response.status, json.loads(await response.read())
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError):
            return None

    async def refresh(self) -> None:
        """Every live worker's latest samples; an answer from a process that has since been
        replaced is dropped (its previous answer was already retired)."""
        async with self._lock:
            live = [(slot, slot.process) for slot in self.slots if slot.process is not None]
            answers = await asyncio.gather(*(self.ask(slot, "/metrics/state") for slot, _ in live))
            for (slot, process), answer in zip(live, answers):
                if answer is None or answer[0] != 200 or slot.process is not process:
                    continue
                try:
                    slot.last = snapshot_from_json(answer[1])
                except ValueError:
                    log.warning("worker-%d sent malformed metrics", slot.index)

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            await self.refresh()

    def total(self) -> GatewayMetrics:
        total = GatewayMetrics()
        total.add(self.retired.snapshot(), gauges=False)
        for slot in self.slots:
            if slot.last is not None:
                total.add(slot.last, gauges=slot.process is not None)
        return total


def create_workers_admin_app(supervisor: Supervisor) -> web.Application:
    app = web.Application()

    async def healthz(request: web.Request) -> web.Response:
        live = sum(1 for slot in supervisor.slots if slot.process is not None)
        return web.json_response({"status": "ok", "workers": {"live": live, "configured": supervisor.workers}})

    async def readyz(request: web.Request) -> web.Response:
        """Ready when at least one worker lives and every live worker says it is ready."""
        live = [slot for slot in supervisor.slots if slot.process is not None]
        answers = await asyncio.gather(*(supervisor.ask(slot, "/readyz") for slot in live))
        checks = {f"worker-{slot.index}": (answer[1] if answer is not None else {"status": "no answer"})
                  for slot, answer in zip(live, answers)}
        ready = bool(live) and all(answer is not None and answer[0] == 200 for answer in answers)
        return web.json_response({"status": "ready" if ready else "not ready", "workers": checks},
                                 status=200 if ready else 503)

    async def metrics(request: web.Request) -> web.Response:
        await supervisor.refresh()
        return web.Response(text=supervisor.total().render(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})

    async def reopen_logs(request: web.Request) -> web.Response:
        """Every live worker reopens its log files (logrotate's postrotate, as SIGUSR1 to the
        parent does): 200 once each says its logs write to the new files, else 503 per worker."""
        live = [slot for slot in supervisor.slots if slot.process is not None]
        answers = await asyncio.gather(*(supervisor.ask(slot, "/logs/reopen", method="POST",
                                                        timeout_s=REOPEN_ASK_TIMEOUT_S) for slot in live))
        workers = {f"worker-{slot.index}": (answer[1] if answer is not None else {"status": "no answer"})
                   for slot, answer in zip(live, answers)}
        done = bool(live) and all(answer is not None and answer[0] == 200 for answer in answers)
        return web.json_response({"status": "reopened" if done else "failed", "workers": workers},
                                 status=200 if done else 503)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/logs/reopen", reopen_logs)
    return app

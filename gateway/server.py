"""Running the gateway: public and admin listeners, and the embedded simulator when no upstream
is configured. Stops cleanly on SIGTERM/SIGINT (in-flight requests finish, pools close)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import ssl
from typing import Any, Callable

from aiohttp import web

from .http.admin import create_admin_app
from .http.app import create_app
from .http.connections import EdgeRunner
from .reload import reload_config, watch_file
from .services import SERVICES

SHUTDOWN_GRACE_S = 30.0
_CANCEL_WAIT_S = 0.05   # after the grace: how long a cancelled handler may take to unwind


def configure_logging(config: Any) -> None:
    """Process-wide: `logging.level` to stderr (reload/startup messages). Without it only
    Python's last-resort handler runs, which drops INFO and ignores the configured level."""
    logging.basicConfig(level=config.logging.level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s")


async def start_site(app: web.Application, host: str, port: int, *,
                     ssl_context: ssl.SSLContext | None = None, reuse_port: bool = False,
                     shutdown_grace_s: float = SHUTDOWN_GRACE_S) -> tuple[web.AppRunner, int]:
    """Starts `app` on host:port (0 = any free port) and returns the runner and the bound port.
    On cleanup the runner stops accepting, then lets in-flight requests run `shutdown_grace_s`."""
    # handler_cancellation: a client that disconnects cancels its upstream request.
    runner = EdgeRunner(app, access_log=None, shutdown_timeout=shutdown_grace_s,
                        handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context, reuse_port=reuse_port or None)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return runner, int(bound)


async def start_unix_site(app: web.Application, path: str) -> web.AppRunner:
    """`app` on a Unix socket (owner-only: the directory holding it is the parent's private one)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=_CANCEL_WAIT_S)
    await runner.setup()
    await web.UnixSite(runner, path).start()
    return runner


def tls_context(config: Any) -> ssl.SSLContext | None:
    tls = config.listen.tls
    if tls is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    return context


async def run_gateway(config: Any, *, started: asyncio.Event | None = None,
                      stop: asyncio.Event | None = None, sim_job_seconds: float = 2.0,
                      reuse_port: bool = False, shutdown_grace_s: float = SHUTDOWN_GRACE_S,
                      adjust: Callable[[Any], Any] | None = None, admin_path: str | None = None) -> None:
    """Serves until `stop` is set or a SIGTERM/SIGINT arrives. `adjust` is applied to every
    reloaded config too (the CLI's --port overrides must survive a SIGHUP). `admin_path`: the
    admin app listens on this Unix socket instead (a `--workers` worker: the parent owns the
    admin port and asks each worker there)."""
    stop = stop or asyncio.Event()
    _install_signal_handlers(stop)
    runners: list[web.AppRunner] = []
    upstreams: list[web.AppRunner] = []    # the embedded simulator: serves until the gateway drained
    watcher: asyncio.Task[None] | None = None
    try:
        upstream_url = None
        if config.upstream is None:
            from ddmsim import create_app as create_sim_app
            sim_runner, sim_port = await start_site(create_sim_app(job_seconds=sim_job_seconds), "127.0.0.1", 0)
            runners.append(sim_runner)
            upstreams.append(sim_runner)
            upstream_url = f"http://127.0.0.1:{sim_port}"
        public = create_app(config, upstream_url=upstream_url)
        public_runner, _ = await start_site(public, config.listen.host, config.listen.port,
                                            ssl_context=tls_context(config), reuse_port=reuse_port,
                                            shutdown_grace_s=shutdown_grace_s)
        runners.insert(0, public_runner)
        if admin_path is not None:
            admin_runner = await start_unix_site(create_admin_app(public), admin_path)
        else:
            admin_runner, _ = await start_site(create_admin_app(public), config.admin.host, config.admin.port,
                                               reuse_port=reuse_port, shutdown_grace_s=shutdown_grace_s)
        runners.insert(1, admin_runner)
        watcher = _install_reload(public, config, adjust)
        _on_sigusr1(public)
        if started is not None:
            started.set()
        await stop.wait()
    finally:
        if watcher is not None:
            watcher.cancel()
        await drain([runner for runner in runners if runner not in upstreams], shutdown_grace_s)
        for runner in runners:
            await runner.cleanup()


async def drain(runners: list[web.AppRunner], grace_s: float) -> None:
    """Stop accepting, give in-flight requests `grace_s` IN TOTAL, then cancel what still runs
    (its client sees the connection close). aiohttp's own cleanup would wait its timeout, cancel
    only the request body, then wait the timeout again: about twice the grace, which an
    orchestrator's equal grace period answers with SIGKILL. Afterwards `runner.cleanup()` finds
    no connection left and only runs the apps' cleanup (pools, store)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    for runner in runners:
        for site in list(runner.sites):
            await site.stop()
    servers = [runner.server for runner in runners if runner.server is not None]
    for server in servers:
        server.pre_shutdown()          # idle keep-alive connections close now
    try:
        async with asyncio.timeout_at(deadline):
            await asyncio.gather(*(server.shutdown(grace_s) for server in servers))
        return
    except TimeoutError:
        pass
    busy = sum(len(server.connections) for server in servers)
    logging.getLogger(__name__).warning("shutdown grace of %ss over: cancelling %d in-flight requests",
                                        grace_s, busy)
    # The waits are over: a tiny timeout makes each connection cancel its handler and close.
    await asyncio.gather(*(server.shutdown(_CANCEL_WAIT_S) for server in servers))


def _install_reload(public: web.Application, config: Any,
                    adjust: Callable[[Any], Any] | None) -> asyncio.Task[None] | None:
    """SIGHUP reloads the config file; so does a change to it when `reload.watch` is on. Returns
    the watching task (the caller cancels it), if any."""
    if config.source_path is None:
        return None   # the demo: nothing to reload from
    source = config.source_path

    def reload() -> bool:   # looked up per call: a reload swaps what the services hold, not them
        return reload_config(public[SERVICES], source, adjust=adjust)
    _on_sighup(reload)
    if not config.reload.watch:
        return None
    return asyncio.create_task(watch_file(source, config.reload.interval_s, reload))


def _install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)


def _on_sighup(callback: Callable[[], object]) -> None:
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGHUP, callback)


def _on_sigusr1(public: web.Application) -> None:
    """SIGUSR1 reopens the log files, behind the lines already queued (logrotate's `create`)."""
    def reopen() -> None:
        public[SERVICES].observability.request_reopen()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGUSR1, reopen)

"""The admin listener: liveness, readiness (store and upstream) — never on the public port."""
from __future__ import annotations

import asyncio

from aiohttp import web

from ..limits.model import LimitStore
from ..observability.metrics import GatewayMetrics
from ..proxy.client import UpstreamClient
from ..services import SERVICES

PUBLIC_APP = web.AppKey("public_app", web.Application)


def create_admin_app(public_app: web.Application) -> web.Application:
    admin = web.Application()
    admin[PUBLIC_APP] = public_app
    admin.router.add_get("/healthz", healthz)
    admin.router.add_get("/readyz", readyz)
    admin.router.add_get("/metrics", metrics)
    admin.router.add_get("/metrics/state", metrics_state)
    admin.router.add_post("/logs/reopen", reopen_logs)
    return admin


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    public = request.app[PUBLIC_APP]
    if SERVICES not in public:
        return web.json_response({"status": "starting"}, status=503)
    services = public[SERVICES]
    checks: dict[str, str] = {"config": "loaded", "store": await _store_state(services.store),
                              "upstream": "ok" if await _upstream_reachable(services.upstream) else "down"}
    ready = checks["store"] in ("ok", "degraded") and checks["upstream"] == "ok"
    return web.json_response({"status": "ready" if ready else "not ready", "checks": checks},
                             status=200 if ready else 503)


async def _store_state(store: LimitStore) -> str:
    """ok; degraded (Redis down, serving on the per-replica fallback by choice); or down.

    The resilient store's ping doubles as its recovery probe, and answers True while it can
    still serve (on_failure: open) and False when it cannot (closed)."""
    try:
        serving = bool(await asyncio.wait_for(store.ping(), 0.5))
    except Exception:
        serving = False
    if not serving:
        return "down"
    return "degraded" if store.degraded else "ok"


async def _upstream_reachable(upstream: UpstreamClient) -> bool:
    """The client's own probe: a real `GET /` to DDM, bounded and cached (proxy/client.py)."""
    return await upstream.probe()


async def metrics(request: web.Request) -> web.Response:
    public = request.app[PUBLIC_APP]
    if SERVICES not in public:
        return web.Response(status=503, text="starting\n")
    return web.Response(text=_current_metrics(public).render(),
                        content_type="text/plain", charset="utf-8",
                        headers={"X-Content-Type-Options": "nosniff"})


async def metrics_state(request: web.Request) -> web.Response:
    """This process's samples as JSON: under `--workers` the parent adds them up (workers.py)."""
    public = request.app[PUBLIC_APP]
    if SERVICES not in public:
        return web.json_response({}, status=503)
    return web.json_response(_current_metrics(public).snapshot())


def _current_metrics(public: web.Application) -> GatewayMetrics:
    services = public[SERVICES]
    metrics: GatewayMetrics = services.observability.metrics
    metrics.store_degraded.set(1.0 if services.store.degraded else 0.0)
    return metrics


async def reopen_logs(request: web.Request) -> web.Response:
    """Reopens the access and audit log files (after logrotate renamed them; SIGUSR1 does the
    same). 200 once every log writes to its new file; 503 with the reason per log otherwise."""
    public = request.app[PUBLIC_APP]
    if SERVICES not in public:
        return web.json_response({"status": "starting"}, status=503)
    logs = await public[SERVICES].observability.reopen()
    done = all(state == "reopened" for state in logs.values())
    return web.json_response({"status": "reopened" if done else "failed", "logs": logs},
                             status=200 if done else 503)

"""``/_sim/*``: the test-only control plane (not DDM, so no auth, no DDM error shapes).

POST/GET/DELETE /_sim/faults   - inject delays, canned statuses/bodies or dropped connections
GET/DELETE /_sim/requests      - what reached the simulator (method, raw path/query, headers, body hash)
GET /_sim/routes               - the documented operations the simulator serves
"""
from __future__ import annotations

import hashlib
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ddmsim.errors import SimError
from ddmsim.faults import FaultRule, parse_rule, rule_view
from ddmsim.routing import load_routes

REQUEST_LOG_SIZE = 2000


@dataclass
class SimControl:
    """Mutable per-app control state: active faults and the request log."""

    faults: list[FaultRule] = field(default_factory=list)
    requests: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_SIZE))


CONTROL_KEY = web.AppKey("ddmsim_control", SimControl)


def request_record(request: web.Request, body: bytes, at: float) -> dict[str, Any]:
    """One log entry; headers are all kept (lowercased) so tests can prove nothing leaked."""
    headers: dict[str, str] = {}
    for name, value in request.headers.items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return {"method": request.method, "path": request.raw_path.split("?", 1)[0],
            "query": request.rel_url.raw_query_string, "headers": headers,
            "body_sha256": hashlib.sha256(body).hexdigest(), "body_size": len(body), "time": at}


async def add_fault(request: web.Request) -> web.Response:
    try:
        data = json.loads(await request.read() or b"{}")
        rules = [parse_rule(item) for item in (data if isinstance(data, list) else [data])]
    except (ValueError, SimError):
        return web.json_response({"error": "bad fault rule"}, status=400)
    request.app[CONTROL_KEY].faults.extend(rules)
    return web.json_response({"faults": [rule_view(r) for r in request.app[CONTROL_KEY].faults]}, status=201)


async def list_faults(request: web.Request) -> web.Response:
    return web.json_response({"faults": [rule_view(r) for r in request.app[CONTROL_KEY].faults]})


async def clear_faults(request: web.Request) -> web.Response:
    request.app[CONTROL_KEY].faults.clear()
    return web.json_response({"faults": []})


async def list_requests(request: web.Request) -> web.Response:
    return web.json_response({"requests": list(request.app[CONTROL_KEY].requests)})


async def clear_requests(request: web.Request) -> web.Response:
    request.app[CONTROL_KEY].requests.clear()
    return web.json_response({"requests": []})


async def list_routes(request: web.Request) -> web.Response:
    return web.json_response({"routes": [{"op": r.op, "section": r.section, "method": r.method,
                                          "path": r.path} for r in load_routes()]})


def add_admin_routes(app: web.Application) -> None:
    app.router.add_post("/_sim/faults", add_fault)
    app.router.add_get("/_sim/faults", list_faults)
    app.router.add_delete("/_sim/faults", clear_faults)
    app.router.add_get("/_sim/requests", list_requests)
    app.router.add_delete("/_sim/requests", clear_requests)
    app.router.add_get("/_sim/routes", list_routes)

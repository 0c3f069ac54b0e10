"""`GET /` (ListApiVersion, section 4.1.1) answered by the gateway itself.

It is the one DDM route without authentication, and its answer is static: proxying it would
let anyone push uncounted traffic to DDM through the gateway. The list is data
(api_versions.json), read once.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from aiohttp import web

@lru_cache(maxsize=1)
def _body() -> bytes:
    text = resources.files(__package__).joinpath("api_versions.json").read_text(encoding="utf-8")
    return json.dumps(json.loads(text), separators=(",", ":")).encode("utf-8")


def api_versions_response() -> web.Response:
    return web.Response(status=200, body=_body(), content_type="application/json")

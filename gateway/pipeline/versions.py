"""`GET /` (ListApiVersion, section 4.1.1) answered by the gateway itself.

It is the one DDM route without authentication, and its answer is static: proxying it would
let anyone push uncounted traffic to DDM through the gateway. The list is data
(api_versions.json), read once; the answer goes out through the relay like any other.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from ..proxy.answer import UpstreamResponse


@lru_cache(maxsize=1)
def api_versions_answer() -> UpstreamResponse:
    text = resources.files(__package__).joinpath("api_versions.json").read_text(encoding="utf-8")
    body = json.dumps(json.loads(text), separators=(",", ":")).encode("utf-8")
    return UpstreamResponse(200, None, (("Content-Type", "application/json"),), body=body)

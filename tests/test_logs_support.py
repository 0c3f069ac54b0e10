"""Helpers for the log tests: reading JSON-lines logs that are written off the request path.

No tests here. A line is written by the log's writer thread within `logging.flush_interval_s`
(0.02 s in the tests' configs) of the request, so a reader polls for it (bounded) instead of
expecting it with the response.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any


def read_records(path: Path) -> list[dict[str, Any]]:
    """Every record of a log (none while the file does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def record_of(path: Path, request_id: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """The one record of `request_id` in the log at `path`, polled for until it is written."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [r for r in read_records(path) if r.get("request_id") == request_id]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, f"request {request_id} has {len(found)} records in {path.name}"
            return found[0]
        time.sleep(0.02)


def records_by_request(path: Path, request_ids: list[str], *, settle_s: float = 0.1,
                       timeout_s: float = 10.0) -> dict[str, list[dict[str, Any]]]:
    """Every record of each request id, once each id has one and the log has stopped growing for
    `settle_s` (a request's audit records are queued together, so they arrive together)."""
    deadline = time.monotonic() + timeout_s
    size, steady_since = -1, time.monotonic()
    while True:
        records = read_records(path)
        found: dict[str, list[dict[str, Any]]] = {rid: [] for rid in request_ids}
        for record in records:
            if record.get("request_id") in found:
                found[record["request_id"]].append(record)
        now = time.monotonic()
        current = path.stat().st_size if path.exists() else 0
        if current != size:
            size, steady_since = current, now
        if (all(found.values()) and now - steady_since >= settle_s) or now > deadline:
            return found
        time.sleep(0.02)


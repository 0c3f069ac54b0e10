"""Sessions, kill audit log and slow logs (sections 4.5.1, 4.6.1-4.6.5).

Physical-session routes take the DDM instance id or the id of one of its RDS instances, as
the reference allows; the sessions themselves are canned catalogue rows.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from ddmsim.catalog import load_catalog
from ddmsim.context import Ctx, iso_time, page
from ddmsim.errors import fail
from ddmsim.state import Instance

MAX_WINDOW_MS = 7 * 24 * 3600 * 1000
_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z")


def _owner(ctx: Ctx) -> Instance:
    """The DDM instance named by the path, directly or through one of its RDS ids."""
    wanted = ctx.path["instance_id"]
    for inst in ctx.project.instances.values():
        if inst.id == wanted or wanted in inst.rds:
            return inst
    raise fail("instance_not_found")


def _matches(row: Mapping[str, Any], keyword: str | None) -> bool:
    return not keyword or any(keyword.lower() in str(v).lower() for v in row.values())


def _listing(ctx: Ctx, rows: list[Mapping[str, Any]], killed: set[str], key: str) -> dict[str, Any]:
    alive = [dict(r) for r in rows if str(r["id"]) not in killed and _matches(r, ctx.query["keyword"])]
    return {"total_count": len(alive), key: page(alive, ctx.query["offset"], ctx.query["limit"])}


def list_logical(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.instance()
    return _listing(ctx, load_catalog()["logical_processes"], inst.killed_logical, "logical_processes")


def list_physical(ctx: Ctx) -> dict[str, Any]:
    inst = _owner(ctx)
    return _listing(ctx, load_catalog()["physical_processes"], inst.killed_physical, "physical_processes")


def _kill(ctx: Ctx, inst: Instance, rows: list[Mapping[str, Any]], killed: set[str]) -> dict[str, Any]:
    """Only live session ids; each kill lands in the audit log (section 4.6.5)."""
    live = {str(r["id"]) for r in rows} - killed
    ids = ctx.body["process_ids"]
    if any(pid not in live for pid in ids):
        raise fail("parameter_error")
    for pid in dict.fromkeys(ids):
        killed.add(pid)
        inst.audit_log.append({"instance_id": inst.id, "instance_name": inst.name, "process_id": pid,
                               "execute_user_name": "sim-user", "execute_time": iso_time(ctx.now),
                               "_at": ctx.now})
    return {"resp": "successful"}


def kill_logical(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.instance()
    return _kill(ctx, inst, load_catalog()["logical_processes"], inst.killed_logical)


def kill_physical(ctx: Ctx) -> dict[str, Any]:
    inst = _owner(ctx)
    return _kill(ctx, inst, load_catalog()["physical_processes"], inst.killed_physical)


def _parse_time(text: str) -> float:
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).timestamp()
        except ValueError:
            continue
    raise fail("time_invalid")


def _window_ms(start_ms: float, end_ms: float) -> None:
    if end_ms < start_ms or end_ms - start_ms > MAX_WINDOW_MS:
        raise fail("time_invalid")


def list_audit_log(ctx: Ctx) -> dict[str, Any]:
    inst = _owner(ctx)
    start, end = _parse_time(ctx.query["start_time"]), _parse_time(ctx.query["end_time"])
    _window_ms(start * 1000, end * 1000)
    rows = [{k: v for k, v in e.items() if k != "_at"} for e in inst.audit_log if start <= e["_at"] <= end]
    return {"total_count": len(rows), "process_audit_logs": page(rows, ctx.query["offset"], ctx.query["limit"])}


def list_slow_log(ctx: Ctx) -> dict[str, Any]:
    """Canned slow SQL, stamped inside the requested window (at most 7 days)."""
    ctx.instance()
    start, end = ctx.query["startDate"], ctx.query["endDate"]
    _window_ms(start, end)
    stamp = datetime.fromtimestamp(start / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    rows = [{**row, "logTime": stamp} for row in load_catalog()["slow_logs"]]
    per_page = ctx.query["perPage"]
    first = (ctx.query["curPage"] - 1) * per_page
    return {"totalRecord": len(rows), "slowLogList": rows[first: first + per_page]}

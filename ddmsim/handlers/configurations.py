"""Instance parameters (sections 4.2.15, 4.2.16)."""
from __future__ import annotations

import re
import time
from typing import Any, Mapping

from ddmsim.catalog import load_catalog
from ddmsim.context import Ctx, page
from ddmsim.errors import fail


def _in_range(value: str, value_range: str, data_type: str) -> bool:
    """Check a value against the catalogue's ``value_range`` (``a-b`` or ``x,y,z``)."""
    if not value_range:
        return True
    if data_type in ("integer", "double"):
        low, high = value_range.split("-")
        if not re.fullmatch(r"\d+(\.\d+)?" if data_type == "double" else r"\d+", value):
            return False
        return float(low) <= float(value) <= float(high)
    return value in value_range.split(",")


def _definitions() -> Mapping[str, Mapping[str, Any]]:
    return {p["name"]: p for p in load_catalog()["parameters"]}


def show_params(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.instance()
    params = [{**p, "value": inst.params.get(p["name"], p["value"])} for p in load_catalog()["parameters"]]
    return {"id": inst.param_group_id, "name": f"ddm_{inst.name}"[:16],
            "description": load_catalog()["parameter_group_description"],
            "updated": _param_time(inst.param_updated),
            "configuration_parameter": page(params, ctx.query["offset"], ctx.query["limit"]),
            "offset": ctx.query["offset"], "limit": ctx.query["limit"], "total": len(params)}


def _param_time(ts: float) -> str:
    """Section 4.2.15 shows ``2021-11-09 03:26:52`` here, unlike other timestamps."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def update_params(ctx: Ctx) -> dict[str, Any]:
    """Only known parameters, each within its documented range; empty values are skipped."""
    inst = ctx.running_instance()
    definitions = _definitions()
    changes = {k: v for k, v in ctx.body["values"].items() if v != ""}
    for name, value in changes.items():
        spec = definitions.get(name)
        if spec is None or not _in_range(value, spec["value_range"], spec["data_type"]):
            raise fail("param_invalid", param=name)
    if "max_allowed_packet" in changes and int(changes["max_allowed_packet"]) % 1024:
        raise fail("param_invalid", param="max_allowed_packet")
    inst.params.update(changes)
    inst.param_updated = ctx.now
    job = ctx.submit_job(inst, "SetConfiguration", "nothing", "SET_CONFIGURATION")
    return {"nodeList": None, "needRestart": False, "jobId": job.id,
            "configId": inst.param_group_id, "configName": f"ddm_{inst.name}"[:16]}

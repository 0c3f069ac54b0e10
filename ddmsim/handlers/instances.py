"""Instance lifecycle and settings (sections 4.2.1-4.2.8, 4.2.11, 4.2.12, 4.2.19, 4.2.26, 4.2.27)."""
from __future__ import annotations

import math
from typing import Any

from ddmsim.catalog import engine_by_id, flavor_by_code, flavor_by_id, load_catalog
from ddmsim.context import Ctx, page
from ddmsim.errors import fail
from ddmsim.handlers.views import instance_detail, instance_summary
from ddmsim.rules import password_digest, require_password
from ddmsim.state import Group, Instance, Node, Rds


def add_nodes(ctx: Ctx, inst: Instance, group_id: str, zones: list[str], count: int) -> list[Node]:
    """``count`` nodes spread round-robin over ``zones``, added in status ``creating``."""
    nodes = []
    for index in range(count):
        number = len(inst.nodes) + 1
        node = Node(id=ctx.state.new_hex("no09"), name=f"{inst.name}_node_{number:02d}",
                    group_id=group_id, ip=ctx.state.new_ip(), port=inst.port,
                    az=zones[index % len(zones)], subnet_id=inst.subnet_id,
                    server_id=ctx.state.new_uuid())
        inst.nodes[node.id] = node
        nodes.append(node)
    return nodes


def _new_rds(ctx: Ctx, inst: Instance) -> None:
    """Each simulated DDM instance sees a few RDS instances it can build databases on."""
    for index in range(load_catalog()["rds_per_instance"]):
        rds = Rds(id=ctx.state.new_hex("in01"), name=f"rds-{inst.name}-{index:02d}", ip=ctx.state.new_ip())
        inst.rds[rds.id] = rds


def _build_instance(ctx: Ctx, spec: dict[str, Any], prepaid: bool) -> Instance:
    engine = engine_by_id(spec["engine_id"])
    if engine is None or flavor_by_id(spec["flavor_id"]) is None:
        raise fail("parameter_error")
    if spec.get("admin_user_password") is not None:
        require_password(spec["admin_user_password"])
    inst = Instance(
        id=ctx.state.new_hex("in09"), project_id=ctx.project_id, name=spec["name"], status="CREATING",
        created=ctx.now, updated=ctx.now, az=",".join(spec["available_zones"]), vpc_id=spec["vpc_id"],
        subnet_id=spec["subnet_id"], security_group_id=spec["security_group_id"],
        flavor_id=spec["flavor_id"], engine_id=engine["id"], engine_version=engine["version"],
        enterprise_project_id=spec["enterprise_project_id"], time_zone=spec["time_zone"],
        access_ip=ctx.state.new_ip(), order_id=("CS" + ctx.state.new_hex()[:15].upper()) if prepaid else None,
        param_group_id=spec.get("param_group_id") or ctx.state.new_hex("pr09"), param_updated=ctx.now,
        params={p["name"]: p["value"] for p in load_catalog()["parameters"]},
    )
    if spec.get("admin_user_name") and spec.get("admin_user_password"):
        inst.admin_user, inst.admin_digest = spec["admin_user_name"], password_digest(spec["admin_user_password"])
    group = Group(id=ctx.state.new_hex("gr09"), name="group-default", role="rw",
                  flavor_id=spec["flavor_id"], is_default=True)
    inst.groups[group.id] = group
    add_nodes(ctx, inst, group.id, spec["available_zones"], spec["node_num"])
    _new_rds(ctx, inst)
    return inst


def _check_prepaid(extend: dict[str, Any] | None) -> bool:
    """prePaid needs period_type and period_num (1-9 months or 1 year)."""
    if not extend or extend.get("charge_mode") != "prePaid":
        return False
    period_type, period_num = extend.get("period_type"), extend.get("period_num")
    if period_type is None or period_num is None or (period_type == "year" and period_num != 1):
        raise fail("parameter_error")
    return True


def create_instance(ctx: Ctx) -> dict[str, Any]:
    prepaid = _check_prepaid(ctx.body.get("extend_param"))
    inst = _build_instance(ctx, ctx.body["instance"], prepaid)
    ctx.project.instances[inst.id] = inst
    job = ctx.submit_job(inst, "CreateInstance", "nodes_ready", "CREATING")
    if prepaid:
        return {"id": None, "job_id": None, "order_id": inst.order_id}
    return {"id": inst.id, "job_id": job.id, "order_id": None}


def create_instance_v3(ctx: Ctx) -> dict[str, Any]:
    """The v3 body is flat and names the flavor by spec code and the engine by version."""
    spec = dict(ctx.body)
    flavor = flavor_by_code(spec["flavor_ref"])
    engine = next((e for e in load_catalog()["engines"]
                   if e["version"] == spec.get("engine_version")), load_catalog()["engines"][0])
    if flavor is None:
        raise fail("parameter_error")
    spec.update(flavor_id=flavor["id"], engine_id=engine["id"])
    inst = _build_instance(ctx, spec, prepaid=False)
    ctx.project.instances[inst.id] = inst
    job = ctx.submit_job(inst, "CreateInstance", "nodes_ready", "CREATING")
    return {"id": inst.id, "job_id": job.id, "order_id": None}


def list_instances_v3(ctx: Ctx) -> dict[str, Any]:
    """ListDdms: the v1 list's items, counted as `total` instead of `total_record`."""
    listed = list_instances(ctx)
    listed["total"] = listed.pop("total_record")
    return listed


def show_instance_v3(ctx: Ctx) -> dict[str, Any]:
    """ShowDdmDetail answers a one-item `instances` list."""
    inst = ctx.instance()
    return {"instances": [{**instance_detail(inst), "time_zone": inst.time_zone,
                           "port": str(inst.port)}]}


def list_instances(ctx: Ctx) -> dict[str, Any]:
    """Section 4.2.2 pages by offset/limit but reports page_no/page_size/total_page."""
    offset, limit = ctx.query["offset"], ctx.query["limit"]
    items = list(ctx.project.instances.values())
    shown = page(items, offset, limit)
    return {"instances": [instance_summary(i) for i in shown], "instance_num": len(items),
            "page_no": offset // limit + 1, "page_size": len(shown), "total_record": len(items),
            "total_page": math.ceil(len(items) / limit)}


def show_instance(ctx: Ctx) -> dict[str, Any]:
    return instance_detail(ctx.instance())


def update_name(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.running_instance()
    inst.name, inst.updated = ctx.body["name"], ctx.now
    return {"name": inst.name}


def update_security_group(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.running_instance()
    inst.security_group_id, inst.updated = ctx.body["security_group_id"], ctx.now
    return {"security_group_id": inst.security_group_id}


def delete_instance(ctx: Ctx) -> dict[str, Any]:
    """Pay-per-use only (section 4.2.6); children go with the instance, at once."""
    inst = ctx.instance()
    if inst.order_id is not None:
        raise fail("request_failed")
    job = ctx.submit_job(inst, "DeleteInstance", "nothing")
    del ctx.project.instances[inst.id]
    return {"id": inst.id, "job_id": job.id}


def restart_instance(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.running_instance()
    job = ctx.submit_job(inst, "RestartInstance", "nothing", "RESTARTING")
    return {"instanceId": inst.id, "instanceName": inst.name, "jobId": job.id}


def reload_config(ctx: Ctx) -> dict[str, Any]:
    ctx.running_instance()
    return {}


def update_read_weight(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.running_instance()
    weights = ctx.body["read_weight"]
    if not set(weights) <= set(inst.rds):
        raise fail("rds_not_found")
    inst.read_weight.update(weights)
    return {"success": True, "instance_id": inst.id}


def sync_dn(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.running_instance()
    job = ctx.submit_job(inst, "SyncDnInfo", "nothing")
    return {"instanceId": inst.id, "jobId": job.id}


def resize_flavor(ctx: Ctx) -> dict[str, Any]:
    """Section 4.2.19: a different, existing spec; c6s cannot go to c6."""
    inst = ctx.running_instance()
    target, current = flavor_by_code(ctx.body["spec_code"]), flavor_by_id(inst.flavor_id)
    if target is None or target["id"] == inst.flavor_id:
        raise fail("parameter_error")
    if current and ".c6s." in current["spec_code"] and ".c6." in target["spec_code"]:
        raise fail("parameter_error")
    if ctx.body.get("group_id") and ctx.body["group_id"] not in inst.groups:
        raise fail("group_not_found")
    job = ctx.submit_job(inst, "ResizeFlavor", "resize", "RESIZING", flavor_id=target["id"])
    return {"job_id": job.id}


def switch_ssl(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.running_instance()
    job = ctx.submit_job(inst, "SwitchSsl", "set_ssl", "RESTARTING", enabled=ctx.body["ssl_enabled"])
    return {"job_id": job.id}


def update_port(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.running_instance()
    job = ctx.submit_job(inst, "ModifyPort", "set_port", "RESTARTING", port=ctx.body["port"])
    return {"job_id": job.id}

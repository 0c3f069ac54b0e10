"""Nodes: list/show and scale out/in (sections 4.2.9, 4.2.10, 4.2.13, 4.2.14, 4.2.24)."""
from __future__ import annotations

from typing import Any

from ddmsim.catalog import flavor_by_id
from ddmsim.context import Ctx, page
from ddmsim.errors import fail
from ddmsim.handlers.instances import add_nodes
from ddmsim.handlers.views import node_brief
from ddmsim.state import Instance

MAX_NODES = 32


def _target_group(inst: Instance, group_id: str | None) -> str:
    """The group to scale: required when the instance has more than one."""
    if group_id is None:
        if len(inst.groups) > 1:
            raise fail("parameter_error")
        return next(iter(inst.groups))
    if group_id not in inst.groups:
        raise fail("group_not_found")
    return group_id


def _enlarge(ctx: Ctx, inst: Instance, group_id: str, zones: list[str]) -> str:
    if len(inst.nodes) + len(zones) > MAX_NODES:
        raise fail("parameter_error")
    add_nodes(ctx, inst, group_id, zones, len(zones))
    return ctx.submit_job(inst, "EnlargeNodes", "nodes_ready", "GROWING").id


def enlarge_v2(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.running_instance()
    if flavor_by_id(ctx.body["flavor_id"]) is None:
        raise fail("parameter_error")
    group_id = _target_group(inst, ctx.body.get("group_id"))
    zones = ctx.body.get("available_zones") or [inst.az.split(",")[0]]
    count = ctx.body["node_number"]
    job_id = _enlarge(ctx, inst, group_id, [zones[i % len(zones)] for i in range(count)])
    return {"instanceId": inst.id, "instanceName": inst.name, "jobId": job_id}


def enlarge_v3(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.running_instance()
    group_id = _target_group(inst, ctx.body.get("group_id"))
    zones = [node["available_zone"] for node in ctx.body["nodes"]]
    return {"job_id": _enlarge(ctx, inst, group_id, zones)}


def reduce_v2(ctx: Ctx) -> dict[str, Any]:
    """At most node count minus one of the group's nodes; the newest go first."""
    inst = ctx.running_instance()
    group_id = _target_group(inst, ctx.body.get("group_id"))
    members = [n.id for n in inst.nodes.values() if n.group_id == group_id]
    count = ctx.body["node_number"]
    if count > len(members) - 1:
        raise fail("parameter_error")
    job = ctx.submit_job(inst, "ReduceNodes", "remove_nodes", "REDUCING", node_ids=members[-count:])
    return {"instanceId": inst.id, "instanceName": inst.name, "jobId": job.id}


def list_nodes(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.instance()
    nodes = list(inst.nodes.values())
    shown = page(nodes, ctx.query["offset"], ctx.query["limit"])
    return {"nodes": [node_brief(n) for n in shown], "offset": ctx.query["offset"],
            "limit": ctx.query["limit"], "total": len(nodes)}


def show_node(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.instance()
    node = inst.nodes.get(ctx.path["node_id"])
    if node is None:
        raise fail("node_not_found")
    return {"status": node.status, "name": node.name, "node_id": node.id, "private_ip": node.ip,
            "floating_ip": node.ip, "server_id": node.server_id, "subnet_name": "subnet-ddm",
            "datavolume_id": node.server_id, "res_subnet_ip": node.ip,
            "systemvolume_id": node.server_id, "group_id": node.group_id, "subnet_id": node.subnet_id}

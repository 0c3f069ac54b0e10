"""Instance groups (sections 4.2.20, 4.2.21)."""
from __future__ import annotations

from typing import Any

from ddmsim.catalog import flavor_by_id
from ddmsim.context import Ctx, page
from ddmsim.errors import fail
from ddmsim.handlers.instances import add_nodes
from ddmsim.handlers.nodes import MAX_NODES
from ddmsim.state import Group, Instance


def _group_view(inst: Instance, group: Group) -> dict[str, Any]:
    flavor = flavor_by_id(group.flavor_id) or {"cpu": 0, "mem": 0, "architecture": "X86"}
    members = [n for n in inst.nodes.values() if n.group_id == group.id]
    return {"id": group.id, "name": group.name, "role": group.role,
            "endpoint": ",".join(f"{n.ip}:{n.port}" for n in members), "ipv6_endpoint": "",
            "is_load_balance": False, "is_default_group": group.is_default,
            "cpu_num_per_node": flavor["cpu"], "mem_num_per_node": flavor["mem"],
            "architecture": flavor["architecture"],
            "node_list": [{"id": n.id, "name": n.name, "az": n.az} for n in members]}


def list_groups(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.instance()
    groups = list(inst.groups.values())
    shown = page(groups, ctx.query["offset"], ctx.query["limit"])
    return {"total_count": len(groups), "group_list": [_group_view(inst, g) for g in shown]}


def create_group(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.running_instance()
    body = ctx.body
    if flavor_by_id(body["flavor_id"]) is None:
        raise fail("parameter_error")
    if any(g.name == body["name"] for g in inst.groups.values()):
        raise fail("parameter_error")
    if len(inst.nodes) + len(body["nodes"]) > MAX_NODES:
        raise fail("parameter_error")
    group = Group(id=ctx.state.new_hex("gr09"), name=body["name"], role=body["type"],
                  flavor_id=body["flavor_id"], is_default=False)
    inst.groups[group.id] = group
    add_nodes(ctx, inst, group.id, [n["available_zone"] for n in body["nodes"]], len(body["nodes"]))
    job = ctx.submit_job(inst, "CreateGroup", "nodes_ready", "GROWING")
    return {"job_id": job.id, "group_id": group.id}

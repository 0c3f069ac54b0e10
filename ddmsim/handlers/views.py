"""JSON views of state objects, shaped as the reference's response tables."""
from __future__ import annotations

from typing import Any

from ddmsim.catalog import flavor_by_id
from ddmsim.context import iso_time
from ddmsim.state import Instance, Node


def _flavor_fields(inst: Instance) -> dict[str, Any]:
    flavor = flavor_by_id(inst.flavor_id) or {"cpu": 0, "mem": 0, "spec_code": ""}
    return {"core_count": str(flavor["cpu"]), "ram_capacity": str(flavor["mem"]),
            "flavor_ref": flavor["spec_code"]}


def _node_status(inst: Instance) -> str:
    statuses = {node.status for node in inst.nodes.values()}
    return "RUNNING" if statuses <= {"normal"} else "ABNORMAL" if "abnormal" in statuses else "CREATING"


def instance_summary(inst: Instance) -> dict[str, Any]:
    """ShowInstanceBeanResponse (section 4.2.2)."""
    return {
        "id": inst.id, "status": inst.status, "name": inst.name,
        "created": iso_time(inst.created), "updated": iso_time(inst.updated),
        "available_zone": inst.az, "vpc_id": inst.vpc_id, "subnet_id": inst.subnet_id,
        "security_group_id": inst.security_group_id, "node_count": len(inst.nodes),
        "access_ip": inst.access_ip, "access_port": str(inst.port),
        "node_status": _node_status(inst), "enterprise_project_id": inst.enterprise_project_id,
        "project_id": inst.project_id, "engine_version": inst.engine_version,
        "order_id": inst.order_id, "enable_ssl": inst.enable_ssl, **_flavor_fields(inst),
    }


def node_brief(node: Node) -> dict[str, Any]:
    return {"status": node.status, "port": str(node.port), "ip": node.ip,
            "group_id": node.group_id, "node_id": node.id}


def instance_detail(inst: Instance) -> dict[str, Any]:
    """Section 4.2.3: the summary plus nodes and the admin account name."""
    return {**instance_summary(inst), "nodes": [node_brief(n) for n in inst.nodes.values()],
            "admin_user_name": inst.admin_user}

"""Job completion: asynchronous DDM operations finish lazily, when the clock says so.

No background task runs: before every request, :func:`settle` completes the project's jobs
whose time has come and applies their effect. With ``job_seconds=0`` a job completes at the
next request; with an injected clock tests step time without sleeping.
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Callable, Mapping

from ddmsim.state import Instance, Job, Project


def _nodes_ready(inst: Instance, job: Job) -> None:
    for node in inst.nodes.values():
        if node.status == "creating":
            node.status = "normal"


def _remove_nodes(inst: Instance, job: Job) -> None:
    for node_id in job.params.get("node_ids", []):
        inst.nodes.pop(node_id, None)


def _resize(inst: Instance, job: Job) -> None:
    inst.flavor_id = job.params["flavor_id"]


def _change_version(inst: Instance, job: Job) -> None:
    inst.previous_version, inst.engine_version = inst.engine_version, job.params["version"]


def _set_port(inst: Instance, job: Job) -> None:
    inst.port = job.params["port"]
    for node in inst.nodes.values():
        node.port = inst.port


def _set_ssl(inst: Instance, job: Job) -> None:
    inst.enable_ssl = job.params["enabled"]


def _database_ready(inst: Instance, job: Job) -> None:
    db = inst.databases.get(job.params["name"])
    if db is not None:
        db.status = "RUNNING"


def _database_gone(inst: Instance, job: Job) -> None:
    inst.databases.pop(job.params["name"], None)


def _nothing(inst: Instance, job: Job) -> None:
    return None


EFFECTS: Mapping[str, Callable[[Instance, Job], None]] = MappingProxyType({
    "nodes_ready": _nodes_ready,
    "remove_nodes": _remove_nodes,
    "resize": _resize,
    "change_version": _change_version,
    "set_port": _set_port,
    "set_ssl": _set_ssl,
    "database_ready": _database_ready,
    "database_gone": _database_gone,
    "nothing": _nothing,
})


def _complete(project: Project, job: Job, now: float) -> None:
    inst = project.instances.get(job.instance_id)
    job.status, job.ended = "Completed", job.created + job.duration
    if inst is None:
        return
    EFFECTS[job.effect](inst, job)
    if job.transient and inst.status == job.transient:
        inst.status = "RUNNING"
    inst.updated = now


def settle(project: Project, now: float) -> None:
    """Complete every running job whose duration has elapsed, oldest first."""
    for job in list(project.jobs.values()):
        if job.status == "Running" and now >= job.created + job.duration:
            _complete(project, job, now)


def progress(job: Job, now: float) -> str:
    """``"60%"`` while running, ``""`` otherwise (section 4.2.25)."""
    if job.status != "Running":
        return ""
    done = 0.0 if job.duration <= 0 else (now - job.created) / job.duration
    return f"{min(99, max(1, int(done * 100)))}%"

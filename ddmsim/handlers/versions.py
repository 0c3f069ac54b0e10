"""Kernel versions (sections 4.7.1-4.7.4)."""
from __future__ import annotations

from typing import Any

from ddmsim.catalog import load_catalog
from ddmsim.context import Ctx
from ddmsim.errors import fail


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _choices(current: str) -> list[str]:
    return [v for v in load_catalog()["kernel_versions"] if v != current]


def available_versions(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.instance()
    versions = _choices(inst.engine_version)
    latest = max(load_catalog()["kernel_versions"], key=_version_key)
    return {"versions": versions, "current_version": inst.engine_version, "latest_version": latest,
            "current_favored_version": load_catalog()["favored_version"],
            "previous_version": inst.previous_version or ""}


def change_version(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.running_instance()
    target = ctx.body["target_version"]
    if target not in _choices(inst.engine_version):
        raise fail("parameter_error")
    job = ctx.submit_job(inst, "ChangeVersion", "change_version", "UPGRADE_VERSION_INSTANCE", version=target)
    return {"instance_id": inst.id, "job_id": job.id}


def rollback_version(ctx: Ctx) -> dict[str, Any]:
    """Only after an upgrade: back to the version before the last change."""
    inst = ctx.running_instance()
    if not inst.previous_version:
        raise fail("request_failed")
    job = ctx.submit_job(inst, "RollbackVersion", "change_version", "ROLL_BACK_DB_VERSION",
                         version=inst.previous_version)
    return {"instance_id": inst.id, "job_id": job.id}


def show_risk_info(ctx: Ctx) -> dict[str, Any]:
    """A risk is reported while the instance runs below the latest kernel version."""
    inst = ctx.instance()
    latest = max(load_catalog()["kernel_versions"], key=_version_key)
    if _version_key(inst.engine_version) >= _version_key(latest):
        return {"risks": []}
    risk = load_catalog()["risk"]
    return {"risks": [{"instance_id": inst.id, "engine_name": "ddm", "engine_version": inst.engine_version,
                       **risk}]}

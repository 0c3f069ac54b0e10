"""Logical databases (sections 4.3.1-4.3.7).

Referential rules: a database needs a RUNNING instance and RDS instances that instance can
see; names are unique per instance (case-insensitive, as DDM lower-cases them); deleting a
database also drops it from every account that referenced it.
"""
from __future__ import annotations

from typing import Any

from ddmsim.context import Ctx, millis, page
from ddmsim.errors import fail
from ddmsim.rules import require_database_name
from ddmsim.state import Database, Instance

MAX_SHARDS_PER_RDS = 64


def _instance_for_create(ctx: Ctx) -> Instance:
    inst = ctx.instance()
    if inst.status != "RUNNING":
        raise fail("database_create_failed")
    return inst


def _check_rds(inst: Instance, rds_ids: list[str]) -> None:
    if len(set(rds_ids)) != len(rds_ids):
        raise fail("rds_duplicated")
    if any(rds_id not in inst.rds for rds_id in rds_ids):
        raise fail("rds_not_found")


def _shard_unit(mode: str, number: int, unit: int | None, rds_count: int) -> int:
    """Section 4.3.1's arithmetic: unit x RDS count, or between RDS count and 64x it."""
    if mode == "single":
        if number != 1 or unit not in (None, 1) or rds_count != 1:
            raise fail("shard_rule_invalid")
        return 1
    if unit is not None:
        if number != unit * rds_count:
            raise fail("shard_number_invalid")
        return unit
    if not rds_count <= number <= rds_count * MAX_SHARDS_PER_RDS:
        raise fail("shard_number_invalid")
    return max(1, number // rds_count)


def _new_database(ctx: Ctx, inst: Instance, spec: dict[str, Any], rds_ids: list[str], taken: set[str]) -> Database:
    name = spec["name"]
    require_database_name(name)
    if name in inst.databases or name in taken:
        raise fail("database_exists")
    _check_rds(inst, rds_ids)
    unit = _shard_unit(spec["shard_mode"], spec["shard_number"], spec.get("shard_unit"), len(rds_ids))
    return Database(name=name, shard_mode=spec["shard_mode"], shard_number=spec["shard_number"],
                    shard_unit=unit, rds_ids=rds_ids, created_ms=millis(ctx.now), updated_ms=millis(ctx.now))


def create_v1(ctx: Ctx) -> dict[str, Any]:
    """All-or-nothing: every database is checked before any is added."""
    inst = _instance_for_create(ctx)
    created: list[Database] = []
    for spec in ctx.body["databases"]:
        rds_ids = [rds["id"] for rds in spec["used_rds"]]
        created.append(_new_database(ctx, inst, spec, rds_ids, {d.name for d in created}))
    for db in created:
        inst.databases[db.name] = db
    return {"databases": [{"name": db.name} for db in created]}


def create_v3(ctx: Ctx) -> dict[str, Any]:
    inst = _instance_for_create(ctx)
    rds_ids = [dn["id"] for dn in ctx.body["dn_instances"]]
    db = _new_database(ctx, inst, dict(ctx.body), rds_ids, set())
    db.status = "CREATING"
    inst.databases[db.name] = db
    job = ctx.submit_job(inst, "CreateDatabase", "database_ready", name=db.name)
    return {"name": db.name, "job_id": job.id}


def _used_rds(inst: Instance, db: Database) -> list[dict[str, Any]]:
    return [{"id": rid, "name": inst.rds[rid].name if rid in inst.rds else "", "status": "normal"}
            for rid in db.rds_ids]


def list_databases(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.instance()
    dbs = list(inst.databases.values())
    rows = [{"name": d.name, "shard_mode": d.shard_mode, "shard_number": d.shard_number,
             "shard_unit": d.shard_unit, "status": d.status, "created": d.created_ms,
             "used_rds": _used_rds(inst, d)} for d in page(dbs, ctx.query["offset"], ctx.query["limit"])]
    return {"databases": rows, "total": len(dbs)}


def _find(inst: Instance, name: str, missing: str) -> Database:
    db = inst.databases.get(name.lower())
    if db is None:
        raise fail(missing)
    return db


def _shards(inst: Instance, db: Database) -> list[dict[str, Any]]:
    return [{"id": db.rds_ids[slot % len(db.rds_ids)], "name": f"{db.name}_{slot:04d}",
             "idName": f"{db.name}_{slot:04d}", "dbslot": slot, "status": db.status,
             "created": db.created_ms, "updated": db.updated_ms} for slot in range(db.shard_number)]


def show_database(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.instance()
    db = _find(inst, ctx.path["ddm_dbname"], "database_not_found")
    return {"database": {"name": db.name, "created": db.created_ms, "status": db.status,
                         "updated": db.updated_ms, "databases": _shards(inst, db),
                         "shard_mode": db.shard_mode, "shard_number": db.shard_number,
                         "shard_unit": db.shard_unit, "dataVips": [f"{inst.access_ip}:{inst.port}"],
                         "used_rds": _used_rds(inst, db)}}


def _drop(inst: Instance, db: Database) -> None:
    for account in inst.accounts.values():
        account.databases = [name for name in account.databases if name != db.name]


def _deletable(ctx: Ctx, name: str) -> tuple[Instance, Database]:
    inst = ctx.instance()
    db = _find(inst, name, "database_delete_failed")
    if db.status != "RUNNING" or inst.status != "RUNNING":
        raise fail("database_delete_failed")
    return inst, db


def delete_v1(ctx: Ctx) -> dict[str, Any]:
    inst, db = _deletable(ctx, ctx.path["ddm_dbname"])
    _drop(inst, db)
    del inst.databases[db.name]
    return {}


def delete_v3(ctx: Ctx) -> dict[str, Any]:
    inst, db = _deletable(ctx, ctx.path["database_name"])
    _drop(inst, db)
    db.status = "DELETING"
    job = ctx.submit_job(inst, "DeleteDatabase", "database_gone", name=db.name)
    return {"job_id": job.id, "database_name": db.name}


def list_available_rds(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.instance()
    rows = [{"id": r.id, "projectId": ctx.project_id, "status": "normal", "name": r.name,
             "engineName": "mysql", "engineSoftwareVersion": "5.7", "privateIp": r.ip, "mode": "Ha",
             "port": 3306, "azCode": inst.az, "timeZone": inst.time_zone} for r in inst.rds.values()]
    return {"instances": page(rows, ctx.query["offset"], ctx.query["limit"]),
            "offset": ctx.query["offset"], "limit": ctx.query["limit"], "total": len(rows)}


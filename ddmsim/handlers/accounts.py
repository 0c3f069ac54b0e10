"""DDM accounts and the admin account (sections 4.4.1-4.4.7).

Accounts may only reference databases that exist on the same instance; passwords are kept
as digests and never returned.
"""
from __future__ import annotations

import math
from typing import Any

from ddmsim.context import Ctx, millis, page
from ddmsim.errors import fail
from ddmsim.rules import is_weak, password_digest, require_password
from ddmsim.state import Account, Instance

MAX_ACCOUNTS = 100


def _database_names(inst: Instance, refs: list[dict[str, Any]] | None, error: str) -> list[str]:
    names = [ref["name"].lower() for ref in refs or []]
    if any(name not in inst.databases for name in names):
        raise fail(error)
    return list(dict.fromkeys(names))


def _new_account(ctx: Ctx, inst: Instance, spec: dict[str, Any], taken: set[str]) -> Account:
    if spec["name"] in inst.accounts or spec["name"] in taken:
        raise fail("account_exists")
    require_password(spec["password"])
    now_ms = millis(ctx.now)
    return Account(name=spec["name"], password_digest=password_digest(spec["password"]),
                   base_authority=list(dict.fromkeys(spec["base_authority"])),
                   description=spec.get("description") or "",
                   databases=_database_names(inst, spec.get("databases"), "account_create_failed"),
                   created_ms=now_ms, password_changed_ms=now_ms)


def create_users(ctx: Ctx) -> dict[str, Any]:
    """All-or-nothing, at most 100 accounts per instance."""
    inst = ctx.running_instance()
    created: list[Account] = []
    for spec in ctx.body["users"]:
        created.append(_new_account(ctx, inst, spec, {a.name for a in created}))
    if len(inst.accounts) + len(created) > MAX_ACCOUNTS:
        raise fail("account_create_failed")
    for account in created:
        inst.accounts[account.name] = account
    return {"users": [{"name": a.name} for a in created]}


def _account_view(inst: Instance, account: Account) -> dict[str, Any]:
    return {"name": account.name, "status": account.status, "base_authority": account.base_authority,
            "extend_authority": [], "password_last_changed": account.password_changed_ms,
            "description": account.description, "created": account.created_ms,
            "databases": [{"name": name, "description": ""} for name in account.databases]}


def list_users(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.instance()
    offset, limit = ctx.query["offset"], ctx.query["limit"]
    accounts = list(inst.accounts.values())
    shown = page(accounts, offset, limit)
    return {"users": [_account_view(inst, a) for a in shown], "page_no": offset // limit + 1,
            "page_size": len(shown), "total_record": len(accounts),
            "total_page": math.ceil(len(accounts) / limit)}


def _account(inst: Instance, name: str) -> Account:
    account = inst.accounts.get(name)
    if account is None:
        raise fail("account_not_found")
    return account


def update_user(ctx: Ctx) -> dict[str, Any]:
    """At least one of base_authority, description, databases (section 4.4.3)."""
    inst = ctx.running_instance()
    account = _account(inst, ctx.path["username"])
    change = ctx.body["user"]
    if all(change.get(key) is None for key in ("base_authority", "description", "databases")):
        raise fail("parameter_error")
    if change.get("databases") is not None:
        if any(ref.get("name") is None for ref in change["databases"]):
            raise fail("parameter_error")
        account.databases = _database_names(inst, change["databases"], "account_update_failed")
    if change.get("base_authority") is not None:
        account.base_authority = list(dict.fromkeys(change["base_authority"]))
    if change.get("description") is not None:
        account.description = change["description"]
    return {"name": account.name}


def delete_user(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.running_instance()
    account = _account(inst, ctx.path["username"])
    del inst.accounts[account.name]
    return {"name": account.name}


def reset_password(ctx: Ctx) -> dict[str, Any]:
    inst = ctx.running_instance()
    account = _account(inst, ctx.path["username"])
    require_password(ctx.body["password"])
    account.password_digest = password_digest(ctx.body["password"])
    account.password_changed_ms = millis(ctx.now)
    return {"success": True, "instance_id": inst.id, "user_name": account.name}


def reset_administrator(ctx: Ctx) -> dict[str, Any]:
    """First call creates the admin account; later calls only change its password (4.4.6)."""
    inst = ctx.running_instance()
    require_password(ctx.body["password"])
    if inst.admin_user is not None and inst.admin_user != ctx.body["name"]:
        raise fail("account_name_invalid")
    inst.admin_user, inst.admin_digest = ctx.body["name"], password_digest(ctx.body["password"])
    return {}


def validate_weak_password(ctx: Ctx) -> dict[str, Any]:
    return {"is_weak_password": is_weak(ctx.body["password"])}

"""Password logins and token scopes: plain functions over the directory, the store and the
password checker (no HTTP here; the handlers are gateway/http/iam.py). Errors are IamError,
Keystone-shaped, as Huawei IAM answers them.
"""
from __future__ import annotations

from typing import Any, Awaitable, TypeVar

from ..config.model import AuthConfig, DomainConfig
from ..errors import IamError
from ..identity import Identity, IdentityDirectory, Project
from ..limits import LimitStore, StoreUnavailable
from .password_checker import PasswordChecker, PasswordsBusy

LOGIN_FAILED = IamError(401, "IAM.0001", "The username or password is wrong.")
T = TypeVar("T")


def field(data: Any, *path: str) -> Any:
    """data[path[0]][path[1]]... or None, without KeyError/TypeError on wrong shapes."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


async def password_login(directory: IdentityDirectory, store: LimitStore, passwords: PasswordChecker,
                         auth_cfg: AuthConfig, user: Any) -> Identity:
    """One lockout per user, whether the login named it by id or by name; a user that does not
    exist is checked (and locked) like one that does, at the same scrypt cost."""
    if not isinstance(user, dict) or not isinstance(user.get("password"), str):
        raise IamError(400, "IAM.0011", "auth.identity.password.user.password is required.")
    identity, lock_key = login_subject(directory, user)
    await _refuse_locked(store, lock_key, IamError(401, "IAM.0061", "Account locked."))
    spec = identity.password if identity is not None and identity.enabled else None
    try:
        ok = await passwords.check(user["password"], encoded=spec.encoded if spec else None,
                                            plaintext=spec.plaintext if spec else None)
    except PasswordsBusy:
        raise IamError(503, "IAM.0006", "Too many logins are being checked; try again.") from None
    if spec is None or not ok:
        await _store_call(store.record_failure(lock_key, threshold=auth_cfg.lockout_threshold,
                                               lock_s=auth_cfg.lockout_s))
        raise LOGIN_FAILED
    await _store_call(store.clear_failures(lock_key))
    assert identity is not None   # spec is None for a missing identity
    return identity


def login_subject(directory: IdentityDirectory, user: dict[str, Any]) -> tuple[Identity | None, str]:
    """The user a login names and its lockout key: the user id when the user exists, the name
    as given when it does not (so unknown names lock too, and reveal nothing)."""
    if isinstance(user.get("id"), str):
        identity = directory.by_user_id(user["id"])
        given = f"id:{user['id']}"
    else:
        domain = domain_of(directory, user.get("domain"))
        name = user.get("name")
        identity = directory.by_login(domain.name, name) if domain is not None and isinstance(name, str) else None
        given = f"name:{domain.id if domain is not None else '-'}:{name}"
    return identity, f"login:{identity.user_id}" if identity is not None else f"login:{given}"


def domain_of(directory: IdentityDirectory, spec: Any) -> DomainConfig | None:
    if not isinstance(spec, dict):
        return None
    if isinstance(spec.get("id"), str):
        return directory.domain_by_id(spec["id"])
    if isinstance(spec.get("name"), str):
        return directory.domain_by_name(spec["name"])
    return None


def scope_project(directory: IdentityDirectory, identity: Identity, scope: Any) -> Project | None:
    """The project a token request scopes to (None: domain scope), which must be the user's."""
    project_spec = field(scope, "project")
    if isinstance(project_spec, dict):
        project = None
        if isinstance(project_spec.get("id"), str):
            project = directory.project(project_spec["id"])
        elif isinstance(project_spec.get("name"), str):
            domain = domain_of(directory, project_spec.get("domain")) or identity.domain
            project = directory.project_by_name(domain.id, project_spec["name"])
        if project is None or project.domain_id != identity.domain.id:
            raise IamError(401, "IAM.0001", "The project in the scope is not available to this user.")
        return project
    domain_spec = field(scope, "domain")
    if domain_spec is not None and domain_of(directory, domain_spec) is not identity.domain:
        raise IamError(401, "IAM.0001", "The domain in the scope is not available to this user.")
    return None


async def _refuse_locked(store: LimitStore, key: str, error: IamError) -> None:
    if await _store_call(store.lock_remaining(key)):
        raise error


async def _store_call(awaitable: Awaitable[T]) -> T:
    try:
        return await awaitable
    except StoreUnavailable:
        raise IamError(503, "IAM.0006", "The IAM service is temporarily unavailable.") from None

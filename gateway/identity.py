"""Lookups over the `iam` section of the config: who owns an AK, who logs in with a name.

Built once per config (re)load into plain dicts so the hot path is one dict lookup. The domain
owner is represented as a user too (Huawei: the account logs in with the domain name as user
name and may call everything).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Identity:
    """A user (or the domain owner) with the domain it belongs to."""

    domain: Any          # gateway.config DomainConfig
    user_id: str
    user_name: str
    groups: tuple[str, ...]
    password: Any        # PasswordSpec | None
    domain_owner: bool
    enabled: bool = True

    def __repr__(self) -> str:  # never show the password spec
        return f"Identity({self.domain.name}/{self.user_name})"


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    domain_id: str


class IdentityDirectory:
    """Read-only index of identities, access keys and projects."""

    def __init__(self, iam: Any) -> None:
        self._by_ak: dict[str, tuple[Identity, str]] = {}
        self._by_login: dict[tuple[str, str], Identity] = {}
        self._by_user_id: dict[str, Identity] = {}
        self._domains_by_name: dict[str, Any] = {}
        self._domains_by_id: dict[str, Any] = {}
        self._projects: dict[str, Project] = {}
        for domain in iam.domains:
            self._add_domain(domain)

    def _add_domain(self, domain: Any) -> None:
        self._domains_by_name[domain.name] = domain
        self._domains_by_id[domain.id] = domain
        owner = Identity(domain, domain.id, domain.name, (), domain.password, True)
        self._index(owner, ())
        for project in domain.projects:
            self._projects[project.id] = Project(project.id, project.name, domain.id)
        for user in domain.users:
            identity = Identity(domain, user.id, user.name, tuple(user.groups), user.password,
                                False, getattr(user, "enabled", True))
            self._index(identity, user.access_keys)

    def _index(self, identity: Identity, access_keys: Any) -> None:
        self._by_login[(identity.domain.name, identity.user_name)] = identity
        self._by_user_id[identity.user_id] = identity
        for key in access_keys:
            self._by_ak[key.ak] = (identity, key.sk)

    def by_access_key(self, ak: str) -> tuple[Identity, str] | None:
        return self._by_ak.get(ak)

    def by_login(self, domain_name: str, user_name: str) -> Identity | None:
        return self._by_login.get((domain_name, user_name))

    def by_user_id(self, user_id: str) -> Identity | None:
        return self._by_user_id.get(user_id)

    def domain_by_name(self, name: str) -> Any | None:
        return self._domains_by_name.get(name)

    def domain_by_id(self, domain_id: str) -> Any | None:
        return self._domains_by_id.get(domain_id)

    def project(self, project_id: str) -> Project | None:
        return self._projects.get(project_id)

    def projects_of(self, domain_id: str) -> list[Project]:
        return [p for p in self._projects.values() if p.domain_id == domain_id]

    def project_by_name(self, domain_id: str, name: str) -> Project | None:
        for project in self.projects_of(domain_id):
            if project.name == name:
                return project
        return None

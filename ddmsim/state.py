"""The simulator's in-memory world: plain dataclasses, partitioned by project.

One ``SimState`` lives on the aiohttp app (``STATE_KEY``); nothing here is global. Handlers run
synchronously between awaits, so each request's check-then-mutate is atomic on the event loop.
Dicts keep insertion order, which is what makes pagination stable.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Node:
    id: str
    name: str
    group_id: str
    ip: str
    port: int
    az: str
    subnet_id: str
    server_id: str
    status: str = "creating"


@dataclass
class Group:
    id: str
    name: str
    role: str
    flavor_id: str
    is_default: bool


@dataclass
class Database:
    name: str
    shard_mode: str
    shard_number: int
    shard_unit: int
    rds_ids: list[str]
    created_ms: int
    updated_ms: int
    status: str = "RUNNING"


@dataclass
class Account:
    name: str
    password_digest: str
    base_authority: list[str]
    description: str
    databases: list[str]
    created_ms: int
    password_changed_ms: int
    status: str = "RUNNING"


@dataclass
class Rds:
    id: str
    name: str
    ip: str


@dataclass
class Instance:
    id: str
    project_id: str
    name: str
    status: str
    created: float
    updated: float
    az: str
    vpc_id: str
    subnet_id: str
    security_group_id: str
    flavor_id: str
    engine_id: str
    engine_version: str
    enterprise_project_id: str
    time_zone: str
    access_ip: str
    order_id: str | None
    port: int = 5066
    enable_ssl: bool = False
    admin_user: str | None = None
    admin_digest: str | None = None
    previous_version: str | None = None
    param_group_id: str = ""
    param_updated: float = 0.0
    params: dict[str, str] = field(default_factory=dict)
    read_weight: dict[str, int] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    groups: dict[str, Group] = field(default_factory=dict)
    databases: dict[str, Database] = field(default_factory=dict)
    accounts: dict[str, Account] = field(default_factory=dict)
    rds: dict[str, Rds] = field(default_factory=dict)
    killed_logical: set[str] = field(default_factory=set)
    killed_physical: set[str] = field(default_factory=set)
    audit_log: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Job:
    """An asynchronous DDM task. ``effect`` names what completion does (see ``jobs.py``)."""

    id: str
    name: str
    instance_id: str
    instance_name: str
    created: float
    duration: float
    effect: str
    params: dict[str, Any] = field(default_factory=dict)
    transient: str | None = None
    status: str = "Running"
    ended: float | None = None


@dataclass
class Project:
    instances: dict[str, Instance] = field(default_factory=dict)
    jobs: dict[str, Job] = field(default_factory=dict)


@dataclass
class SimState:
    """All projects, plus a seeded id generator so runs are reproducible."""

    projects: dict[str, Project] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(20240618))
    ip_counter: int = 10

    def project(self, project_id: str) -> Project:
        return self.projects.setdefault(project_id, Project())

    def new_hex(self, suffix: str = "") -> str:
        """A DDM-style id: 32 hex chars plus the resource suffix (``in09``, ``no09``, ...)."""
        return f"{self.rng.getrandbits(128):032x}{suffix}"

    def new_uuid(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def new_ip(self) -> str:
        self.ip_counter += 1
        return f"192.168.{self.ip_counter // 250}.{self.ip_counter % 250 + 2}"

"""What a handler gets: validated input, the state, and an injected ``now``.

Handlers are plain synchronous functions ``(Ctx) -> dict``; they never see aiohttp, never read
a clock, and raise :class:`ddmsim.errors.SimError` for documented errors.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping

from ddmsim.errors import fail
from ddmsim.state import Instance, Job, Project, SimState


@dataclass(frozen=True)
class Ctx:
    state: SimState
    project_id: str
    path: Mapping[str, str]
    query: Mapping[str, Any]
    body: Mapping[str, Any]
    now: float
    job_seconds: float

    @property
    def project(self) -> Project:
        return self.state.project(self.project_id)

    def instance(self) -> Instance:
        """The path's instance, or the documented not-found error."""
        found = self.project.instances.get(self.path.get("instance_id", ""))
        if found is None:
            raise fail("instance_not_found")
        return found

    def running_instance(self) -> Instance:
        """The path's instance, refusing mutations while another operation is in flight."""
        inst = self.instance()
        if inst.status != "RUNNING":
            raise fail("instance_busy")
        return inst

    def submit_job(self, inst: Instance, name: str, effect: str, transient: str | None = None, /,
                   **params: Any) -> Job:
        """Start an asynchronous task; the instance shows ``transient`` until it completes."""
        job = Job(id=self.state.new_uuid(), name=name, instance_id=inst.id, instance_name=inst.name,
                  created=self.now, duration=self.job_seconds, effect=effect, params=params,
                  transient=transient)
        if transient:
            inst.status = transient
        inst.updated = self.now
        self.project.jobs[job.id] = job
        return job


def iso_time(ts: float) -> str:
    """DDM's timestamp format: ``2021-12-14T07:46:22+0000``."""
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(ts))


def millis(ts: float) -> int:
    return int(ts * 1000)


def page(items: list[Any], offset: int, limit: int) -> list[Any]:
    return items[offset: offset + limit]

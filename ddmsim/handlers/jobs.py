"""Job results (section 4.2.25)."""
from __future__ import annotations

from typing import Any

from ddmsim.context import Ctx, iso_time
from ddmsim.errors import fail
from ddmsim.jobs import progress


def show_job(ctx: Ctx) -> dict[str, Any]:
    job = ctx.project.jobs.get(ctx.path["job_id"])
    if job is None:
        raise fail("job_not_found")
    return {"job": {"id": job.id, "name": job.name, "status": job.status,
                    "created_time": iso_time(job.created),
                    "end_time": iso_time(job.ended) if job.ended is not None else "",
                    "process": progress(job, ctx.now),
                    "instance": {"id": job.instance_id, "name": job.instance_name}}}

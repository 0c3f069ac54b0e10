"""The access log: one JSON line and the request counters per request (`log_access`)."""
from __future__ import annotations

import asyncio
import functools
import sys
import time
from dataclasses import dataclass, field

from aiohttp import web

from ..config.model import LoggingConfig
from ..notes import RequestNotes
from ..principal import Principal
from .logs import LineFormat
from .metrics import GatewayMetrics
from .writer import LogPump, LogWriter, open_target

REOPEN_DEADLINE_S = 5.0   # the admin API's reopen answers within this, done or not


@dataclass
class Observability:
    metrics: GatewayMetrics
    access: LogWriter | None
    audit: LogWriter | None
    pump: LogPump = field(default_factory=LogPump)     # writes both logs on one thread
    lines: LineFormat = field(default_factory=LineFormat)

    @classmethod
    def from_config(cls, logging_config: LoggingConfig) -> "Observability":
        """The access log drops lines when its queue is full (counted); the audit log never does."""
        metrics, pump = GatewayMetrics(), LogPump(logging_config.flush_interval_s)
        capacity = logging_config.queue_lines
        access = open_target(logging_config.access_log, sys.stdout, sys.stderr)
        audit = open_target(logging_config.audit_log, sys.stdout, sys.stderr)
        return cls(metrics,
                   pump.add(access, name="access", capacity=capacity, drop_when_full=True,
                            full=metrics.access_log_dropped) if access is not None else None,
                   pump.add(audit, name="audit", capacity=capacity, drop_when_full=False,
                            full=metrics.audit_log_sync_writes) if audit is not None else None,
                   pump)

    def logs(self) -> list[LogWriter]:
        return self.pump.logs

    def close(self) -> None:
        """Writes every queued line, then closes the files (the app's cleanup: SIGTERM, SIGINT)."""
        self.pump.close()

    def request_reopen(self) -> None:
        """SIGUSR1: reopen every log file behind the lines queued so far (failures are logged)."""
        for sink in self.logs():
            sink.reopen()

    async def reopen(self) -> dict[str, str]:
        """The admin API's reopen: waits (REOPEN_DEADLINE_S) until every log reopened; per log
        "reopened", the error, or "pending" when its writer is still busy."""
        loop = asyncio.get_running_loop()
        waits: dict[str, asyncio.Future[BaseException | None]] = {}
        for sink in self.logs():
            done: asyncio.Future[BaseException | None] = loop.create_future()
            waits[sink.name] = done
            sink.reopen(functools.partial(_settle_from_thread, loop, done))
        await asyncio.wait(list(waits.values()), timeout=REOPEN_DEADLINE_S)
        return {name: ("pending" if not fut.done() else "reopened" if fut.result() is None else str(fut.result()))
                for name, fut in waits.items()}

    def audit_decision(self, request_id: str, principal: Principal | None, action: str, resource: str | None,
                       allowed: bool, effect: str, deciding: tuple[tuple[str, int], ...], denied_actions: list[str],
                       enterprise_project: str | None = None) -> None:
        self.metrics.decisions.count((effect,))
        if self.audit is None:
            return
        self.audit.write_line(self.lines.audit(request_id, principal, action, resource, enterprise_project,
                                               allowed, effect, denied_actions, deciding))

    def audit_would_reject(self, request_id: str, principal: Principal | None, action: str, rules: tuple[str, ...]) -> None:
        """A report-mode rate-limit rule had no room for an allowed request."""
        if self.audit is not None:
            self.audit.write_line(self.lines.event(request_id, principal, {
                "action": action, "event": "ratelimit_would_reject", "rules": list(rules)}))

    def audit_report_only(self, request_id: str, principal: Principal | None, action: str, resource: str | None,
                          outcome: str, allowed: bool, deciding: tuple[tuple[str, int], ...]) -> None:
        """Report-only policies would have changed this decision (`would_deny` / `would_allow`)."""
        self.metrics.report_only.inc(outcome)
        if self.audit is not None:
            self.audit.write_line(self.lines.event(request_id, principal, {
                "action": action, "resource": resource, "event": "report_only", "outcome": outcome,
                "decision": "allow" if allowed else "deny",
                "deciding": [{"policy": p, "statement": i} for p, i in deciding]}))


def _settle_from_thread(loop: asyncio.AbstractEventLoop, future: "asyncio.Future[BaseException | None]",
                        error: BaseException | None) -> None:
    """The writer thread's report of one reopen, handed to the loop that waits for it."""
    loop.call_soon_threadsafe(_settle, future, error)


def _settle(future: "asyncio.Future[BaseException | None]", error: BaseException | None) -> None:
    if not future.done():
        future.set_result(error)


OBSERVABILITY = web.AppKey("observability", Observability)


def log_access(request: web.Request, response: web.StreamResponse, notes: RequestNotes,
               started: float) -> None:
    """The request counters and one access-log line, once the response is final. Called by the
    request-id stage, which wraps every route handler (http/request_id.py)."""
    try:
        obs = request.app[OBSERVABILITY]
    except KeyError:   # an app without observability (unit tests); a Mapping's .get costs a frame more
        return
    route = notes.route
    path = notes.path if notes.path is not None else request.raw_path.partition("?")[0]
    action = route.action if route is not None else ("iam" if path.startswith("/v3") else "-")
    status = response.status        # a property: read once
    obs.metrics.requests.count((action, str(status)))
    if obs.access is not None:
        obs.access.write_line(obs.lines.access(
            notes.request_id, notes.source_ip or request.remote, request.method, path,
            notes.principal, action, notes.decision_effect, notes.enterprise_project,
            notes.ratelimit_outcome, notes.ratelimit_would_reject, notes.upstream_status, status,
            _body_bytes(response), time.perf_counter() - started))


def _body_bytes(response: web.StreamResponse) -> int | None:
    """What the body puts on the wire: counted once sent (a stream), else the whole body's
    length (aiohttp's `content_length` property chain costs more than the rest of the line)."""
    if response.prepared:
        return response.body_length
    body = response.body if isinstance(response, web.Response) else None
    return len(body) if isinstance(body, bytes) else response.content_length

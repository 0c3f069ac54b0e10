"""The access log: one JSON line and the request counters per request (`log_access`)."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..pipeline.notes import RequestNotes
from .logs import JsonLines, principal_fields, utc_now_iso
from .metrics import GatewayMetrics


@dataclass
class Observability:
    metrics: GatewayMetrics
    access: JsonLines | None
    audit: JsonLines | None

    @classmethod
    def from_config(cls, logging_config: Any) -> "Observability":
        return cls(GatewayMetrics(), JsonLines.open(logging_config.access_log),
                   JsonLines.open(logging_config.audit_log))

    def close(self) -> None:
        for sink in (self.access, self.audit):
            if sink is not None:
                sink.close()

    def audit_decision(self, request_id: str, principal: Any, action: str, resource: str | None,
                       allowed: bool, effect: str, deciding: Any, denied_actions: list[str],
                       enterprise_project: str | None = None) -> None:
        self.metrics.decisions.inc(effect)
        if self.audit is None:
            return
        self.audit.write({"time": utc_now_iso(), "request_id": request_id, **principal_fields(principal),
                          "action": action, "resource": resource, "enterprise_project": enterprise_project,
                          "decision": "allow" if allowed else "deny",
                          "effect": effect, "denied_actions": denied_actions,
                          "deciding": [{"policy": p, "statement": i} for p, i in deciding]})

    def audit_would_reject(self, request_id: str, principal: Any, action: str, rules: tuple[str, ...]) -> None:
        """A report-mode rate-limit rule had no room for an allowed request."""
        if self.audit is not None:
            self.audit.write({"time": utc_now_iso(), "request_id": request_id, **principal_fields(principal),
                              "action": action, "event": "ratelimit_would_reject", "rules": list(rules)})

    def audit_report_only(self, request_id: str, principal: Any, action: str, resource: str | None,
                          outcome: str, allowed: bool, deciding: Any) -> None:
        """Report-only policies would have changed this decision (`would_deny` / `would_allow`)."""
        self.metrics.report_only.inc(outcome)
        if self.audit is not None:
            self.audit.write({"time": utc_now_iso(), "request_id": request_id, **principal_fields(principal),
                              "action": action, "resource": resource, "event": "report_only",
                              "outcome": outcome, "decision": "allow" if allowed else "deny",
                              "deciding": [{"policy": p, "statement": i} for p, i in deciding]})


OBSERVABILITY = web.AppKey("observability", Observability)


def log_access(request: web.Request, response: web.StreamResponse, notes: RequestNotes,
               started: float) -> None:
    """The request counters and one access-log line, once the response is final. Called by the
    request-id stage, which wraps every route handler (pipeline/request_id.py)."""
    obs = request.app.get(OBSERVABILITY)
    if obs is None:
        return
    route = notes.route
    action = route.action if route is not None else ("iam" if request.path.startswith("/v3") else "-")
    obs.metrics.requests.inc(action, str(response.status))
    if obs.access is not None:
        obs.access.write({
            "time": utc_now_iso(), "request_id": notes.request_id,
            "source_ip": notes.source_ip or request.remote, "method": request.method,
            "path": request.path, **principal_fields(notes.principal),
            "action": action, "decision": notes.decision_effect,
            "enterprise_project": notes.enterprise_project, "ratelimit": notes.ratelimit_outcome,
            "ratelimit_would_reject": notes.ratelimit_would_reject or None,   # report-mode rules
            "upstream_status": notes.upstream_status, "status": response.status,
            "bytes": response.body_length if response.prepared else response.content_length,
            "latency_ms": round((time.perf_counter() - started) * 1000, 3)})

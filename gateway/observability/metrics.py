"""A minimal Prometheus text-format registry (counters, gauges, one histogram type).

Writing ~80 lines beats a dependency here: the gateway needs labelled counters and a latency
histogram, rendered on the admin port; increments are dict updates on the event loop thread.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from typing import Iterable

LabelValues = tuple[str, ...]
INF_LABEL = 'le="+Inf"'
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def number(value: float) -> str:
    """Exact sample text: integers as integers (a counter at 1234567 is not `1.23457e+06`),
    anything else as the shortest float that reads back the same."""
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if math.isfinite(value) else ("+Inf" if value > 0 else "-Inf")


def _labels(names: tuple[str, ...], values: LabelValues, extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


class Counter:
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> None:
        self.name, self.help, self.label_names = name, help_text, labels
        self.values: dict[LabelValues, float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def count(self, labels: LabelValues) -> None:
        """`inc` by one for the request path: the label tuple as it is, no argument packing."""
        values = self.values
        values[labels] = values.get(labels, 0.0) + 1.0

    def render(self) -> Iterable[str]:
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.label_names, labels)} {number(value)}"


class Gauge(Counter):
    kind = "gauge"

    def set(self, value: float, *labels: str) -> None:
        self.values[labels] = value


class Histogram:
    kind = "histogram"

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = (),
                 buckets: tuple[float, ...] = LATENCY_BUCKETS) -> None:
        self.name, self.help, self.label_names, self.buckets = name, help_text, labels, buckets
        self.series: dict[LabelValues, list[float]] = {}   # bucket counts..., sum, count

    def observe(self, value: float, *labels: str) -> None:
        series = self.series.get(labels)
        if series is None:
            series = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        index = bisect_left(self.buckets, value)
        if index < len(self.buckets):          # above the last bound: only +Inf (the count)
            series[index] += 1
        series[-2] += value
        series[-1] += 1

    def render(self) -> Iterable[str]:
        for labels, series in sorted(self.series.items()):
            cumulative = 0.0
            for bound, count in zip(self.buckets, series):
                cumulative += count
                le = f'le="{bound:g}"'
                yield f"{self.name}_bucket{_labels(self.label_names, labels, le)} {number(cumulative)}"
            yield f"{self.name}_bucket{_labels(self.label_names, labels, INF_LABEL)} {number(series[-1])}"
            yield f"{self.name}_sum{_labels(self.label_names, labels)} {number(series[-2])}"
            yield f"{self.name}_count{_labels(self.label_names, labels)} {number(series[-1])}"


# One process's samples as plain data: metric name -> rows of (label values, value), the value
# a float, or a histogram's series (bucket counts..., sum, count). What `--workers` hands from
# each worker to the parent (as JSON; `snapshot_from_json` checks the shape on the way back).
Sample = float | tuple[float, ...]
Snapshot = dict[str, list[tuple[LabelValues, Sample]]]


def snapshot_from_json(data: object) -> Snapshot:
    """The inverse of `json.dumps(metrics.snapshot())`; ValueError for anything else."""
    if not isinstance(data, dict):
        raise ValueError("a metrics snapshot is an object")
    out: Snapshot = {}
    for name, rows in data.items():
        if not isinstance(name, str) or not isinstance(rows, list):
            raise ValueError("bad metrics snapshot")
        out[name] = [_row(row) for row in rows]
    return out


def _row(row: object) -> tuple[LabelValues, Sample]:
    if not (isinstance(row, list) and len(row) == 2 and isinstance(row[0], list)
            and all(isinstance(label, str) for label in row[0])):
        raise ValueError("bad metrics snapshot row")
    labels, value = tuple(row[0]), row[1]
    if isinstance(value, (int, float)):
        return labels, float(value)
    if isinstance(value, list) and all(isinstance(item, (int, float)) for item in value):
        return labels, tuple(float(item) for item in value)
    raise ValueError("bad metrics snapshot value")


class GatewayMetrics:
    """The gateway's metrics; one instance per app (no module globals)."""

    def __init__(self) -> None:
        self.requests = Counter("ddmgw_requests_total", "Requests by route action and status.", ("action", "status"))
        self.auth_failures = Counter("ddmgw_auth_failures_total", "Failed authentications by reason.", ("reason",))
        self.ratelimit_rejections = Counter("ddmgw_ratelimit_rejections_total",
                                            "Requests refused by a rate limit, by policy.", ("policy",))
        self.ratelimit_would_reject = Counter("ddmgw_ratelimit_would_reject_total",
                                              "Allowed requests a report-mode rule would have refused.", ("rule",))
        self.report_only = Counter("ddmgw_policy_report_only_total",
                                   "Decisions report-only policies would have changed, by outcome.", ("outcome",))
        self.decisions = Counter("ddmgw_policy_decisions_total", "Authorization decisions.", ("effect",))
        self.store_errors = Counter("ddmgw_store_errors_total", "Shared store calls that failed, by kind.",
                                    ("kind",))
        self.store_degraded = Gauge("ddmgw_store_degraded", "1 while the limiter runs on its fallback.")
        self.enterprise_project_lookups = Counter(
            "ddmgw_enterprise_project_lookups_total",
            "Instance enterprise-project lookups: hit (cache), miss (asked DDM), failure (DDM could not say).",
            ("result",))
        self.upstream_latency = Histogram("ddmgw_upstream_latency_seconds", "Upstream response time.",
                                          ("action",))
        self.access_log_dropped = Counter("ddmgw_access_log_dropped_total",
                                          "Access-log lines dropped because the log queue was full.")
        self.audit_log_sync_writes = Counter(
            "ddmgw_audit_log_sync_writes_total",
            "Audit records the event loop wrote itself because the audit queue was full (never dropped).")
        for counter in (self.access_log_dropped, self.audit_log_sync_writes):
            counter.inc(amount=0)   # exported as 0 from the start: an alert can tell 0 from absent

    def all(self) -> tuple[Counter | Gauge | Histogram, ...]:
        return (self.requests, self.auth_failures, self.ratelimit_rejections, self.ratelimit_would_reject,
                self.report_only, self.decisions, self.store_errors, self.store_degraded, self.upstream_latency,
                self.enterprise_project_lookups, self.access_log_dropped, self.audit_log_sync_writes)

    def snapshot(self) -> Snapshot:
        out: Snapshot = {}
        for metric in self.all():
            if isinstance(metric, Histogram):
                out[metric.name] = [(labels, tuple(series)) for labels, series in metric.series.items()]
            else:
                out[metric.name] = list(metric.values.items())
        return out

    def add(self, snapshot: Snapshot, *, gauges: bool) -> None:
        """Adds another process's samples: counters and histograms sum; gauges (when `gauges`)
        keep the highest value (ddmgw_store_degraded: 1 if any worker is degraded). Rows of the
        wrong shape for their metric are skipped."""
        for metric in self.all():
            for labels, value in snapshot.get(metric.name, ()):
                if isinstance(metric, Histogram):
                    if isinstance(value, tuple) and len(value) == len(metric.buckets) + 2:
                        series = metric.series.setdefault(labels, [0.0] * len(value))
                        for index, count in enumerate(value):
                            series[index] += count
                elif isinstance(value, tuple):
                    continue
                elif isinstance(metric, Gauge):
                    if gauges:
                        metric.values[labels] = max(metric.values.get(labels, value), value)
                else:
                    metric.values[labels] = metric.values.get(labels, 0.0) + value

    def render(self) -> str:
        lines: list[str] = []
        for metric in self.all():
            lines.append(f"# HELP {metric.name} {metric.help}")
            lines.append(f"# TYPE {metric.name} {metric.kind}")
            lines.extend(metric.render())
        return "\n".join(lines) + "\n"

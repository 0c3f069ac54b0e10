"""Structured JSON lines: one access-log line per request, one audit line per decision.

Both writers take plain dicts built from the Principal and the route; no header, body, token
or secret is ever passed in, so nothing secret can reach a log by construction.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from functools import lru_cache
from pathlib import Path
from typing import IO, Any


# One stateless encoder: json.dumps with options builds a new JSONEncoder per call. ASCII only:
# a client-chosen path may carry U+2028, U+0085 or other characters that many log readers (and
# Python's str.splitlines) take for line breaks; escaped, one record is always exactly one line.
_ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=str)


class JsonLines:
    """Appends one JSON object per line, flushed per line (an audit trail loses nothing on crash)."""

    def __init__(self, stream: IO[str], *, owns: bool = False) -> None:
        self._stream = stream
        self._owns = owns
        self._lock = threading.Lock()

    @classmethod
    def open(cls, target: str | Path | None) -> "JsonLines | None":
        if target is None or target is False:
            return None
        if target in ("-", "stdout", True):
            return cls(sys.stdout)
        if target == "stderr":
            return cls(sys.stderr)
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        return cls(os.fdopen(fd, "a", encoding="utf-8", buffering=1), owns=True)

    def write(self, record: dict[str, Any]) -> None:
        line = _ENCODER.encode(record)
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()

    def close(self) -> None:
        if self._owns:
            self._stream.close()


def utc_now_iso(now: float | None = None) -> str:
    now = time.time() if now is None else now
    return _utc_second(int(now // 1)) + f".{int(now % 1 * 1000):03d}Z"


@lru_cache(maxsize=4)
def _utc_second(second: int) -> str:
    """The seconds part changes once a second: formatted once, not per log line."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))


def principal_fields(principal: Any) -> dict[str, Any]:
    if principal is None:
        return {}
    return {"user_id": principal.user_id, "user_name": principal.user_name,
            "domain": principal.domain_name, "auth_method": principal.auth_method,
            "access_key": principal.access_key, "project_id": principal.project_id}

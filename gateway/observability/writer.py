"""Log lines off the request path: formatted on the event loop, written in batches by a thread.

On the loop a line costs its formatting (logs.py) and one append to its log's queue (a deque:
appends and pops are atomic, so the loop takes no lock and schedules nothing). One writer thread,
shared by the access and the audit log, wakes every `interval` (logging.flush_interval_s, 0.1 s)
or as soon as a queue is half full, takes every line waiting and writes each log's batch with
one `os.write`. So a slow disk or a full pipe never stalls a request, and a busy gateway pays one
wake-up and one write per interval, not per request (nginx's `access_log ... buffer= flush=`).
Measured against the alternatives in bench/RESULTS.md (issue 24; `python -m bench.bench_logs`):
the standard library's QueueHandler -> QueueListener costs twice as much per line, and one
write per tick on the loop itself is as cheap but keeps the disk on the request path.

The queue is bounded (`capacity` lines waiting, besides the batch being written):
- `drop_when_full=True` (the access log): a line that finds the queue full is dropped and counted
  in `full` (ddmgw_access_log_dropped_total); a request never waits for the log.
- `drop_when_full=False` (the audit log, the security record): nothing is dropped. A record that
  finds the queue full makes the loop write everything waiting, and the record, itself before it
  goes on (counted in `full`, ddmgw_audit_log_sync_writes_total): the gateway slows to the disk's
  pace instead of losing a decision.

`reopen` (SIGUSR1, the admin API) is queued behind the lines before it and wakes the thread, so
logrotate's `create` mode loses nothing: older lines land in the renamed file, newer ones in the
new file. `close` (SIGTERM, reload) wakes the thread and waits until it has written everything
(FLUSH_DEADLINE_S). What a hard kill (SIGKILL, a crash) loses is at most one interval's lines.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections import deque
from pathlib import Path
from typing import IO, Callable, Protocol

log = logging.getLogger("ddm_gateway.logs")
FLUSH_DEADLINE_S = 30.0       # close(): the longest the writer thread may take to write what is queued
DEFAULT_INTERVAL_S = 0.1      # the writer thread's wake-up period (the default of logging.flush_interval_s)
DEFAULT_CAPACITY = 10_000     # lines per log waiting to be written (the default of logging.queue_lines)

# One stateless encoder: json.dumps with options builds a new JSONEncoder per call. ASCII only:
# a client-chosen path may carry U+2028, U+0085 or other characters that many log readers (and
# Python's str.splitlines) take for line breaks; escaped, one record is always exactly one line.
ENCODER = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=str)


class Target(Protocol):
    """Where one log's batches go: written under that log's I/O lock (the thread, or the loop
    when the audit queue is full)."""

    def write(self, text: str) -> None: ...
    def reopen(self) -> None: ...
    def close(self) -> None: ...


class FileTarget:
    """A file opened for appending: every batch is one `os.write` (O_APPEND keeps whole batches
    of several workers sharing the file from interleaving)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = self._open()

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)

    def write(self, text: str) -> None:
        data = text.encode()     # UTF-8 (the lines are ASCII); without an argument to parse
        done = os.write(self.fd, data)
        while done < len(data):          # a regular file takes it all; a pipe may not
            done += os.write(self.fd, data[done:])

    def reopen(self) -> None:
        """Opens the path anew (logrotate renamed the old file); the old descriptor is closed once
        the new one exists, so a failed open keeps logging to the old file."""
        fresh = self._open()
        old, self.fd = self.fd, fresh
        os.close(old)

    def close(self) -> None:
        os.close(self.fd)


class StreamTarget:
    """stdout or stderr (or any text stream): nothing to reopen, never closed by us."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()

    def reopen(self) -> None:
        return None

    def close(self) -> None:
        self.stream.flush()


class FullCounter(Protocol):
    def inc(self, *labels: str, amount: float = 1.0) -> None: ...


# Where a reopen falls among the queued lines: a line of its own that no formatted line can be
# (every line is a JSON object); the reopen's callback waits in the log's `reopens` queue.
REOPEN = "\x00reopen"
Reopened = Callable[[BaseException | None], None]


def _ignore(_error: BaseException | None) -> None:
    return None


class LogWriter:
    """One log: its target, its bound and counter, its queue; written by its pump's thread.

    Each log has its own queue and I/O lock, so a stalled access log (a full stdout pipe) holds
    up only itself: the audit log's records are then written by the loop once its queue is full.
    The loop appends to `items`; whoever holds `_io` (the thread, or the loop when the audit
    queue is full) pops from it, so lines are written in the order they were queued."""

    def __init__(self, pump: "LogPump", target: Target, *, name: str, capacity: int,
                 drop_when_full: bool, full: FullCounter) -> None:
        self.name = name
        self.target = target
        self._pump = pump
        self._capacity = capacity
        self._drop_when_full = drop_when_full
        self._full = full
        self.items: deque[str] = deque()          # queued lines (and REOPEN marks), not yet taken
        self.reopens: deque[Reopened] = deque()   # one callback per REOPEN mark in `items`, in order
        self._wake_at = capacity // 2             # a queue this long wakes the thread; 0 once closed
        self._io = threading.Lock()               # held while writing: keeps batches in order

    @property
    def queued(self) -> int:
        return len(self.items)

    # ---- the event loop's side -------------------------------------------------------------

    def write(self, record: dict[str, object]) -> None:
        """Queues one record as one JSON line (the general encoder; logs.py formats faster)."""
        self.write_line(ENCODER.encode(record))

    def write_line(self, line: str) -> None:
        """Queues one line (without its newline); never blocks unless the audit queue is full."""
        items = self.items
        if len(items) < self._wake_at:        # the common case: one compare, one append
            items.append(line)
            return
        self._crowded(line)

    def _crowded(self, line: str) -> None:
        """Half full: queue and wake the thread. Full: drop and count (access) or write it all on
        this thread (audit). Closed: no request runs after the app's cleanup; if one did, say so."""
        if self._pump.closing:
            self._after_close()
        elif len(self.items) < self._capacity:
            self.items.append(line)
            self._pump.wake()
        elif self._drop_when_full:
            self._full.inc()
        else:
            self.items.append(line)
            self._full.inc()
            self.drain()

    def reopen(self, done: Reopened = _ignore) -> None:
        """Reopens the target after every line queued so far (the writer thread does the open).
        The callback is queued before its mark, so a writer that finds the mark finds it too."""
        self.reopens.append(done)
        self.items.append(REOPEN)
        self._pump.wake()

    def stop_queueing(self) -> None:
        """From now on every line takes the slow path, which finds the pump closing."""
        self._wake_at = 0

    def _after_close(self) -> None:
        if self._drop_when_full:
            self._full.inc()
        else:
            log.error("%s log: a record arrived after the log was closed", self.name)

    # ---- the writer thread's side (and the loop's, when the audit queue is full) -------------

    def drain(self) -> None:
        """Writes what is queued, in order, with one write (one per run of lines between reopens).
        Takes only the items there when it starts: the loop appends meanwhile, and those wait."""
        io = self._io
        io.acquire()     # not `with`: the context-manager protocol costs twice an acquire and a release
        try:
            items = self.items
            lines = [items.popleft() for _ in range(len(items))]
            if self.reopens and REOPEN in lines:
                self._write_around_reopens(lines)
            else:
                self._write(lines)
        finally:
            io.release()

    def _write_around_reopens(self, lines: list[str]) -> None:
        start = 0
        for index, line in enumerate(lines):
            if line is REOPEN:
                self._write(lines[start:index])
                self._reopen(self.reopens.popleft())
                start = index + 1
        self._write(lines[start:])

    def _write(self, lines: list[str]) -> None:
        """A failed write is reported with its line count, not retried."""
        if not lines:
            return
        lines.append("")
        try:
            self.target.write("\n".join(lines))
        except (OSError, ValueError) as err:
            log.error("%s log: %d lines lost: %s", self.name, len(lines) - 1, err)

    def _reopen(self, done: Reopened) -> None:
        error: OSError | None = None
        try:
            self.target.reopen()
        except OSError as err:
            error = err
            log.error("%s log: reopen failed, still writing to the old file: %s", self.name, err)
        try:
            done(error)
        except Exception:   # e.g. the loop that asked has closed: the writer thread must live on
            log.exception("%s log: reporting a reopen failed", self.name)


class LogPump:
    """The writer thread of a process's logs: one for the access and the audit log, so one
    wake-up per interval serves both. It sleeps on a plain lock (locked while there is nothing
    urgent) with the interval as its timeout; `wake` releases it early."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S) -> None:
        self.logs: list[LogWriter] = []
        self.interval_s = interval_s
        self.closing = False
        self._wakeup = threading.Lock()
        self._wakeup.acquire()
        self._thread = threading.Thread(target=self._run, name="ddmgw-logs", daemon=True)
        self._thread.start()

    def add(self, target: Target, *, name: str, capacity: int = DEFAULT_CAPACITY, drop_when_full: bool,
            full: FullCounter) -> LogWriter:
        writer = LogWriter(self, target, name=name, capacity=capacity, drop_when_full=drop_when_full,
                           full=full)
        self.logs.append(writer)
        return writer

    def wake(self) -> None:
        if self._wakeup.locked():
            with contextlib.suppress(RuntimeError):   # the thread released it meanwhile: fine
                self._wakeup.release()

    def close(self) -> None:
        """Waits until the thread has written every queued line, then closes the targets."""
        if self.closing:
            return
        self.closing = True
        for writer in self.logs:
            writer.stop_queueing()
        self.wake()
        self._thread.join(FLUSH_DEADLINE_S)
        if self._thread.is_alive():
            log.error("logs: %d lines not written after %.0f s; giving up",
                      sum(w.queued for w in self.logs), FLUSH_DEADLINE_S)
            return
        for writer in self.logs:
            writer.target.close()

    def _run(self) -> None:
        """Every interval, or when woken: write what every log has queued."""
        while True:
            self._wakeup.acquire(timeout=self.interval_s)
            closing = self.closing      # read first: whatever was queued before it is drained
            for writer in self.logs:
                if writer.items:        # nothing queued: no lock, no write
                    writer.drain()
            if closing:
                return


def open_target(target: str | Path | bool | None, stdout: IO[str], stderr: IO[str]) -> Target | None:
    """`logging.access_log` / `audit_log` values: off, stdout, stderr or a file path."""
    if target is None or target is False:
        return None
    if target in ("-", "stdout", True):
        return StreamTarget(stdout)
    if target == "stderr":
        return StreamTarget(stderr)
    return FileTarget(Path(str(target)))

"""Log lines off the request path: formatted on the event loop, written in batches by a thread.

On the loop a line costs its formatting (logs.py) and a list append. At the end of the loop
tick the lines of each log are joined and handed, without a lock, to one writer thread shared
by the access and the audit log (one wake-up per tick, not per line); the thread writes each
log's hand-offs with one `os.write`, so a slow disk or a full pipe never stalls a request.
Measured against the alternatives in bench/RESULTS.md (issue 24; `python -m bench.bench_logs`):
the standard library's QueueHandler -> QueueListener costs twice as much per line, and one
write per tick on the loop itself is as cheap but keeps the disk on the request path.

The queue is bounded (`capacity` lines handed over but not yet written, plus the current tick's):
- `drop_when_full=True` (the access log): a line that finds the queue full is dropped and counted
  in `full` (ddmgw_access_log_dropped_total); a request never waits for the log.
- `drop_when_full=False` (the audit log, the security record): nothing is dropped. A record that
  finds the queue full makes the loop write everything waiting, and the record, itself before it
  goes on (counted in `full`, ddmgw_audit_log_sync_writes_total): the gateway slows to the disk's
  pace instead of losing a decision.

`reopen` (SIGUSR1, the admin API) is queued behind the lines before it, so logrotate's `create`
mode loses nothing: older lines land in the renamed file, newer ones in the new file. `close`
hands over the last tick's lines and waits for the thread to write everything (FLUSH_DEADLINE_S).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Protocol

log = logging.getLogger("ddm_gateway.logs")
FLUSH_DEADLINE_S = 30.0       # close(): the longest the writer thread may take to write what is queued
LINGER_S = 0.001             # after a write the thread gathers hand-offs this long before the next
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
        data = text.encode("utf-8")
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


@dataclass
class _Reopen:
    """A reopen request queued behind the lines before it; `done(error)` runs on the writer thread."""

    done: Callable[[BaseException | None], None]


def _ignore(_error: BaseException | None) -> None:
    return None


class LogWriter:
    """One log: its target, its bound and counter, its queue; written by its pump's thread.

    Each log has its own queue and I/O lock, so a stalled access log (a full stdout pipe) holds
    up only itself: the audit log's records are then written by the loop once its queue is full.
    The queue is a deque (appends and pops are atomic) with two counters, each written by one
    side only: `handed` by the loop, `written` under the I/O lock. No lock on the loop's path."""

    def __init__(self, pump: "LogPump", target: Target, *, name: str, capacity: int,
                 drop_when_full: bool, full: FullCounter) -> None:
        self.name = name
        self.target = target
        self._pump = pump
        self._capacity = capacity
        self._drop_when_full = drop_when_full
        self._full = full
        self.pending: list[str] = []              # this tick's lines (loop thread only)
        self.items: deque[tuple[str, int] | _Reopen] = deque()   # handed over, not yet written
        self.handed = 0                           # lines ever handed over (the loop's side)
        self.written = 0                          # lines ever taken from items (under _io)
        self._io = threading.Lock()               # held while writing: keeps batches in order

    @property
    def queued(self) -> int:
        return self.handed - self.written

    # ---- the event loop's side -------------------------------------------------------------

    def write(self, record: dict[str, object]) -> None:
        """Queues one record as one JSON line (the general encoder; logs.py formats faster)."""
        self.write_line(ENCODER.encode(record))

    def write_line(self, line: str) -> None:
        """Queues one line (without its newline); never blocks unless the audit queue is full."""
        pump = self._pump
        if pump.closing:
            self._after_close()
            return
        if self.handed - self.written + len(self.pending) >= self._capacity:
            if self._drop_when_full:
                self._full.inc()
                return
            self.pending.append(line)
            self._full.inc()
            pump.hand_off()
            self.drain()
            return
        self.pending.append(line)
        if not pump.scheduled:
            pump.schedule()

    def reopen(self, done: Callable[[BaseException | None], None] = _ignore) -> None:
        """Reopens the target after every line queued so far (the writer thread does the open)."""
        self._pump.hand_off()
        self.items.append(_Reopen(done))
        self._pump.wake()

    def _after_close(self) -> None:
        """No request runs after the app's cleanup closed its logs; if one did, say so."""
        if self._drop_when_full:
            self._full.inc()
        else:
            log.error("%s log: a record arrived after the log was closed", self.name)

    # ---- the writer thread's side (and the loop's, when the audit queue is full) -------------

    def drain(self) -> None:
        """Writes every handed-over item in order: one write per run of lines, reopens between."""
        with self._io:
            items = self.items
            texts: list[str] = []
            count = 0
            while items:
                item = items.popleft()
                if isinstance(item, _Reopen):
                    self._write(texts, count)
                    texts, count = [], 0
                    self._reopen(item)
                else:
                    texts.append(item[0])
                    count += item[1]
            self._write(texts, count)

    def _write(self, texts: list[str], count: int) -> None:
        """A failed write is reported with its line count, not retried."""
        if not texts:
            return
        try:
            self.target.write("".join(texts))
        except (OSError, ValueError) as err:
            log.error("%s log: %d lines lost: %s", self.name, count, err)
        self.written += count

    def _reopen(self, request: _Reopen) -> None:
        error: OSError | None = None
        try:
            self.target.reopen()
        except OSError as err:
            error = err
            log.error("%s log: reopen failed, still writing to the old file: %s", self.name, err)
        try:
            request.done(error)
        except Exception:   # e.g. the loop that asked has closed: the writer thread must live on
            log.exception("%s log: reporting a reopen failed", self.name)


class LogPump:
    """The writer thread of a process's logs: one for the access and the audit log, so one
    hand-off and one wake-up per loop tick serve both. The thread sleeps on a plain lock that
    a hand-off releases (cheaper than a Condition: one C call on each side)."""

    def __init__(self) -> None:
        self.logs: list[LogWriter] = []
        self.scheduled = False                    # a hand-off is due at the end of this tick
        self.closing = False
        self._wakeup = threading.Lock()           # locked while there is nothing to do
        self._wakeup.acquire()
        self._thread = threading.Thread(target=self._run, name="ddmgw-logs", daemon=True)
        self._thread.start()

    def add(self, target: Target, *, name: str, capacity: int = DEFAULT_CAPACITY, drop_when_full: bool,
            full: FullCounter) -> LogWriter:
        writer = LogWriter(self, target, name=name, capacity=capacity, drop_when_full=drop_when_full,
                           full=full)
        self.logs.append(writer)
        return writer

    def schedule(self) -> None:
        self.scheduled = True
        try:
            asyncio.get_running_loop().call_soon(self.hand_off)
        except RuntimeError:      # no loop (a CLI or a test): hand over at once
            self.hand_off()

    def hand_off(self) -> None:
        """The end of a loop tick: each log's lines of the tick, joined, go to the thread."""
        self.scheduled = False
        woke = False
        for writer in self.logs:
            lines = writer.pending
            if lines:
                writer.pending = []
                count = len(lines)
                lines.append("")
                writer.handed += count                 # before the append: queued never < 0
                writer.items.append(("\n".join(lines), count))
                woke = True
        if woke:
            self.wake()

    def wake(self) -> None:
        if self._wakeup.locked():
            with contextlib.suppress(RuntimeError):   # the thread released it meanwhile: fine
                self._wakeup.release()

    def close(self) -> None:
        """Hands over the last lines and waits until the thread has written them, then closes."""
        if self.closing:
            return
        self.hand_off()
        self.closing = True
        self.wake()
        self._thread.join(FLUSH_DEADLINE_S)
        if self._thread.is_alive():
            log.error("logs: %d lines not written after %.0f s; giving up",
                      sum(w.queued for w in self.logs), FLUSH_DEADLINE_S)
            return
        for writer in self.logs:
            writer.target.close()

    def _run(self) -> None:
        """Waits for a hand-off, writes, then lingers LINGER_S so that the hand-offs of the next
        loop ticks share one write and one wake-up (a busy gateway hands over every tick)."""
        while True:
            self._wakeup.acquire()
            closing = self.closing      # read first: whatever was handed over before it is drained
            for writer in self.logs:
                writer.drain()
            if closing:
                return
            time.sleep(LINGER_S)


def open_target(target: str | Path | bool | None, stdout: IO[str], stderr: IO[str]) -> Target | None:
    """`logging.access_log` / `audit_log` values: off, stdout, stderr or a file path."""
    if target is None or target is False:
        return None
    if target in ("-", "stdout", True):
        return StreamTarget(stdout)
    if target == "stderr":
        return StreamTarget(stderr)
    return FileTarget(Path(str(target)))

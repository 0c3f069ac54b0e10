"""Log lines off the request path: encoded on the event loop, written in batches by a thread.

On the loop a record costs one JSON encode and a list append. The lines of one loop tick are
joined and handed to the log's writer thread at the end of the tick (one lock and one wake-up per
tick, not per line); the thread writes each hand-off with one `os.write`, so a slow disk or a
full pipe never stalls a request. Measured against the alternatives in bench/RESULTS.md (sixth
pass): a `QueueHandler`-style put per record wakes the thread once per line, and one write per
tick on the loop itself keeps the disk on the request path.

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
import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
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
    """Where one log's batches go: written from the writer thread only."""

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
        data = memoryview(text.encode("utf-8"))
        while data:
            data = data[os.write(self.fd, data):]

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

    done: Callable[[BaseException | None], None] = field(default=lambda _err: None)


class LogWriter:
    """One log: lines gathered per loop tick, written by its own thread (see the module doc)."""

    def __init__(self, target: Target, *, name: str, capacity: int = DEFAULT_CAPACITY,
                 drop_when_full: bool, full: FullCounter) -> None:
        self.name = name
        self._target = target
        self._capacity = capacity
        self._drop_when_full = drop_when_full
        self._full = full
        self._pending: list[str] = []             # this tick's lines (loop thread only)
        self._scheduled = False
        self._items: list[tuple[str, int] | _Reopen] = []   # handed over, not yet written
        self._queued = 0                          # lines in _items
        self._cond = threading.Condition()        # guards _items, _queued, _closing
        self._io = threading.Lock()               # held while writing: keeps batches in order
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"ddmgw-log-{name}", daemon=True)
        self._thread.start()

    # ---- the event loop's side -------------------------------------------------------------

    def write(self, record: dict[str, object]) -> None:
        """Queues one record as one JSON line (the general encoder; logs.py formats faster)."""
        self.write_line(ENCODER.encode(record))

    def write_line(self, line: str) -> None:
        """Queues one line (without its newline); never blocks unless the audit queue is full."""
        if self._closing:
            self._after_close()
            return
        if self._queued + len(self._pending) >= self._capacity:
            if self._drop_when_full:
                self._full.inc()
                return
            self._pending.append(line)
            self._full.inc()
            self.flush_now()
            return
        self._pending.append(line)
        if not self._scheduled:
            self._scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self._hand_off)
            except RuntimeError:      # no loop (a CLI or a test): hand over at once
                self._hand_off()

    def reopen(self, done: Callable[[BaseException | None], None] | None = None) -> None:
        """Reopens the target after every line written so far (the writer thread does the open)."""
        self._hand_off()
        self._put(_Reopen(done) if done is not None else _Reopen())

    def flush_now(self) -> None:
        """Writes everything queued on the calling thread (waiting for a write in progress)."""
        self._hand_off()
        self._drain()

    def close(self) -> None:
        """Hands over the last lines and waits until the thread has written them, then closes."""
        if self._closing:
            return
        self._hand_off()
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(FLUSH_DEADLINE_S)
        if self._thread.is_alive():
            log.error("%s log: %d lines not written after %.0f s; giving up", self.name, self._queued,
                      FLUSH_DEADLINE_S)
            return
        self._target.close()

    def _hand_off(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        lines, self._pending = self._pending, []
        lines.append("")
        self._put(("\n".join(lines), len(lines) - 1))

    def _put(self, item: tuple[str, int] | _Reopen) -> None:
        with self._cond:
            self._items.append(item)
            if isinstance(item, tuple):
                self._queued += item[1]
            self._cond.notify()

    def _after_close(self) -> None:
        """No request runs after the app's cleanup closed its logs; if one did, say so."""
        if self._drop_when_full:
            self._full.inc()
        else:
            log.error("%s log: a record arrived after the log was closed", self.name)

    # ---- the writer thread's side ----------------------------------------------------------

    def _run(self) -> None:
        """Waits for a hand-off, writes, then lingers LINGER_S so that the hand-offs of the next
        loop ticks share one write and one wake-up (a busy gateway hands over every tick)."""
        while True:
            with self._cond:
                while not self._items and not self._closing:
                    self._cond.wait()
                if not self._items:
                    return
            self._drain()
            if not self._closing:
                time.sleep(LINGER_S)

    def _drain(self) -> None:
        """Writes every handed-over item in order; runs on the writer thread (or, when the audit
        queue is full, on the loop): `_io` keeps two drains from reordering batches."""
        with self._io:
            with self._cond:
                items, self._items = self._items, []
            batch: list[tuple[str, int]] = []
            for item in items:
                if isinstance(item, tuple):
                    batch.append(item)
                    continue
                self._write(batch)
                batch = []
                self._reopen(item)
            self._write(batch)

    def _write(self, batch: list[tuple[str, int]]) -> None:
        """One write for all the hand-offs in `batch`; a failed write is reported, not retried."""
        if not batch:
            return
        count = sum(lines for _text, lines in batch)
        try:
            self._target.write("".join(text for text, _lines in batch))
        except (OSError, ValueError) as err:
            log.error("%s log: %d lines lost: %s", self.name, count, err)
        with self._cond:
            self._queued -= count

    def _reopen(self, request: _Reopen) -> None:
        error: OSError | None = None
        try:
            self._target.reopen()
        except OSError as err:
            error = err
            log.error("%s log: reopen failed, still writing to the old file: %s", self.name, err)
        try:
            request.done(error)
        except Exception:   # e.g. the loop that asked has closed: the writer thread must live on
            log.exception("%s log: reporting a reopen failed", self.name)


def open_target(target: str | Path | bool | None, stdout: IO[str], stderr: IO[str]) -> Target | None:
    """`logging.access_log` / `audit_log` values: off, stdout, stderr or a file path."""
    if target is None or target is False:
        return None
    if target in ("-", "stdout", True):
        return StreamTarget(stdout)
    if target == "stderr":
        return StreamTarget(stderr)
    return FileTarget(Path(str(target)))

"""Ways to write the access log, compared: what each costs the event loop and the process.

    python -m bench.bench_logs [--records N]

Every strategy writes the same access-log records (one JSON line each) to a file from an asyncio
loop, `per_tick` records per loop iteration (1: a lightly loaded gateway; 16: a busy one):
- none: no log at all, the loop's own cost per record (subtract it from the others);
- sync: encode, write and flush each line on the loop (the gateway before issue 24);
- queue-handler: the standard library's QueueHandler -> QueueListener -> FileHandler;
- tick-on-loop: the lines of a tick joined and written with one os.write on the loop;
- queue-thread: gateway/observability/writer.py (lines appended to a queue that a writer thread
  empties every logging.flush_interval_s; until issue 24's second pass, a tick's lines were
  handed over at the end of each tick).
"loop us" is the loop thread's CPU per record (what a request pays); "process us" the whole
process's CPU per record, writer threads and the final flush included. CPU time, not wall time:
the figures of a shared machine's busy neighbours stay out. A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import logging.handlers
import queue
import tempfile
import time
from pathlib import Path
from typing import Callable

from gateway.observability.metrics import Counter
from gateway.observability.writer import ENCODER, FileTarget, LogPump

RECORD = {"time": "2026-12-03T18:00:00.000Z", "request_id": "0" * 32, "source_ip": "127.0.0.1",
          "method": "GET", "path": "/v1/0503ddae897000fed2f78c00909158a4/instances",
          "user_id": "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "user_name": "bencher", "domain": "benchco",
          "auth_method": "aksk", "access_key": "BENCHAK0000000000001",
          "project_id": "0503ddae897000fed2f78c00909158a4", "action": "ddm:instance:list",
          "decision": "allow", "ratelimit": "allowed", "upstream_status": 200, "status": 200,
          "bytes": 1024, "latency_ms": 1.234}
Strategy = Callable[[Path], tuple[Callable[[dict[str, object]], None], Callable[[], None]]]


def none(path: Path) -> tuple[Callable[[dict[str, object]], None], Callable[[], None]]:
    """No log: the loop's own cost per tick, to subtract from the others."""
    return (lambda record: None), (lambda: path.write_bytes(b"\n" * 0))


def sync(path: Path) -> tuple[Callable[[dict[str, object]], None], Callable[[], None]]:
    stream = open(path, "a", encoding="utf-8", buffering=1)

    def write(record: dict[str, object]) -> None:
        stream.write(ENCODER.encode(record) + "\n")
        stream.flush()
    return write, stream.close


def queue_handler(path: Path) -> tuple[Callable[[dict[str, object]], None], Callable[[], None]]:
    lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    file_handler = logging.FileHandler(path, encoding="utf-8")
    file_handler.setFormatter(logging.Formatter("%(message)s"))
    listener = logging.handlers.QueueListener(lines, file_handler)
    logger = logging.Logger("bench-access")
    logger.addHandler(logging.handlers.QueueHandler(lines))
    listener.start()

    def close() -> None:
        listener.stop()
        file_handler.close()
    return (lambda record: logger.info(ENCODER.encode(record))), close


def tick_on_loop(path: Path) -> tuple[Callable[[dict[str, object]], None], Callable[[], None]]:
    target, pending = FileTarget(path), []

    def flush() -> None:
        if pending:
            pending.append("")
            target.write("\n".join(pending))
            pending.clear()

    def write(record: dict[str, object]) -> None:
        if not pending:
            asyncio.get_running_loop().call_soon(flush)
        pending.append(ENCODER.encode(record))

    def close() -> None:
        flush()
        target.close()
    return write, close


def queue_thread(path: Path) -> tuple[Callable[[dict[str, object]], None], Callable[[], None]]:
    pump = LogPump()
    writer = pump.add(FileTarget(path), name="access", drop_when_full=True, full=Counter("dropped", ""))
    return writer.write, pump.close


STRATEGIES: dict[str, Strategy] = {"none": none, "sync": sync, "queue-handler": queue_handler,
                                   "tick-on-loop": tick_on_loop, "queue-thread": queue_thread}


def measure(strategy: Strategy, records: int, per_tick: int) -> tuple[float, float]:
    """(loop-thread CPU us, process CPU us) per record."""
    with tempfile.TemporaryDirectory(prefix="ddmgw-bench-logs-") as tmp:
        path = Path(tmp) / "access.log"

        async def produce() -> float:
            write, close = strategy(path)
            started = time.thread_time()
            for i in range(records // per_tick):
                for _ in range(per_tick):
                    write(RECORD)
                await asyncio.sleep(0)
            loop_cpu = time.thread_time() - started
            close()
            return loop_cpu
        process_start = time.process_time()
        loop_cpu = asyncio.run(produce())
        process_cpu = time.process_time() - process_start
        lines = path.read_bytes().count(b"\n")
        assert lines == (0 if strategy is none else records // per_tick * per_tick), (strategy, lines)
    return loop_cpu / records * 1e6, process_cpu / records * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    args = parser.parse_args()
    print("| strategy | records per tick | loop us/record | process us/record |")
    print("|---|---|---|---|")
    for per_tick in (1, 16):
        for name, strategy in STRATEGIES.items():
            loop_us, process_us = measure(strategy, args.records, per_tick)
            print(f"| {name} | {per_tick} | {loop_us:.2f} | {process_us:.2f} |", flush=True)
    print(f"CPU time per record, {args.records:,} records per row")


if __name__ == "__main__":
    main()

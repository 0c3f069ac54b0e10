"""Bundled asyncio HTTP/1.1 load generator: closed loop (fixed concurrency) and open loop (fixed rate).

Used when `wrk` is not installed, and always for the fixed-rate run (wrk cannot do open loop).
Requests are pre-built byte strings (AK/SK ones pre-signed at the start: the signature stays valid
for 15 minutes and the gateway keeps no replay cache), so the client spends its time on sockets,
not on HMACs. Open-loop latency is measured from each request's *scheduled* send time, so a slow
server is not hidden by the client waiting for it (no coordinated omission).
"""
from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Mapping
from urllib.parse import urlsplit

from signer import SignableRequest, sign


@dataclass
class Result:
    """Completed requests, their latencies (seconds) and how many were not 2xx or failed."""

    elapsed: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, p: float) -> float:
        """The p-th percentile latency in ms (nearest rank), NaN when nothing completed."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def build(method: str, url: str, headers: Mapping[str, str], body: bytes = b"") -> bytes:
    """One HTTP/1.1 keep-alive request as bytes."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def aksk_headers(method: str, url: str, headers: Mapping[str, str], ak: str, sk: str,
                 body: bytes = b"") -> dict[str, str]:
    """`headers` plus X-Sdk-Date and an SDK-HMAC-SHA256 Authorization, signed now with our signer."""
    parts = urlsplit(url)
    lowered = {k.lower(): v for k, v in headers.items()}
    lowered["host"] = parts.netloc
    req = SignableRequest(method, parts.path, parts.query, lowered, body)
    added = sign(req, ak, sk, now=datetime.now(timezone.utc), algorithm="SDK-HMAC-SHA256",
                 region="cn-north-4", service="ddm")
    return {**headers, **added}


def presigned_pool(url: str, headers: Mapping[str, str], ak: str, sk: str, size: int = 64) -> list[bytes]:
    """`size` distinct signed GETs (the offset query varies), cheap to replay for 15 minutes."""
    pool = []
    for i in range(size):
        variant = f"{url}{'&' if '?' in url else '?'}marker={i}"
        pool.append(build("GET", variant, aksk_headers("GET", variant, headers, ak, sk)))
    return pool


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Reads one response off the stream and returns its status."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    index = lower.find(b"\r\ncontent-length:")
    if index >= 0:
        start = index + 17
        await reader.readexactly(int(lower[start:lower.find(b"\r\n", start)]))
    elif b"transfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status


async def _connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    return await asyncio.open_connection(parts.hostname, parts.port, limit=1 << 20)


async def closed_loop(url: str, requests: Iterable[bytes], concurrency: int, duration: float) -> Result:
    """`concurrency` connections, each sending its next request as soon as the previous one is answered."""
    pool = itertools.cycle(list(requests))
    result = Result(elapsed=0.0)
    started = time.perf_counter()
    deadline = started + duration

    async def connection() -> None:
        reader, writer = await _connect(url)
        try:
            while (sent := time.perf_counter()) < deadline:
                writer.write(next(pool))
                status = await _read_response(reader)
                result.latencies.append(time.perf_counter() - sent)
                result.errors += not 200 <= status < 300
        finally:
            writer.close()

    outcomes = await asyncio.gather(*(connection() for _ in range(concurrency)), return_exceptions=True)
    result.errors += sum(isinstance(o, BaseException) for o in outcomes)
    result.elapsed = time.perf_counter() - started
    return result


async def open_loop(url: str, requests: Iterable[bytes], rate: float, duration: float,
                    connections: int = 64) -> Result:
    """`rate` requests/s on a fixed schedule, spread over `connections` keep-alive connections.

    Connection k sends requests k, k+C, k+2C, ...; request i is due at start + i/rate and its latency
    runs from that due time, so queueing behind a slow reply is counted."""
    pool = list(requests)
    total = max(1, int(rate * duration))
    connections = max(1, min(connections, total))
    result = Result(elapsed=0.0)
    start = time.perf_counter() + 0.05

    async def connection(k: int) -> None:
        reader, writer = await _connect(url)
        try:
            for i in range(k, total, connections):
                due = start + i / rate
                if (wait := due - time.perf_counter()) > 0:
                    await asyncio.sleep(wait)
                writer.write(pool[i % len(pool)])
                status = await _read_response(reader)
                result.latencies.append(time.perf_counter() - due)
                result.errors += not 200 <= status < 300
        finally:
            writer.close()

    outcomes = await asyncio.gather(*(connection(k) for k in range(connections)), return_exceptions=True)
    result.errors += sum(isinstance(o, BaseException) for o in outcomes)
    result.elapsed = time.perf_counter() - start
    return result


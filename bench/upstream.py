"""A fixed-response HTTP/1.1 upstream, fast enough that whatever sits in front of it is the bottleneck.

    python -m bench.upstream --port P [--host 127.0.0.1] [--reuse-port]

Raw asyncio protocol (no aiohttp): every request, whatever its method or path, gets the same
200 JSON body shaped like a DDM instance listing, except a GET of one instance
(`/instances/bench-inst-00`), which gets that instance in enterprise project BENCH_EP (the
enterprise-project scenarios' show instance, and its one lookup). Keep-alive and pipelining are honoured; request
bodies are skipped by Content-Length (chunked requests are not supported: nothing here sends them).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal

BODY = json.dumps({"instances": [{
    "id": f"bench-inst-{i:02d}", "name": f"ddm-bench-{i}", "status": "RUNNING", "node_count": 2,
    "access_ip": "192.168.0.10", "access_port": "5066", "engine_version": "3.0.9",
    "created": "2026-11-28T10:00:00+0000", "updated": "2026-11-28T10:00:00+0000"} for i in range(4)],
    "page_no": 1, "page_size": 10, "total_count": 4}).encode()
BENCH_EP = "be0c4e5d-6f70-4812-9a3b-4c5d6e7f8091"
SHOW_BODY = json.dumps({
    "id": "bench-inst-00", "name": "ddm-bench-0", "status": "RUNNING", "node_count": 2,
    "access_ip": "192.168.0.10", "access_port": "5066", "engine_version": "3.0.9",
    "enterprise_project_id": BENCH_EP, "created": "2026-11-28T10:00:00+0000",
    "updated": "2026-11-28T10:00:00+0000"}).encode()
SHOW_MARK = b"/instances/bench-inst-00 "


def _response(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json;charset=UTF-8\r\n"
            b"X-Request-Id: 0123456789abcdef0123456789abcdef\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


RESPONSE, SHOW_RESPONSE = _response(BODY), _response(SHOW_BODY)


class FixedResponse(asyncio.Protocol):
    """Answers each complete request in the buffer with RESPONSE; bytes are only scanned, never decoded."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        replies: list[bytes] = []
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                break
            head = bytes(self.buffer[:end])
            total = end + 4 + content_length(head)
            if len(self.buffer) < total:
                break
            del self.buffer[:total]
            line = head[:head.find(b"\r\n")]
            replies.append(SHOW_RESPONSE if SHOW_MARK in line else RESPONSE)
        if replies and self.transport is not None:
            self.transport.write(b"".join(replies))


def content_length(head: bytes) -> int:
    """The Content-Length of a request head, 0 when absent."""
    index = head.lower().find(b"\r\ncontent-length:")
    if index < 0:
        return 0
    start = index + len(b"\r\ncontent-length:")
    stop = head.find(b"\r\n", start)
    return int(head[start:stop if stop >= 0 else None].strip())


async def serve(host: str, port: int, reuse_port: bool = False, ready: asyncio.Event | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Serves until `stop` is set (or forever); sets `ready` once listening."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(FixedResponse, host, port, reuse_port=reuse_port or None, backlog=1024)
    if ready is not None:
        ready.set()
    async with server:
        await (stop.wait() if stop is not None else asyncio.Future())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--reuse-port", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        asyncio.run(serve(args.host, args.port, args.reuse_port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

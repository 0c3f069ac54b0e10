"""Readiness asks DDM itself (a real `GET /`, bounded, cached); metrics render exact integers;
store errors are counted at the store, by kind."""
from __future__ import annotations

import asyncio
import socket

from gateway.limits.factory import create_store
from gateway.limits.model import LimitRule
from gateway.observability.metrics import Counter, GatewayMetrics, Histogram
from gateway.proxy.client import UpstreamClient
from gateway.proxy.upstream_auth import NoUpstreamAuth

from .test_proxy_http1 import _ok, raw_upstream  # noqa: F401  (raw_upstream: a fixture)


def _client(port: int) -> UpstreamClient:
    return UpstreamClient(f"http://127.0.0.1:{port}", NoUpstreamAuth(), connect_timeout_s=0.5, timeout_s=1.0)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_probe_is_a_real_request_and_its_verdict_is_cached(raw_upstream) -> None:
    recorder, port = await raw_upstream(lambda request, n: _ok(b'{"versions": []}'))
    client = _client(port)
    await client.start()
    try:
        assert await client.probe() is True
        assert await asyncio.gather(client.probe(), client.probe()) == [True, True]
        assert len(recorder.requests) == 1            # cached: one request for three probes
        assert recorder.requests[0].startswith(b"GET / HTTP/1.1\r\n")
    finally:
        await client.close()


async def test_the_probe_says_not_ready_for_5xx_refused_and_silent_upstreams(raw_upstream) -> None:
    _, failing = await raw_upstream(lambda request, n: b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n")
    _, silent = await raw_upstream(lambda request, n: None)
    for port in (failing, silent, _closed_port()):
        client = _client(port)
        await client.start()
        try:
            assert await asyncio.wait_for(client.probe(), 5) is False
        finally:
            await client.close()


def test_counters_render_exact_integers() -> None:
    counter = Counter("c_total", "help", ("k",))
    counter.inc("a", amount=1234567)
    counter.inc("b", amount=2 ** 40 + 1)
    histogram = Histogram("h_seconds", "help", buckets=(0.5,))
    for _ in range(1_000_001):
        histogram.observe(0.25)
    lines = [*counter.render(), *histogram.render()]
    assert 'c_total{k="a"} 1234567' in lines
    assert f'c_total{{k="b"}} {2 ** 40 + 1}' in lines
    assert 'h_seconds_bucket{le="0.5"} 1000001' in lines
    assert "h_seconds_sum 250000.25" in lines


async def test_store_errors_are_counted_by_kind_at_the_store() -> None:
    """A Redis URL on a closed port: the first call fails with a connection error and is
    counted; while the breaker is open the fallback serves without calling Redis."""
    metrics = GatewayMetrics()
    store = create_store(f"redis://127.0.0.1:{_closed_port()}", on_failure="open",
                         on_error=metrics.store_errors.inc)
    try:
        decision = await store.acquire([LimitRule("user", "k", 10)])
        assert decision.allowed
    finally:
        await store.close()
    assert sum(metrics.store_errors.values.values()) == 1
    (kind,), = metrics.store_errors.values
    assert kind in ("connection", "unavailable")
    assert f'ddmgw_store_errors_total{{kind="{kind}"}} 1' in metrics.render()

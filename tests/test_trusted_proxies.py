"""`listen.trusted_proxies`: only a trusted peer may name the client through X-Forwarded-For, and
that address then feeds `g:SourceIp`, the access log and the per-IP failed-auth limit. Every test
request comes from 127.0.0.1, so the config trusts 127.0.0.1/32 or a network that excludes it."""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Iterator

import pytest

from gateway.http.app import create_app
from gateway.config import parse_config

from .harness import ALICE_AK, ALICE_SK, PROJECT_ID, ServerThread, config_data
from .stack import Reply, http

OFFICE_ONLY = {"name": "office-only", "document": {"Version": "1.1", "Statement": [{
    "Effect": "Deny", "Action": ["ddm:instance:list"],
    "Condition": {"NotIpAddress": {"g:SourceIp": ["10.0.0.0/8"]}}}]}}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ServerThread, str]]:
    from ddmsim import create_app as create_sim
    threads = ServerThread()
    try:
        yield threads, f"http://127.0.0.1:{threads.serve(create_sim(job_seconds=0))}"
    finally:
        threads.close()


def _gateway(servers: tuple[ServerThread, str], tmp: Path, trusted: list[str]) -> tuple[str, Path]:
    """A gateway where alice (dba) may list instances only from 10.0.0.0/8."""
    threads, sim_url = servers
    data = copy.deepcopy(config_data(state_dir=str(tmp / "state"), upstream_url=sim_url,
                                     auth_failures_per_ip_per_minute=2))
    data["listen"]["trusted_proxies"] = trusted
    data["logging"] = {"access_log": str(tmp / "access.log")}
    acme = data["iam"]["domains"][0]
    acme["policies"].append(OFFICE_ONLY)
    acme["groups"][0]["grants"].append({"policy": "office-only"})
    port = threads.serve(create_app(parse_config(data)))
    return f"http://127.0.0.1:{port}", tmp / "access.log"


def _list(url: str, forwarded: str | None = None, sk: str = ALICE_SK) -> Reply:
    headers = {"X-Project-Id": PROJECT_ID}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    return http("GET", f"{url}/v1/{PROJECT_ID}/instances", headers=headers, ak=ALICE_AK, sk=sk)


def _logged_source(log: Path, reply: Reply, timeout_s: float = 5.0) -> str:
    """The line is written after a streamed (proxied) body has been sent: poll for it, bounded."""
    rid = reply.headers["X-Request-Id"]
    deadline = time.monotonic() + timeout_s
    while True:
        entries = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        found = [e["source_ip"] for e in entries if e["request_id"] == rid]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, f"request {rid} logged {len(found)} times"
            return str(found[0])
        time.sleep(0.02)


def test_a_trusted_proxy_sets_the_source_ip(servers: tuple[ServerThread, str], tmp_path: Path) -> None:
    url, log = _gateway(servers, tmp_path, ["127.0.0.1/32"])
    direct = _list(url)
    assert direct.status == 403                       # the peer itself is outside 10/8
    assert _logged_source(log, direct) == "127.0.0.1"
    forwarded = _list(url, "10.1.2.3")
    assert forwarded.status == 200
    assert _logged_source(log, forwarded) == "10.1.2.3"
    # Our own hops are skipped; the nearest untrusted hop is the client, not what it claims before.
    assert _list(url, "10.1.2.3, 127.0.0.1").status == 200
    spoofed = _list(url, "10.9.9.9, 203.0.113.7")
    assert spoofed.status == 403
    assert _logged_source(log, spoofed) == "203.0.113.7"
    assert _list(url, "not-an-ip").status == 403      # garbage: fall back to the peer


def test_an_untrusted_peer_cannot_set_the_source_ip(servers: tuple[ServerThread, str], tmp_path: Path) -> None:
    url, log = _gateway(servers, tmp_path, ["192.0.2.0/24"])
    reply = _list(url, "10.1.2.3")
    assert reply.status == 403
    assert _logged_source(log, reply) == "127.0.0.1"


def test_without_trusted_proxies_the_header_is_ignored(servers: tuple[ServerThread, str], tmp_path: Path) -> None:
    url, log = _gateway(servers, tmp_path, [])
    reply = _list(url, "10.1.2.3")
    assert reply.status == 403
    assert _logged_source(log, reply) == "127.0.0.1"


def test_failed_auth_limit_counts_the_forwarded_client(servers: tuple[ServerThread, str], tmp_path: Path) -> None:
    url, _ = _gateway(servers, tmp_path, ["127.0.0.1/32"])
    for _ in range(3):   # limit 2: the third failure blocks the address
        assert _list(url, "10.6.6.6", sk="wrong-secret").status == 401
    assert _list(url, "10.6.6.6", sk="wrong-secret").status == 429   # over budget: failures are 429
    assert _list(url, "10.6.6.6").status == 200       # a good signature from it still passes
    assert _list(url, "10.7.7.7", sk="wrong-secret").status == 401   # another client is not over


def test_failed_auth_limit_ignores_an_untrusted_header(servers: tuple[ServerThread, str], tmp_path: Path) -> None:
    url, _ = _gateway(servers, tmp_path, ["192.0.2.0/24"])
    for n in range(3):   # rotating the header must not escape the per-IP limit
        assert _list(url, f"10.6.6.{n}", sk="wrong-secret").status == 401
    assert _list(url, "10.7.7.7", sk="wrong-secret").status == 429

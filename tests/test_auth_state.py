"""Issue #4: authentication state shared by replicas - revocations (also across a Redis restart)
and temporary credentials until they expire, on in-process replicas sharing one Redis.

Cross-replica lockout and revocation through real processes are in test_replicas.py.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Iterator

import pytest
import redis

from gateway.limits import MemoryStore, RedisStore
from gateway.authn.revocation import RevocationCache

from .harness import ISSUED_TOKENS, PROJECT_ID
from .stack import Reply, http
from .test_replicas_support import INSTANCES_PATH, Replicas, login, start_replicas


@pytest.fixture
def replicas(tmp_path, redis_url: str) -> Iterator[Replicas]:
    started = start_replicas(str(tmp_path), 2, redis_url)
    yield started
    started.close()


async def test_revocations_after_redis_lost_its_data_reach_every_replica(redis_url: str) -> None:
    """A flush (or a restart without persistence) used to restart the sequence at 1, so a replica
    whose cursor was already at 1 never saw the first revocation made afterwards."""
    revoker, watcher = RedisStore(redis_url, timeout_s=2.0), RedisStore(redis_url, timeout_s=2.0)
    cache = RevocationCache(watcher)
    try:
        await revoker.revoke("jti-before", 60)
        await cache.refresh()
        assert cache.is_revoked("jti-before")
        client = redis.Redis.from_url(redis_url)
        client.flushall()
        client.close()
        await revoker.revoke("jti-after", 60)
        await cache.refresh()
        assert cache.is_revoked("jti-after")
    finally:
        await revoker.close()
        await watcher.close()


def security_token(url: str, token: str) -> dict[str, str]:
    body = {"auth": {"identity": {"methods": ["token"], "token": {"duration_seconds": 900}}}}
    reply = http("POST", url + "/v3.0/OS-CREDENTIAL/securitytokens", body=json.dumps(body).encode(),
                 headers={"X-Auth-Token": token})
    assert reply.status == 201, reply.body
    credential = reply.json()["credential"]
    ISSUED_TOKENS.extend([credential["secret"], credential["securitytoken"]])
    return credential


def with_temporary(replicas: Replicas, url: str, credential: dict[str, str]) -> Reply:
    """Signed at the gateways' (moved) time, so only the credential's own expiry can refuse it."""
    now = datetime.fromtimestamp(replicas.clock(), tz=timezone.utc)
    return http("GET", url + INSTANCES_PATH, ak=credential["access"], sk=credential["secret"], now=now,
                headers={"X-Security-Token": credential["securitytoken"], "X-Project-Id": PROJECT_ID})


def test_temporary_credentials_work_on_every_replica_until_they_expire(replicas: Replicas) -> None:
    first, second = replicas.urls
    credential = security_token(first, login(first, "alice", "alice-pass-1"))
    assert [with_temporary(replicas, url, credential).status for url in (first, second)] == [200, 200]
    replicas.clock.advance(895)
    assert [with_temporary(replicas, url, credential).status for url in (first, second)] == [200, 200]
    replicas.clock.advance(6)
    for url in (first, second):
        reply = with_temporary(replicas, url, credential)
        assert reply.status == 401
        assert reply.json()["error_msg"].endswith("The securitytoken has expired.")


def test_revoking_a_token_ends_its_temporary_keys_on_the_other_replica(replicas: Replicas) -> None:
    first, second = replicas.urls
    token = login(first, "alice", "alice-pass-1")
    credential = security_token(first, token)
    assert with_temporary(replicas, second, credential).status == 200
    revoke = http("DELETE", first + "/v3/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert revoke.status == 204
    revoked_at = time.monotonic()
    while (reply := with_temporary(replicas, second, credential)).status != 401:
        assert time.monotonic() - revoked_at < 1.0, "the other replica still accepts the temporary key"
        time.sleep(0.02)
    assert reply.json()["error_msg"].endswith("The securitytoken has been revoked.")


def test_a_token_from_one_replica_verifies_on_the_other(replicas: Replicas) -> None:
    token = login(replicas.urls[1], "bob", "bob-pass-1")
    reply = http("GET", replicas.urls[0] + INSTANCES_PATH, headers={"X-Auth-Token": token})
    assert reply.status == 200, reply.body


async def test_revocation_cache_forgets_ids_whose_tokens_have_expired() -> None:
    """Any user may revoke tokens at will: the per-replica cache must not only grow. A resync
    keeps exactly the store's live revocations (plus any made locally meanwhile)."""
    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    cache = RevocationCache(store, resync_s=60, clock=lambda: now[0])
    await cache.revoke("short-lived", 5)
    await cache.revoke("long-lived", 3600)
    await cache.refresh()
    assert cache.is_revoked("short-lived") and cache.is_revoked("long-lived")
    now[0] += 30                      # the short token has expired; no resync due yet
    await cache.refresh()
    assert len(cache) == 2
    now[0] += 31                      # resync: the store no longer lists the expired id
    await cache.refresh()
    assert not cache.is_revoked("short-lived") and cache.is_revoked("long-lived")
    assert len(cache) == 1
    await store.revoke("elsewhere", 60)   # another replica's revocation still arrives incrementally
    await cache.refresh()
    assert cache.is_revoked("elsewhere")

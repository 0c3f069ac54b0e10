"""Every `store.url` form the config accepts reaches a real redis-server: a password (and an ACL
user), a database number, a unix socket and TLS. And every form it cannot honour is refused when
the URL is read, with a message that says why."""
from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
import redis

from gateway.limits import LimitRule, RedisStore, StoreUnavailable
from gateway.limits.redis_url import ClusterAddress, SentinelAddress, parse_redis_url

from .conftest import free_port, wait_for_port
from .test_tls import self_signed

PASSWORD = "s3cret/with:odd@chars"
QUOTED = "s3cret%2Fwith%3Aodd%40chars"
RULE = [LimitRule("user", "connect", 5)]


@pytest.fixture(scope="module")
def guarded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    """One redis-server with a password, a unix socket, a plain port and a TLS port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    workdir = tmp_path_factory.mktemp("redis-guarded")
    cert, key = self_signed(workdir)
    port, tls_port, socket_path = free_port(), free_port(), workdir / "redis.sock"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--requirepass", PASSWORD, "--unixsocket", str(socket_path),
         "--unixsocketperm", "700", "--tls-port", str(tls_port), "--tls-cert-file", str(cert),
         "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        wait_for_port(tls_port)
        deadline = time.monotonic() + 10
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        yield {"port": port, "tls_port": tls_port, "socket": socket_path, "ca": cert}
    finally:
        process.kill()
        process.wait(timeout=10)


def keys_in_db(server: dict[str, object], db: int) -> list[bytes]:
    client = redis.Redis(port=server["port"], password=PASSWORD, db=db)
    try:
        return client.keys("ddmgw:*")
    finally:
        client.close()


async def acquire_once(url: str) -> bool:
    store = RedisStore(url, timeout_s=30.0)   # a hang would show as TimeoutError, not as a pass
    try:
        return (await store.acquire(RULE)).allowed
    finally:
        await store.close()


async def test_password_and_database_number(guarded_redis) -> None:
    assert await acquire_once(f"redis://:{QUOTED}@127.0.0.1:{guarded_redis['port']}/3")
    assert keys_in_db(guarded_redis, 3) and not keys_in_db(guarded_redis, 0)


async def test_acl_user_and_password(guarded_redis) -> None:
    assert await acquire_once(f"redis://default:{QUOTED}@127.0.0.1:{guarded_redis['port']}/0")


async def test_a_wrong_password_is_unavailable_not_a_hang(guarded_redis) -> None:
    # Redis's own refusal, not the deadline's TimeoutError
    with pytest.raises(StoreUnavailable, match="WRONGPASS|NOAUTH"):
        await acquire_once(f"redis://:wrong@127.0.0.1:{guarded_redis['port']}/0")
    with pytest.raises(StoreUnavailable, match="NOAUTH"):
        await acquire_once(f"redis://127.0.0.1:{guarded_redis['port']}/0")   # no password at all


async def test_unix_socket(guarded_redis) -> None:
    assert await acquire_once(f"unix://{guarded_redis['socket']}?db=2&password={QUOTED}")
    assert keys_in_db(guarded_redis, 2)


async def test_tls_with_the_servers_ca(guarded_redis) -> None:
    url = f"rediss://:{QUOTED}@127.0.0.1:{guarded_redis['tls_port']}/4?ssl_ca_certs={guarded_redis['ca']}"
    assert await acquire_once(url)
    assert keys_in_db(guarded_redis, 4)


async def test_tls_refuses_an_unknown_certificate_unless_told_not_to_verify(guarded_redis) -> None:
    url = f"rediss://:{QUOTED}@127.0.0.1:{guarded_redis['tls_port']}/0"
    with pytest.raises(StoreUnavailable):
        await acquire_once(url)
    assert await acquire_once(url + "?ssl_cert_reqs=none")


@pytest.mark.parametrize("url, problem", [
    ("http://127.0.0.1:6379", "redis://, rediss://, unix://, redis+sentinel:// or redis+cluster://"),
    ("redis://127.0.0.1:6379/0?socket_timeout=5", "unsupported URL parameter(s) socket_timeout"),
    ("redis://127.0.0.1:6379/0?ssl_ca_certs=x.pem", "unsupported URL parameter(s) ssl_ca_certs"),
    ("redis://127.0.0.1:6379/zero", "database must be a number"),
    ("redis://127.0.0.1:99999/0", "out of range"),
    ("redis:///0", "needs a host"),
    ("unix://", "socket's path"),
    ("rediss://127.0.0.1/0?ssl_cert_reqs=maybe", "ssl_cert_reqs must be one of"),
    ("rediss://127.0.0.1/0?ssl_ca_certs=/nonexistent.pem", "cannot set up TLS"),
    ("rediss://127.0.0.1/0?ssl_check_hostname=perhaps", "ssl_check_hostname must be true or false"),
    ("redis://10.0.0.1,10.0.0.2/0", "names several hosts: use redis+sentinel:// or redis+cluster://"),
    ("redis+sentinel://127.0.0.1:26379", "needs the service name: .../service_name[/db]"),
    ("redis+sentinel://127.0.0.1:26379/mymaster/zero", "database must be a number"),
    ("redis+sentinel://127.0.0.1:26379/mymaster?ssl_ca_certs=x.pem", "unsupported URL parameter(s) ssl_ca_certs"),
    ("redis+sentinel://a:26379,,b:26379/mymaster", "needs a host"),
    ("redis+sentinel://a:265379/mymaster", "out of range"),
    ("redis+cluster://a:7000,b:7001/3", "a Redis Cluster has database 0 only"),
    ("redis+cluster://a:7000?sentinel_password=x", "unsupported URL parameter(s) sentinel_password"),
    ("rediss+cluster://a:7000?ssl_cert_reqs=maybe", "ssl_cert_reqs must be one of"),
])
def test_urls_it_cannot_honour_are_refused(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        parse_redis_url(url)


def test_the_password_stays_out_of_reprs() -> None:
    address = parse_redis_url(f"redis://:{QUOTED}@10.0.0.1:6380/1")
    assert (address.host, address.port, address.db, address.password) == ("10.0.0.1", 6380, 1, PASSWORD)
    assert PASSWORD not in repr(address) and "s3cret" not in repr(address)


def test_handshake_authenticates_before_selecting() -> None:
    assert parse_redis_url("redis://u:p@h/2").handshake() == [["AUTH", "u", "p"], ["SELECT", 2]]
    assert parse_redis_url("redis://h").handshake() == []


def test_tls_verifies_certificate_and_name_by_default(tmp_path: Path) -> None:
    import ssl
    context = parse_redis_url("rediss://redis.internal:6380/0").tls
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_sentinel_urls_name_every_sentinel_and_keep_the_data_nodes_credentials_apart() -> None:
    address = parse_redis_url(f"redis+sentinel://app:{QUOTED}@10.0.0.1:26380,10.0.0.2,[::1]:5000/orders/2"
                              "?sentinel_password=watch%2Fer")
    assert isinstance(address, SentinelAddress) and address.service == "orders"
    assert [(s.host, s.port) for s in address.sentinels] == [("10.0.0.1", 26380), ("10.0.0.2", 26379), ("::1", 5000)]
    assert {(s.username, s.password) for s in address.sentinels} == {(None, "watch/er")}
    assert (address.primary.username, address.primary.password, address.primary.db) == ("app", PASSWORD, 2)
    assert PASSWORD not in repr(address) and "watch/er" not in repr(address)


def test_cluster_urls_list_seeds_and_tls_reaches_every_node() -> None:
    address = parse_redis_url(f"rediss+cluster://:{QUOTED}@10.0.0.1:7000,10.0.0.2:7001?ssl_cert_reqs=none")
    assert isinstance(address, ClusterAddress)
    assert [(s.host, s.port, s.password) for s in address.seeds] == [("10.0.0.1", 7000, PASSWORD), ("10.0.0.2", 7001, PASSWORD)]
    assert all(seed.tls is not None and seed.tls.verify_mode == ssl.CERT_NONE for seed in address.seeds)
    assert parse_redis_url("rediss+sentinel://s:1/m").primary.tls is not None


@pytest.mark.parametrize("url, problem", [
    ("redis+sentinel://127.0.0.1:26379,127.0.0.1:26380/mymaster/0", None),
    ("rediss+cluster://127.0.0.1:7000,127.0.0.1:7001", None),
    ("redis+sentinel://127.0.0.1:26379", "store.url: a redis+sentinel:// URL needs the service name: .../service_name[/db]"),
    ("redis+cluster://127.0.0.1:7000/1", "store.url: a Redis Cluster has database 0 only"),
])
def test_config_check_reads_the_ha_forms(tmp_path: Path, url: str, problem: str | None) -> None:
    from gateway.config import ConfigError, parse_config

    from .harness import config_data

    data = config_data(state_dir=str(tmp_path), store_url=url)
    if problem is None:
        assert parse_config(data).store.url == url
        return
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    assert problem in caught.value.problems


async def test_sentinel_credentials_go_to_the_sentinels_and_the_urls_to_the_data_node(guarded_redis) -> None:
    """`sentinel_password` authenticates to the sentinels only; the URL's password and database
    are the primary's (a real password-protected redis-server behind a stand-in sentinel)."""
    from .test_replicas_deadline import serve_resp

    seen: list[list[bytes]] = []
    port = str(guarded_redis["port"]).encode()

    async def sentinel(command: list[bytes]) -> bytes:
        seen.append(command)
        if command[0].upper() == b"AUTH":
            return b"+OK\r\n" if command[1:] == [b"watcher"] else b"-WRONGPASS invalid password\r\n"
        if command[:2] == [b"SENTINEL", b"get-master-addr-by-name"] and command[2] == b"orders":
            return b"*2\r\n$9\r\n127.0.0.1\r\n$%d\r\n%s\r\n" % (len(port), port)
        return b"+OK\r\n"

    async for address, _ in serve_resp(sentinel):
        assert await acquire_once(f"redis+sentinel://:{QUOTED}@127.0.0.1:{address.port}/orders/5"
                                  "?sentinel_password=watcher")
    assert seen[0] == [b"AUTH", b"watcher"] and PASSWORD.encode() not in b"".join(sum(seen, []))
    assert keys_in_db(guarded_redis, 5)

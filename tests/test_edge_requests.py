"""Hostile requests, one deliverable of the edge hardening each: path parameters, credential
lifetimes and lockouts, the failed-auth guard, forwarding headers, GET /, IAM JSON depth, the
smaller header rules and replay protection. Real gateway and simulator on 127.0.0.1; raw
sockets where the attack needs bytes no client library would send.
"""
from __future__ import annotations

import http.client as httpclient
import json
import logging
import socket
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from signer import SignableRequest, sign

from .harness import (ALICE_AK, ALICE_SK, ISSUED_TOKENS,
                      OTHER_PROJECT_ID, PROJECT_ID)
from .stack import Reply, Stack, http, start_stack

INSTANCES = f"/v1/{PROJECT_ID}/instances"
ALICE_ID = "7f2e0c5a9b8d4e6f8a1b2c3d4e5f6a7b"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(str(tmp_path_factory.mktemp("edge")))
    yield stack
    stack.servers.close()


def port_of(stack: Stack) -> int:
    return int(stack.url.rsplit(":", 1)[1])


def reached_upstream(stack: Stack, request_id: str) -> list[dict[str, Any]]:
    """What the simulator received for the request with this id (the gateway forwards the id)."""
    log = json.loads(http("GET", stack.sim_url + "/_sim/requests").body)["requests"]
    return [entry for entry in log if entry["headers"].get("x-request-id") == request_id]


def raw_exchange(stack: Stack, lines: list[str], body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Header lines exactly as given (duplicates included) on a fresh connection."""
    raw = ("\r\n".join(lines + ["Connection: close", f"Content-Length: {len(body)}"]) + "\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", port_of(stack)), timeout=10) as sock:
        sock.sendall(raw)
        response = httpclient.HTTPResponse(sock, method=lines[0].split()[0])
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def signed_lines(stack: Stack, method: str, path: str, body: bytes = b"", *, ak: str = ALICE_AK,
                 sk: str = ALICE_SK) -> list[str]:
    host = f"127.0.0.1:{port_of(stack)}"
    headers = {"host": host, "content-type": "application/json", "x-project-id": PROJECT_ID}
    added = sign(SignableRequest(method, path, "", headers, body), ak, sk, now=datetime.now(timezone.utc))
    return [f"{method} {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json",
            f"X-Project-Id: {PROJECT_ID}", *(f"{k}: {v}" for k, v in added.items())]


def login(stack: Stack, user: str = "alice", password: str = "alice-pass-1", **extra: Any) -> Reply:
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "password": password, "domain": {"name": "acme"}, **extra}}},
        "scope": {"project": {"name": "cn-north-4", "domain": {"name": "acme"}}}}}
    return http("POST", stack.url + "/v3/auth/tokens?nocatalog=true", body=json.dumps(body).encode())


def token_of(reply: Reply) -> str:
    assert reply.status == 201, reply.body
    ISSUED_TOKENS.append(reply.headers["X-Subject-Token"])
    return reply.headers["X-Subject-Token"]


# --- 3. path parameters ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["..", "%2e%2e", "%2E%2e", ".", "%2e", "a%5Cb", "%5C"])
def test_dot_segments_and_backslashes_in_parameters_are_400_and_never_forwarded(stack: Stack, name: str) -> None:
    """alice may delete databases: `.../databases/..` must not become an instance deletion."""
    path = f"/v1/{PROJECT_ID}/instances/0f1e2d3c4b5a4d6e8f7a9b0c1d2e3f4ain09/databases/{name}"
    rid = uuid.uuid4().hex
    status, headers, body = raw_exchange(stack, signed_lines(stack, "DELETE", path) + [f"X-Request-Id: {rid}"])
    assert status == 400, body
    error = json.loads(body)
    assert error["error_code"] == "APIGW.0201" and "ddm_dbname" in error["error_msg"]
    assert reached_upstream(stack, rid) == []


def test_every_route_parameter_has_a_form() -> None:
    from policies import RouteCatalog
    catalog = RouteCatalog.load_default()
    for row in catalog.operations():
        for name in row.variables:
            values = {"..": False, ".": False, "a\\b": False, "db_1": True}
            for value, allowed in values.items():
                assert catalog.allows_parameter(name, value) is allowed, (row.path, name, value)


# --- 4. derived credentials never outlive their parent ---------------------------------------------

def test_a_token_from_a_token_keeps_the_parent_expiry(stack: Stack) -> None:
    parent = token_of(login(stack))
    stack.clock.advance(1800)
    try:
        body = {"auth": {"identity": {"methods": ["token"], "token": {"id": parent}},
                         "scope": {"project": {"id": PROJECT_ID}}}}
        child = http("POST", stack.url + "/v3/auth/tokens", body=json.dumps(body).encode())
        assert child.status == 201, child.body
        ISSUED_TOKENS.append(child.headers["X-Subject-Token"])
        parent_claims = validate(stack, parent)
        assert child.json()["token"]["expires_at"] == parent_claims["token"]["expires_at"]
    finally:
        stack.clock.advance(-1800)


def validate(stack: Stack, token: str) -> Any:
    reply = http("GET", stack.url + "/v3/auth/tokens?nocatalog=true",
                 headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert reply.status == 200, reply.body
    return reply.json()


def test_temporary_credentials_end_with_the_token_they_came_from(stack: Stack) -> None:
    token = token_of(login(stack))          # ttl 3600 in the test config
    stack.clock.advance(3000)                 # 600 s left
    try:
        body = {"auth": {"identity": {"methods": ["token"], "token": {"duration_seconds": 7200}}}}
        reply = http("POST", stack.url + "/v3.0/OS-CREDENTIAL/securitytokens", body=json.dumps(body).encode(),
                     headers={"X-Auth-Token": token})
        assert reply.status == 201, reply.body
        credential = reply.json()["credential"]
        ISSUED_TOKENS.extend([credential["secret"], credential["securitytoken"]])
        assert credential["expires_at"] == validate(stack, token)["token"]["expires_at"]
    finally:
        stack.clock.advance(-3000)


def test_temporary_access_keys_lock_per_user(tmp_path: Path) -> None:
    """Five bad signatures, each with a freshly minted temporary AK of alice: her temporary
    credentials are locked, a new one included; her permanent AK is not affected."""
    stack = start_stack(str(tmp_path))
    try:
        token = token_of(login(stack))

        def mint() -> dict[str, str]:
            body = {"auth": {"identity": {"methods": ["token"], "token": {"duration_seconds": 900}}}}
            reply = http("POST", stack.url + "/v3.0/OS-CREDENTIAL/securitytokens",
                         body=json.dumps(body).encode(), headers={"X-Auth-Token": token})
            credential = dict(reply.json()["credential"])
            ISSUED_TOKENS.extend([credential["secret"], credential["securitytoken"]])
            return credential

        def call(credential: dict[str, str], sk: str) -> Reply:
            headers = {"X-Security-Token": credential["securitytoken"], "X-Project-Id": PROJECT_ID}
            return http("GET", stack.url + INSTANCES, ak=credential["access"], sk=sk, headers=headers)
        for _ in range(5):
            assert call(mint(), "wrong-secret").status == 401
        fresh = mint()
        locked = call(fresh, fresh["secret"])
        assert locked.status == 401 and "reach the limit" in locked.json()["error_msg"]
        assert http("GET", stack.url + INSTANCES, ak=ALICE_AK, sk=ALICE_SK,
                    headers={"X-Project-Id": PROJECT_ID}).status == 200
    finally:
        stack.servers.close()


# --- 5. one lockout per user, a login that does not tell users apart ----------------------------------

def test_locked_by_name_is_locked_by_id(tmp_path: Path) -> None:
    stack = start_stack(str(tmp_path))
    try:
        for _ in range(5):
            assert login(stack, password="wrong").status == 401
        assert login(stack).status == 401                        # the right password, by name
        by_id = {"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"id": ALICE_ID, "password": "alice-pass-1"}}}}}
        reply = http("POST", stack.url + "/v3/auth/tokens", body=json.dumps(by_id).encode())
        assert reply.status == 401 and reply.json()["error_code"] == "IAM.0061"
    finally:
        stack.servers.close()


def test_every_login_costs_one_scrypt_off_the_event_loop(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    """Unknown user, wrong password, right password: one derivation each, none on the loop's
    thread. (Counted, not timed: the cost is the same work, whatever the machine's load.)"""
    import gateway.passwords as passwords
    calls: list[str] = []
    original = passwords._derive

    def counting(*args: Any) -> bytes:
        calls.append(threading.current_thread().name)
        return original(*args)
    monkeypatch.setattr(passwords, "_derive", counting)
    assert login(stack, user="nobody-here", password="x").status == 401
    assert login(stack, password="wrong").status == 401
    token_of(login(stack))
    assert len(calls) == 3
    assert all(name.startswith("scrypt") for name in calls)


def test_stronger_parameters_verify_next_to_old_hashes() -> None:
    from gateway.passwords import check_password, hash_password, parse_hash
    strong = hash_password("pw", n=2 ** 15)
    parsed = parse_hash(strong)
    assert parsed is not None and parsed.n == 2 ** 15
    assert check_password("pw", encoded=strong, plaintext=None)
    assert check_password("pw", encoded=hash_password("pw"), plaintext=None)
    assert not check_password("pw", encoded=None, plaintext=None)   # no user: still a derivation, False


# --- 6. X-Forwarded-For and forwarding headers ---------------------------------------------------------

def test_a_client_line_ahead_of_the_proxy_line_does_not_choose_the_ip() -> None:
    import ipaddress
    from gateway.http.head import request_head
    trusted = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8")]
    headers = CIMultiDict([("X-Forwarded-For", "192.0.2.66"),            # the client's own line
                           ("X-Forwarded-For", "203.0.113.9, 10.0.0.5")])   # what our proxies appended
    request = make_mocked_request("GET", "/", headers=headers)
    request._transport_peername = ("127.0.0.1", 5555)   # type: ignore[attr-defined]
    assert request_head(request, "rid", trusted).source_ip == "203.0.113.9"


def test_client_forwarding_and_method_override_headers_are_dropped(stack: Stack) -> None:
    rid = uuid.uuid4().hex
    sent = {"X-Project-Id": PROJECT_ID, "X-Request-Id": rid, "X-Real-IP": "10.9.9.9", "True-Client-IP": "10.9.9.9",
            "X-HTTP-Method-Override": "DELETE", "X-Method-Override": "DELETE", "X-Forwarded-Host": "evil"}
    assert http("GET", stack.url + INSTANCES, ak=ALICE_AK, sk=ALICE_SK, headers=sent).status == 200
    [entry] = reached_upstream(stack, rid)
    for name in ("x-real-ip", "true-client-ip", "x-http-method-override", "x-method-override"):
        assert name not in entry["headers"]
    assert entry["headers"]["x-forwarded-host"] != "evil"
    assert entry["headers"]["x-forwarded-for"] == "127.0.0.1"


# --- 7. the failed-auth guard and valid callers sharing an IP -------------------------------------------

def test_an_ip_over_budget_still_serves_callers_whose_credentials_verify(tmp_path: Path) -> None:
    stack = start_stack(str(tmp_path), auth_failures_per_ip_per_minute=3)
    try:
        token = token_of(login(stack))
        assert http("GET", stack.url + INSTANCES, headers={"X-Auth-Token": token}).status == 200
        for _ in range(4):    # someone on the same address with a stale key
            http("GET", stack.url + INSTANCES, ak="STALEAK0000000000001", sk="x")
        flood = http("GET", stack.url + INSTANCES, ak="STALEAK0000000000001", sk="x")
        assert flood.status == 429 and flood.headers["Retry-After"]
        assert http("GET", stack.url + INSTANCES, ak=ALICE_AK, sk=ALICE_SK,
                    headers={"X-Project-Id": PROJECT_ID}).status == 200          # signature verifies
        assert http("GET", stack.url + INSTANCES, headers={"X-Auth-Token": token}).status == 200  # known token
        other = stack.servers.run(_issue(stack, "dave"))      # authentic, but never seen by this replica
        assert http("GET", stack.url + INSTANCES, headers={"X-Auth-Token": other}).status == 429
        assert login(stack).status == 429                       # no scrypt for a flooding address
        relogin = {"auth": {"identity": {"methods": ["token"], "token": {"id": other}}}}
        assert http("POST", stack.url + "/v3/auth/tokens", body=json.dumps(relogin).encode()).status == 429
        temporary = {"auth": {"identity": {"methods": ["token"], "token": {"id": other}}}}
        assert http("POST", stack.url + "/v3.0/OS-CREDENTIAL/securitytokens",
                    body=json.dumps(temporary).encode()).status == 429
    finally:
        stack.servers.close()


async def _issue(stack: Stack, user: str) -> str:
    from gateway.services import SERVICES
    services = stack.apps[0][SERVICES]
    identity = services.runtime.directory.by_login("acme", user)
    token, _ = services.tokens.issue(user_id=identity.user_id, user_name=user, domain_id=identity.domain.id,
                                     domain_name="acme", project_id=PROJECT_ID, project_name="cn-north-4",
                                     methods=("password",), domain_owner=False)
    ISSUED_TOKENS.append(token)
    return token


# --- 8. GET / ------------------------------------------------------------------------------------------

def test_the_version_list_is_answered_by_the_gateway(stack: Stack) -> None:
    rid = uuid.uuid4().hex
    reply = http("GET", stack.url + "/", headers={"X-Request-Id": rid})
    assert reply.status == 200
    assert [v["id"] for v in reply.json()["versions"]] == ["v3", "v2", "v1"]
    assert reached_upstream(stack, rid) == []


# --- 9. IAM JSON depth -----------------------------------------------------------------------------------

@pytest.mark.parametrize("route", ["/v3/auth/tokens", "/v3.0/OS-CREDENTIAL/securitytokens"])
def test_deeply_nested_json_is_a_400_without_a_traceback(stack: Stack, route: str,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    for body in (b"[" * 30000, b'{"a":' * 10000 + b"1" + b"}" * 10000, b'{"auth": "' + b"[" * 5000 + b'"}'):
        reply = http("POST", stack.url + route, body=body)
        assert reply.status in (400, 401), reply.body
        assert reply.json()["error_code"] in ("IAM.0011", "IAM.0001")
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


# --- 10. the smaller rules ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Authorization", "X-Sdk-Date", "X-Auth-Token", "X-Security-Token"])
@pytest.mark.parametrize("body", [b"", b'{"a": 1}'])
def test_a_second_credential_header_is_401(stack: Stack, name: str, body: bytes) -> None:
    method = "POST" if body else "GET"
    lines = signed_lines(stack, method, INSTANCES, body)
    if name in ("X-Auth-Token", "X-Security-Token"):
        lines = lines[:1] + [f"{name}: a", f"{name}: b"] + lines[1:]
    else:
        lines.append(next(line for line in lines if line.startswith(name + ":")))
    status, _, reply = raw_exchange(stack, lines, body)
    assert status == 401, reply   # (two junk security tokens may fail on the first one's check)
    assert json.loads(reply)["error_code"] == "APIGW.0301"


def test_a_body_on_get_is_refused(stack: Stack) -> None:
    status, _, body = raw_exchange(stack, signed_lines(stack, "GET", INSTANCES, b'{"a": 1}'), b'{"a": 1}')
    assert status == 400 and json.loads(body)["error_code"] == "APIGW.0201"


def test_a_token_with_another_projects_header_is_403(stack: Stack) -> None:
    token = token_of(login(stack))
    reply = http("GET", stack.url + INSTANCES, headers={"X-Auth-Token": token, "X-Project-Id": OTHER_PROJECT_ID})
    assert reply.status == 403 and reply.json()["error_code"] == "APIGW.0310"
    assert http("GET", stack.url + INSTANCES,
                headers={"X-Auth-Token": token, "X-Project-Id": PROJECT_ID}).status == 200


def test_catalog_endpoints_do_not_come_from_the_host_header(stack: Stack, tmp_path: Path) -> None:
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "alice", "password": "alice-pass-1", "domain": {"name": "acme"}}}}}}
    raw = json.dumps(body).encode()
    status, headers, reply = raw_exchange(stack, ["POST /v3/auth/tokens HTTP/1.1", "Host: evil.example",
                                                  "Content-Type: application/json"], raw)
    assert status == 201
    ISSUED_TOKENS.append(headers["x-subject-token"])
    urls = [e["url"] for s in json.loads(reply)["token"]["catalog"] for e in s["endpoints"]]
    assert urls and all(urlsplit(u).netloc == f"127.0.0.1:{port_of(stack)}" for u in urls)


def test_catalog_endpoints_follow_listen_public_url(tmp_path: Path) -> None:
    from gateway.http.app import create_app
    from gateway.config import parse_config
    from .harness import ServerThread, config_data
    data = config_data(state_dir=str(tmp_path))
    data["listen"]["public_url"] = "https://ddm.example.com/"
    servers = ServerThread()
    try:
        port = servers.serve(create_app(parse_config(data), upstream_url="http://127.0.0.1:9"))
        body = {"auth": {"identity": {"methods": ["password"], "password": {
            "user": {"name": "alice", "password": "alice-pass-1", "domain": {"name": "acme"}}}}}}
        reply = http("POST", f"http://127.0.0.1:{port}/v3/auth/tokens", body=json.dumps(body).encode())
        ISSUED_TOKENS.append(reply.headers["X-Subject-Token"])
        urls = {e["url"] for s in reply.json()["token"]["catalog"] for e in s["endpoints"]}
        assert urls == {"https://ddm.example.com/v3", "https://ddm.example.com"}
    finally:
        servers.close()


# --- 11. replay protection ---------------------------------------------------------------------------------

def replay_stack(tmp_path: Path, store_url: str | None = None, *, servers: Any = None,
                 sim_url: str | None = None) -> Stack:
    """A gateway with `auth.replay_window: true` (and its simulator, unless one is given)."""
    from ddmsim import create_app as create_sim
    from gateway.http.app import create_app
    from gateway.config import parse_config
    from .harness import OffsetClock, ServerThread, config_data
    servers = servers or ServerThread()
    sim_url = sim_url or f"http://127.0.0.1:{servers.serve(create_sim(job_seconds=0))}"
    data = config_data(state_dir=str(tmp_path), upstream_url=sim_url, store_url=store_url)
    data["auth"] = {"replay_window": True}
    config = parse_config(data)
    app = create_app(config)
    return Stack(servers, sim_url, f"http://127.0.0.1:{servers.serve(app)}", OffsetClock(), config, [app])


def test_a_replayed_signed_post_is_refused_and_a_get_is_not(tmp_path: Path) -> None:
    stack = replay_stack(tmp_path)
    try:
        body = b'{"instance": {"name": "replay-01"}}'
        lines = signed_lines(stack, "POST", INSTANCES, body)
        first = raw_exchange(stack, lines, body)
        assert first[0] < 500 and first[0] != 401, first
        status, _, reply = raw_exchange(stack, lines, body)
        assert status == 401 and "replayed" in json.loads(reply)["error_msg"]
        get = signed_lines(stack, "GET", INSTANCES)
        assert raw_exchange(stack, get)[0] == 200
        assert raw_exchange(stack, get)[0] == 200     # the SDK's retries resend the same signature
    finally:
        stack.servers.close()


def test_replays_are_refused_across_replicas(tmp_path: Path, redis_url: str) -> None:
    one = replay_stack(tmp_path / "one", redis_url)
    two = replay_stack(tmp_path / "two", redis_url, servers=one.servers, sim_url=one.sim_url)
    try:
        body = b'{"instance": {"name": "replay-02"}}'
        lines = signed_lines(one, "POST", INSTANCES, body)
        assert raw_exchange(one, lines, body)[0] != 401
        status, _, reply = raw_exchange(two, lines, body)   # the same bytes, to the other replica
        assert status == 401 and "replayed" in json.loads(reply)["error_msg"]
    finally:
        one.servers.close()


def test_the_edge_keys_are_validated_with_their_paths() -> None:
    from gateway.config import parse_config
    from gateway.config.loader import ConfigError
    from .harness import config_data
    data = config_data(state_dir="unused")
    data["listen"].update(max_connections=0, public_url="ftp://x", header_timeout_s=-1,
                          keepalive_timeout_s="long", max_buffered_bytes=0)
    data["auth"] = {"replay_window": "yes"}
    with pytest.raises(ConfigError) as raised:
        parse_config(data)
    for path in ("listen.max_connections", "listen.public_url", "listen.header_timeout_s",
                 "listen.keepalive_timeout_s", "listen.max_buffered_bytes", "auth.replay_window"):
        assert path + ":" in str(raised.value)


def test_password_checks_queue_at_most_max_pending() -> None:
    """A login flood is refused at once instead of queueing scrypt work without end."""
    import asyncio
    from gateway.iam.password_checker import PasswordChecker, PasswordsBusy
    from gateway.passwords import hash_password
    encoded = hash_password("pw")

    async def flood() -> list[Any]:
        checker = PasswordChecker(workers=1, max_pending=2)
        try:
            return await asyncio.gather(*(checker.check("pw", encoded=encoded, plaintext=None) for _ in range(4)),
                                        return_exceptions=True)
        finally:
            checker.close()
    results = asyncio.run(flood())
    assert results[:2] == [True, True]
    assert all(isinstance(r, PasswordsBusy) for r in results[2:])

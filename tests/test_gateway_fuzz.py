"""Hostile input at the gateway's public port: never a 500, never a hang, always the documented shape.

Raw sockets, so nothing in a client library tidies the request first: odd methods, broken percent
encodings, dot segments, control characters, junk credentials of every kind, and correctly signed
requests (alice's AK/SK) over fuzzed paths, queries and bodies, so the input also reaches routing,
scope, authorization, the proxy and the simulator behind it. The IAM routes too: junk and deeply
nested JSON, with junk credentials and with a real token. And a client that never sends the
body it announced.
"""
from __future__ import annotations

import functools
import http.client
import json
import socket
from pathlib import Path
from datetime import datetime, timezone
from typing import Iterator
from urllib.parse import quote

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import policies
from signer import SignableRequest, sign

from .harness import ALICE_AK, ALICE_SK, PROJECT_ID, ServerThread, config_data
from .stack import Stack, start_stack

PATH_SAFE = "%~!$&'()*+,;=:@"
QUERY_SAFE = "%~!$'()*+,;:@/?"
NO_LIMITS = {"per_user_per_minute": 10**6, "global_per_minute": 10**6,
             "auth_failures_per_ip_per_minute": 10**6}
SEGMENTS = st.one_of(
    st.sampled_from(["v1", "v2", "v3", PROJECT_ID, "instances", "databases", "users", "jobs", "nodes",
                     "..", ".", "", "%2e%2e", "%2F", "%zz", "%", "%00", "%C3%A9", "~a", "a b", "é"]),
    st.text(st.characters(blacklist_categories=("Cs",), max_codepoint=0x2FF), max_size=12),
)
QUERY = st.lists(st.tuples(st.sampled_from(["limit", "offset", "name", "engine", "%zz", "a&b", ""]),
                           st.text(max_size=8)), max_size=3)
JUNK = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=60)
AUTH_HEADERS = st.dictionaries(
    st.sampled_from(["Authorization", "X-Auth-Token", "X-Sdk-Date", "X-Project-Id", "X-Security-Token",
                     "Content-Type", "X-Sdk-Content-Sha256", "X-Forwarded-For", "X-Request-Id"]),
    st.one_of(JUNK, st.sampled_from([
        "SDK-HMAC-SHA256 Access=" + ALICE_AK + ", SignedHeaders=host;x-sdk-date, Signature=00",
        "SDK-HMAC-SHA256 Access=, SignedHeaders=, Signature=", "V11-HMAC-SHA256 Credential=a/b",
        "eyJhbGciOiJub25lIn0.e30.", "20261128T000000Z", "application/json", "UNSIGNED-PAYLOAD"])),
    max_size=4)
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "BREW"])
BODIES = st.one_of(st.just(b""), st.binary(max_size=200),
                   st.sampled_from([b"{", b"[]", b'{"name": 1}', b"null", b'{"instance": {"name": "x"}}']))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(str(tmp_path_factory.mktemp("fuzz")), **NO_LIMITS)
    yield stack
    stack.servers.close()


def target(segments: list[str], query: list[tuple[str, str]]) -> str:
    """Characters HTTP forbids in a request target are escaped, as any client does (aiohttp's parser
    would refuse them before the gateway sees anything); '%' is kept, so broken escapes go through."""
    path = "/" + "/".join(quote(segment, safe=PATH_SAFE) for segment in segments)
    raw = "&".join(f"{quote(k, safe=QUERY_SAFE)}={quote(v, safe=QUERY_SAFE)}" for k, v in query)
    return path + ("?" + raw if raw else "")


def exchange(stack: Stack, method: str, target_: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection; the reply as the peer sent it (10 s: a hang is a failure)."""
    port = int(stack.url.rsplit(":", 1)[1])
    head = [f"{method} {target_} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close",
            f"Content-Length: {len(body)}"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    raw = ("\r\n".join(head) + "\r\n\r\n").encode("utf-8", "surrogatepass") + body
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        response = http.client.HTTPResponse(sock, method=method.upper())
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def assert_documented(status: int, headers: dict[str, str], body: bytes, method: str) -> None:
    assert status < 500 or status in (502, 503, 504), (status, body[:300])
    if status >= 400 and method.upper() != "HEAD" and body:
        error = json.loads(body)
        code = error.get("error_code") or (error.get("error") or {}).get("code")
        assert code, body[:300]


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(method=METHODS, segments=st.lists(SEGMENTS, max_size=6), query=QUERY, headers=AUTH_HEADERS, body=BODIES)
# An encoded newline in the path: the catch-all route must match it too (`.*` does not).
@example(method="HEAD", segments=["\n"], query=[], headers={}, body=b"")
@example(method="GET", segments=["v1", "a\nb"], query=[], headers={}, body=b"")
def test_unsigned_junk_gets_a_documented_4xx(stack: Stack, method: str, segments: list[str],
                                             query: list[tuple[str, str]], headers: dict[str, str],
                                             body: bytes) -> None:
    status, reply_headers, reply = exchange(stack, method, target(segments, query), headers, body)
    if status == 400 and not reply_headers.get("x-request-id"):
        return   # aiohttp's own HTTP parser refused the request line or a header before us
    assert_documented(status, reply_headers, reply, method)
    assert reply_headers.get("x-request-id")


@functools.lru_cache(maxsize=1)
def catalog_routes() -> list[tuple[str, str]]:
    """(method, path template) of every route the gateway knows, straight from its data file."""
    document = yaml.safe_load((Path(policies.__file__).parent / "routes.yaml").read_text(encoding="utf-8"))
    return sorted({(route["method"], route["path"]) for route in document["routes"]})


@st.composite
def catalog_request(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A real route, its parameters plausible or junk, and now and then the wrong method."""
    method, template = draw(st.sampled_from(catalog_routes()))
    if draw(st.booleans()):
        method = draw(METHODS)
    segments = []
    for part in template.strip("/").split("/"):
        if part == "{project_id}":
            part = PROJECT_ID
        elif part.startswith("{"):
            part = draw(st.one_of(st.sampled_from(["0f1e2d3c4b5a4d6e8f7a9b0c1d2e3f4ain09", "db_1", "root"]),
                                  SEGMENTS))
        segments.append(part)
    return method, segments


@FUZZ
@given(route=catalog_request(), query=QUERY, body=BODIES,
       content_type=st.sampled_from(["application/json", "application/json;charset=UTF-8", "text/plain"]))
def test_signed_requests_over_fuzzed_routes_never_fail_inside(stack: Stack, route: tuple[str, list[str]],
                                                              query: list[tuple[str, str]], body: bytes,
                                                              content_type: str) -> None:
    """A valid signature carries the junk past authentication into routing, authorization, the
    proxy and the simulator: whatever it meets there, the answer is documented."""
    method, segments = route
    target_ = target(segments, query)
    path, _, raw_query = target_.partition("?")
    port = int(stack.url.rsplit(":", 1)[1])
    headers = {"host": f"127.0.0.1:{port}", "content-type": content_type, "x-project-id": PROJECT_ID}
    try:
        added = sign(SignableRequest(method.upper(), path, raw_query, headers, body), ALICE_AK, ALICE_SK,
                     now=datetime.now(timezone.utc))
    except ValueError:
        return   # not a request the SDK could sign (e.g. an unencodable path)
    sent = {"Content-Type": content_type, "X-Project-Id": PROJECT_ID, **added}
    status, reply_headers, reply = exchange(stack, method.upper(), target_, sent, body)
    if status == 400 and not reply_headers.get("x-request-id"):
        return   # refused by aiohttp's HTTP parser before the gateway saw it
    assert_documented(status, reply_headers, reply, method)


def test_a_body_that_never_arrives_is_408_not_a_held_handler(tmp_path: Path) -> None:
    """A signed request announces 100 bytes and sends 10: the gateway answers 408 in the
    documented shape once listen.body_timeout_s passes, instead of waiting for ever."""
    from ddmsim import create_app as create_sim
    from gateway.http.app import create_app
    from gateway.config import parse_config

    servers = ServerThread()
    try:
        sim_url = f"http://127.0.0.1:{servers.serve(create_sim(job_seconds=0))}"
        data = config_data(state_dir=str(tmp_path), upstream_url=sim_url)
        data["listen"]["body_timeout_s"] = 0.3
        port = servers.serve(create_app(parse_config(data)))
        path = f"/v1/{PROJECT_ID}/instances"
        headers = {"host": f"127.0.0.1:{port}", "content-type": "application/json"}
        body = b'{"instance": {"name": "slow-client-01"}}' + b" " * 60
        signed = sign(SignableRequest("POST", path, "", headers, body), ALICE_AK, ALICE_SK,
                      now=datetime.now(timezone.utc))
        head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json",
                f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in signed.items())]
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body[:10])
            response = http.client.HTTPResponse(sock, method="POST")
            response.begin()
            reply = json.loads(response.read())
        assert response.status == 408
        assert reply["error_code"] == reply["errCode"] == "APIGW.0201"
        assert reply["error_msg"] == "Request timeout."
    finally:
        servers.close()


IAM_ROUTES = [("POST", "/v3/auth/tokens"), ("POST", "/v3/auth/tokens?nocatalog=true"),
              ("GET", "/v3/auth/tokens"), ("HEAD", "/v3/auth/tokens"), ("DELETE", "/v3/auth/tokens"),
              ("GET", "/v3/auth/projects"), ("GET", "/v3/projects?name=cn-north-4"),
              ("GET", "/v3/auth/domains"), ("POST", "/v3.0/OS-CREDENTIAL/securitytokens")]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.sampled_from(["password", "token", "alice", "acme", "alice-pass-1", PROJECT_ID]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["auth", "identity", "methods", "password", "user", "name", "id", "domain", "token",
                         "scope", "project", "duration_seconds", "x"]), inner, max_size=4),
    max_leaves=20)
IAM_BODIES = st.one_of(
    JSON_VALUES.map(lambda value: json.dumps(value).encode()),
    st.integers(1, 40000).map(lambda depth: b"[" * depth),
    st.integers(1, 5000).map(lambda depth: b'{"auth":' * depth + b"1" + b"}" * depth),
    BODIES)


@FUZZ
@given(route=st.sampled_from(IAM_ROUTES), headers=AUTH_HEADERS, body=IAM_BODIES, with_token=st.booleans())
def test_iam_routes_answer_hostile_input_in_their_documented_shape(stack: Stack, route: tuple[str, str],
                                                                   headers: dict[str, str], body: bytes,
                                                                   with_token: bool) -> None:
    method, target_ = route
    if with_token:   # a real token carries the junk past authentication into the handlers
        token = iam_token(stack.url)
        headers = {**headers, "X-Auth-Token": token, "X-Subject-Token": token}
    status, reply_headers, reply = exchange(stack, method, target_, headers, body)
    if status == 400 and not reply_headers.get("x-request-id"):
        return   # aiohttp's own HTTP parser refused a header before us
    assert_documented(status, reply_headers, reply, method)
    assert reply_headers.get("x-request-id")


@functools.lru_cache(maxsize=4)
def iam_token(url: str) -> str:
    from .harness import ISSUED_TOKENS
    port = int(url.rsplit(":", 1)[1])
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "alice", "password": "alice-pass-1", "domain": {"name": "acme"}}}},
        "scope": {"project": {"id": PROJECT_ID}}}}
    raw = json.dumps(body).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"POST /v3/auth/tokens?nocatalog=true HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                     b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(raw), raw))
        response = http.client.HTTPResponse(sock, method="POST")
        response.begin()
        response.read()
    assert response.status == 201
    headers = {k.lower(): v for k, v in response.getheaders()}
    ISSUED_TOKENS.append(headers["x-subject-token"])
    return headers["x-subject-token"]

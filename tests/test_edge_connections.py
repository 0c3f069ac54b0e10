"""Hostile clients at the socket level: the edge limits of the public listener.

Raw sockets against a real gateway (simulator behind it), with the limits configured small so
each attack is over in a fraction of a second: connections that send nothing or trickle their
head, idle keep-alives, more connections than the cap, requests the HTTP parser refuses, bodies
announced and never sent, and the body budget shared by all requests.
"""
from __future__ import annotations

import http.client
import json
import logging
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest

from signer import SignableRequest, sign

from .harness import ALICE_AK, ALICE_SK, PROJECT_ID, ServerThread, config_data

UNKNOWN_AK = "NOSUCHAK000000000001"


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    from ddmsim import create_app as create_sim
    servers = ServerThread()
    try:
        yield f"http://127.0.0.1:{servers.serve(create_sim(job_seconds=0))}"
    finally:
        servers.close()


class Gateway:
    def __init__(self, servers: ServerThread, port: int, app: Any) -> None:
        self.servers, self.port, self.app = servers, port, app

    def connect(self, timeout: float = 5.0) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout)

    @property
    def services(self) -> Any:
        from gateway.services import SERVICES
        return self.app[SERVICES]


def start_gateway(tmp_path: Path, sim_url: str, **listen: Any) -> Gateway:
    from gateway.http.app import create_app
    from gateway.config import parse_config
    data = config_data(state_dir=str(tmp_path), upstream_url=sim_url)
    data["listen"].update(listen)
    app = create_app(parse_config(data))
    servers = ServerThread()
    return Gateway(servers, servers.serve(app), app)


SMALL_LIMITS = {"header_timeout_s": 0.3, "keepalive_timeout_s": 0.5, "max_connections": 8, "body_timeout_s": 0.5}


@pytest.fixture
def gateway_with(tmp_path: Path, sim_url: str) -> Iterator[Any]:
    """gateway_with(**listen): a gateway with small edge limits, `listen` overriding them."""
    started: list[Gateway] = []

    def start(**listen: Any) -> Gateway:
        started.append(start_gateway(tmp_path, sim_url, **{**SMALL_LIMITS, **listen}))
        return started[-1]
    yield start
    for gw in started:
        gw.servers.close()


@pytest.fixture
def gateway(gateway_with: Any) -> Gateway:
    return gateway_with()


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the peer closes (EOF or reset) within `seconds`; whatever it sends is drained."""
    sock.settimeout(seconds)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def until(condition: Any, timeout_s: float = 5.0) -> bool:
    """Polls `condition` (bounded): for what the server does in its own time."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def get_root(gateway: "Gateway") -> int:
    with gateway.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return read_response(sock)[0]


def read_response(sock: socket.socket, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    response = http.client.HTTPResponse(sock, method=method)
    response.begin()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def signed_head(port: int, method: str, path: str, body: bytes, *, ak: str = ALICE_AK, sk: str = ALICE_SK,
                extra: dict[str, str] | None = None, length: int | None = None) -> bytes:
    headers = {"host": f"127.0.0.1:{port}", "content-type": "application/json", "x-project-id": PROJECT_ID}
    added = sign(SignableRequest(method, path, "", headers, body), ak, sk, now=datetime.now(timezone.utc))
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json",
             f"X-Project-Id: {PROJECT_ID}", f"Content-Length: {len(body) if length is None else length}",
             *(f"{k}: {v}" for k, v in {**added, **(extra or {})}.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# --- connection hygiene -------------------------------------------------------------------------

def test_a_connection_that_sends_nothing_is_closed(gateway_with: Any) -> None:
    gateway = gateway_with(keepalive_timeout_s=30)   # the head deadline (0.3 s) must do it
    socks = [gateway.connect() for _ in range(3)]
    try:
        assert all(closed_within(s, 2.0) for s in socks)
    finally:
        for s in socks:
            s.close()


def test_a_head_sent_one_byte_at_a_time_is_cut_off(gateway_with: Any) -> None:
    """Slowloris: each byte arrives well inside any idle timeout, the head never completes."""
    gateway = gateway_with(keepalive_timeout_s=30)
    head = f"GET /v1/{PROJECT_ID}/instances HTTP/1.1\r\nHost: x\r\nX-Filler: {'a' * 200}\r\n".encode()
    with gateway.connect() as sock:
        started = time.monotonic()
        cut = False
        for byte in head:   # 20 ms apart: about 5 s for the whole head
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                cut = True
                break
            time.sleep(0.02)
            if time.monotonic() - started > 5:
                break
        assert cut or closed_within(sock, 1.0)
        assert time.monotonic() - started < 3   # the whole head would take 5 s


def test_an_idle_keep_alive_connection_is_closed(gateway_with: Any) -> None:
    gateway = gateway_with(header_timeout_s=30)   # the keep-alive timeout (0.5 s) must do it
    with gateway.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, _ = read_response(sock)
        assert status == 200
        assert closed_within(sock, 3.0)      # keepalive_timeout_s 0.5


def test_a_kept_alive_connection_serves_the_next_request(gateway_with: Any) -> None:
    """The head deadline starts with each request's first byte, not with the connection."""
    gateway = gateway_with(keepalive_timeout_s=30)
    with gateway.connect() as sock:
        for _ in range(3):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_response(sock)[0] == 200
            time.sleep(0.5)   # idle longer than header_timeout_s (0.3), well under the keep-alive


def test_connections_past_the_cap_get_a_503_and_are_closed(gateway_with: Any) -> None:
    gateway = gateway_with(max_connections=4, header_timeout_s=5, keepalive_timeout_s=5)
    held = [gateway.connect() for _ in range(4)]
    try:
        time.sleep(0.2)   # accepted in order anyway: the fifth connection is the one over the cap
        with gateway.connect() as extra:
            status, headers, body = read_response(extra)
            assert status == 503 and headers["x-request-id"]
            assert json.loads(body)["error_code"] == "APIGW.0201"
        held.pop().close()
        assert until(lambda: get_root(gateway) == 200)   # a slot freed: served normally
    finally:
        for s in held:
            s.close()


# --- requests the HTTP parser refuses --------------------------------------------------------------

PARSER_REFUSED = {
    "header over 8 KB": b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"<script>" * 1200 + b"\r\n\r\n",
    "lowercase method": b"get / HTTP/1.1\r\nHost: x\r\n\r\n",
    "invalid byte in the target": b"GET /v1/\x01<script> HTTP/1.1\r\nHost: x\r\n\r\n",
    "Content-Length with Transfer-Encoding":
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("raw", PARSER_REFUSED.values(), ids=PARSER_REFUSED.keys())
def test_parser_refusals_get_the_documented_400(gateway: Gateway, raw: bytes,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with gateway.connect() as sock:
        sock.sendall(raw)
        status, headers, body = read_response(sock)
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    assert headers["x-request-id"]
    error = json.loads(body)
    assert error["error_code"] == "APIGW.0201" and error["request_id"] == headers["x-request-id"]
    assert b"script" not in body and b"get" not in body.lower().replace(b"gateway", b"")
    records = [r for r in caplog.records if "refused by the HTTP parser" in r.getMessage()]
    assert len(records) == 1 and records[0].levelno == logging.INFO and records[0].exc_info is None
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


# --- bodies ---------------------------------------------------------------------------------------

def test_an_unknown_access_key_gets_its_401_before_sending_the_body(gateway: Gateway) -> None:
    """The AK is looked up on the head alone: the 401 comes while the body is still unsent."""
    path = f"/v1/{PROJECT_ID}/instances"
    with gateway.connect() as sock:
        sock.sendall(signed_head(gateway.port, "POST", path, b"", ak=UNKNOWN_AK, length=12 * 1024 * 1024))
        status, _, body = read_response(sock, "POST")
    assert status == 401 and "not exist" in json.loads(body)["error_msg"]
    assert gateway.services.bodies.in_use == 0


def test_stalled_unauthenticated_bodies_hold_no_buffer(gateway: Gateway) -> None:
    """Many connections announce 12 MB from an unknown AK and send 1 MB: nothing is buffered
    for them (they are answered 401 from the head), and the budget stays empty."""
    path = f"/v1/{PROJECT_ID}/instances"
    socks = []
    try:
        for _ in range(6):
            sock = gateway.connect()
            sock.sendall(signed_head(gateway.port, "POST", path, b"", ak=UNKNOWN_AK, length=12 * 1024 * 1024))
            socks.append(sock)
        for sock in socks:
            assert read_response(sock, "POST")[0] == 401
        assert gateway.services.bodies.in_use == 0
    finally:
        for sock in socks:
            sock.close()


def test_the_body_budget_is_shared_and_given_back(gateway_with: Any) -> None:
    """Budget 1000 bytes: a signed 800-byte body being read holds it; a second one meanwhile is
    503 at once; once the first finishes, the budget is free again."""
    gateway = gateway_with(max_buffered_bytes=1000, body_timeout_s=2)
    path = f"/v1/{PROJECT_ID}/instances"
    body = b'{"instance": {"name": "budget-01"}}'.ljust(800)
    with gateway.connect() as first:
        first.sendall(signed_head(gateway.port, "POST", path, body) + body[:100])
        assert until(lambda: gateway.services.bodies.in_use == 800)
        with gateway.connect() as second:
            second.sendall(signed_head(gateway.port, "POST", path, body) + body)
            status, headers, reply = read_response(second, "POST")
            assert status == 503 and headers["retry-after"] == "1"
            assert json.loads(reply)["error_code"] == "APIGW.0201"
        first.sendall(body[100:])
        assert read_response(first, "POST")[0] < 500
    assert gateway.services.bodies.in_use == 0


def test_a_token_body_that_never_arrives_is_408(gateway: Gateway) -> None:
    """Token-authenticated bodies go through the same reader: a trickled one is 408, and never
    holds an upstream connection."""
    token = gateway.services.tokens.issue(
        user_id="7f2e0c5a9b8d4e6f8a1b2c3d4e5f6a7b", user_name="alice", domain_id="0a1b2c3d4e5f40718293a4b5c6d7e8f9",
        domain_name="acme", project_id=PROJECT_ID, project_name="cn-north-4", methods=("password",),
        domain_owner=False)[0]
    head = (f"POST /v1/{PROJECT_ID}/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"X-Auth-Token: {token}\r\nContent-Length: 100\r\n\r\n").encode()
    with gateway.connect() as sock:
        sock.sendall(head + b'{"instance"')
        status, _, body = read_response(sock, "POST")
    assert status == 408 and json.loads(body)["error_msg"] == "Request timeout."


def test_expect_continue_over_the_limit_is_413_at_once(gateway: Gateway) -> None:
    head = (f"POST /v1/{PROJECT_ID}/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {13 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n").encode()
    with gateway.connect() as sock:
        sock.sendall(head)
        status, headers, body = read_response(sock, "POST")
    assert status == 413 and headers["x-request-id"]
    assert json.loads(body)["error_msg"] == "Request entity too large."

"""The request phases one by one, plain values in, plain values or errors out: routing,
authenticate (the Authenticator over the tests' in-memory directory and store), rate-limit,
authorize. No socket, no aiohttp request: a RequestHead as the edge would build it.

The end-to-end tests (test_e2e_auth.py, test_authz_e2e*.py, test_ratelimit_e2e.py) drive the
same phases through the whole app.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from gateway.authn.failures import AuthFailure
from gateway.config import parse_config
from gateway.errors import GatewayError
from gateway.http.app import build_services
from gateway.notes import RequestNotes
from gateway.pipeline.authorize import authorize, caller_grants
from gateway.pipeline.ddm import handle_ddm
from gateway.pipeline.ratelimit import rate_limit
from gateway.pipeline.routing import route_request
from gateway.principal import AUTH_AKSK, AUTH_TOKEN, Principal
from gateway.proxy.answer import UpstreamResponse
from gateway.request import RequestHead
from gateway.services import Services
from signer import PathError, SignableRequest, path_segments, sign

from .harness import ALICE_AK, ALICE_SK, BOB_AK, BOB_SK, OTHER_PROJECT_ID, PROJECT_ID, config_data

INSTANCES = f"/v1/{PROJECT_ID}/instances"


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    config = parse_config(config_data(state_dir=str(tmp_path), upstream_url="http://127.0.0.1:9",
                                      per_user_per_minute=2), environ={})
    built = build_services(config, upstream_url=None, clock=lambda: datetime.now(timezone.utc).timestamp())
    yield built
    built.observability.close()
    built.passwords.close()


def head_of(method: str, target: str, headers: dict[str, str], *, source_ip: str = "192.0.2.7") -> RequestHead:
    """What the edge builds (gateway/http/head.py), from plain values."""
    raw_path, _, raw_query = target.partition("?")
    try:
        segments: tuple[str, ...] | None = path_segments(raw_path)
        error = None
    except PathError as err:
        segments, error = None, str(err)
    return RequestHead(method, raw_path, raw_query, segments, error, CIMultiDictProxy(CIMultiDict(headers)),
                       source_ip, "rid-phases", "http", "gw.example")


def signed(method: str, target: str, ak: str, sk: str, *, body: bytes = b"") -> RequestHead:
    raw_path, _, raw_query = target.partition("?")
    headers = {"host": "gw.example", "x-project-id": PROJECT_ID}
    added = sign(SignableRequest(method, raw_path, raw_query, headers, body), ak, sk,
                 now=datetime.now(timezone.utc))
    return head_of(method, target, {**headers, **added})


def authenticate(services: Services, head: RequestHead, body: bytes | None = None) -> Principal:
    async def read() -> bytes:
        return body or b""
    principal, _ = asyncio.run(services.authn.authenticate(head, services.runtime,
                                                           read_body=read if body is not None else None))
    return principal


def token_for(services: Services, project_id: str = PROJECT_ID) -> str:
    return services.tokens.issue(
        user_id="7f2e0c5a9b8d4e6f8a1b2c3d4e5f6a7b", user_name="alice", domain_id="0a1b2c3d4e5f40718293a4b5c6d7e8f9",
        domain_name="acme", project_id=project_id, project_name="cn-north-4", methods=("password",),
        domain_owner=False)[0]


# --- routing -------------------------------------------------------------------------------------

def test_routing_names_the_operation_and_its_project(services: Services) -> None:
    route = route_request(head_of("GET", INSTANCES + "?offset=0", {}), services.runtime.catalog)
    assert (route.action, route.project_id, route.version, route.authenticated) == \
        ("ddm:instance:list", PROJECT_ID, "v1", True)


def test_routing_refuses_a_path_that_is_not_canonical_and_one_that_is_unknown(services: Services) -> None:
    with pytest.raises(GatewayError) as bad:
        route_request(head_of("GET", f"/v1/{PROJECT_ID}/instances%2Fx", {}), services.runtime.catalog)
    assert bad.value.status == 400 and "%2F" in bad.value.message
    with pytest.raises(GatewayError) as unknown:
        route_request(head_of("GET", "/v1/nothing/here/at/all", {}), services.runtime.catalog)
    assert unknown.value.status == 404


# --- authenticate --------------------------------------------------------------------------------

def test_a_good_signature_is_alice_with_her_access_key_and_project(services: Services) -> None:
    principal = authenticate(services, signed("GET", INSTANCES, ALICE_AK, ALICE_SK))
    assert (principal.user_name, principal.auth_method, principal.access_key, principal.project_id,
            principal.source_ip) == ("alice", AUTH_AKSK, ALICE_AK, PROJECT_ID, "192.0.2.7")


def test_a_signed_body_is_read_only_after_the_key_is_known_and_covered_by_the_signature(services: Services) -> None:
    head = signed("POST", INSTANCES, ALICE_AK, ALICE_SK, body=b'{"a":1}')
    assert authenticate(services, head, b'{"a":1}').user_name == "alice"
    with pytest.raises(AuthFailure) as tampered:
        authenticate(services, head, b'{"a":2}')
    assert tampered.value.reason == "bad_signature"


@pytest.mark.parametrize("case, reason", [
    ("wrong secret", "bad_signature"), ("unknown key", "unknown_access_key"), ("nothing", "missing_credentials"),
    ("two tokens", "duplicate_header"), ("garbage token", "bad_token"),
])
def test_each_failure_is_a_401_with_its_reason(services: Services, case: str, reason: str) -> None:
    heads = {
        "wrong secret": lambda: signed("GET", INSTANCES, ALICE_AK, BOB_SK),
        "unknown key": lambda: signed("GET", INSTANCES, "NOSUCHAK000000000001", ALICE_SK),
        "nothing": lambda: head_of("GET", INSTANCES, {"host": "gw.example"}),
        "two tokens": lambda: head_of("GET", INSTANCES, {})._replace(
            headers=CIMultiDictProxy(CIMultiDict([("X-Auth-Token", "a"), ("x-auth-token", "b")]))),
        "garbage token": lambda: head_of("GET", INSTANCES, {"X-Auth-Token": "not-a-jwt"}),
    }
    with pytest.raises(AuthFailure) as failure:
        authenticate(services, heads[case]())
    assert failure.value.status == 401 and failure.value.reason == reason
    assert failure.value.message.startswith("Incorrect IAM authentication information: ")


def test_a_token_is_its_user_and_a_revoked_one_is_refused(services: Services) -> None:
    token = token_for(services)
    principal = authenticate(services, head_of("GET", INSTANCES, {"X-Auth-Token": token}))
    assert (principal.user_name, principal.auth_method, principal.project_id) == ("alice", AUTH_TOKEN, PROJECT_ID)
    asyncio.run(services.authn.revocations.revoke(principal.token_id or "", 60))
    with pytest.raises(AuthFailure) as revoked:
        authenticate(services, head_of("GET", INSTANCES, {"X-Auth-Token": token}))
    assert revoked.value.reason == "bad_token" and "revoked" in revoked.value.message


def test_bad_signatures_lock_the_access_key_then_even_a_good_body_is_not_read(services: Services) -> None:
    threshold = services.runtime.config.auth.lockout_threshold
    for _ in range(threshold):
        with pytest.raises(AuthFailure):
            authenticate(services, signed("GET", INSTANCES, ALICE_AK, BOB_SK))
    reads: list[bool] = []

    async def read() -> bytes:
        reads.append(True)
        return b"{}"
    with pytest.raises(AuthFailure) as failure:
        asyncio.run(services.authn.authenticate(signed("POST", INSTANCES, ALICE_AK, ALICE_SK, body=b"{}"),
                                                services.runtime, read_body=read))
    assert failure.value.reason == "locked_access_key" and reads == []


def test_a_token_of_one_project_is_refused_on_another(services: Services) -> None:
    head = head_of("GET", f"/v1/{OTHER_PROJECT_ID}/instances", {"X-Auth-Token": token_for(services)})
    principal = authenticate(services, head)
    with pytest.raises(GatewayError) as failure:
        services.authn.project_scope(principal, head, OTHER_PROJECT_ID, services.runtime)
    assert failure.value.status == 403
    assert services.authn.project_scope(principal, head, PROJECT_ID, services.runtime).id == PROJECT_ID


# --- rate-limit ----------------------------------------------------------------------------------

def test_rate_limit_announces_the_budget_then_refuses_past_it(services: Services) -> None:
    principal = authenticate(services, signed("GET", INSTANCES, BOB_AK, BOB_SK))
    notes = RequestNotes(request_id="rid")

    async def three() -> tuple[dict[str, str], GatewayError]:
        first = dict(await rate_limit(principal, "ddm:instance:list", services, notes))
        await rate_limit(principal, "ddm:instance:list", services, notes)
        with pytest.raises(GatewayError) as third:
            await rate_limit(principal, "ddm:instance:list", services, notes)
        return first, third.value
    first, refused = asyncio.run(three())
    assert first["RateLimit"].startswith('"user";r=1;')
    assert refused.status == 429 and "limit:2,time:1 minute" in refused.message
    assert dict(refused.headers)["Retry-After"].isdigit()


# --- authorize -----------------------------------------------------------------------------------

def test_authorize_allows_a_reader_to_list_and_denies_it_a_delete(services: Services) -> None:
    catalog = services.runtime.catalog
    principal = authenticate(services, signed("GET", INSTANCES, BOB_AK, BOB_SK))
    project = services.runtime.directory.project(PROJECT_ID)
    grants = caller_grants(principal, project, services)
    listing = route_request(head_of("GET", INSTANCES, {}), catalog)
    assert authorize(principal, listing, project, services, grants=grants).allowed
    deleting = route_request(head_of("DELETE", f"{INSTANCES}/abc0123456789abcdef0123456789abcin09", {}), catalog)
    verdict = authorize(principal, deleting, project, services, grants=grants)
    assert not verdict.allowed and verdict.denied_actions == ["ddm:instance:delete"]
    with pytest.raises(GatewayError) as denied:
        verdict.raise_if_denied()
    assert denied.value.status == 403


# --- the whole request pipeline over plain values ------------------------------------------------

class Recorded:
    """An Exchange (pipeline/ddm.py) that records what the pipeline answered instead of writing it."""

    def __init__(self) -> None:
        self.relayed: list[tuple[UpstreamResponse, tuple[tuple[str, str], ...]]] = []
        self.refused: list[tuple[GatewayError, tuple[tuple[str, str], ...], bool]] = []

    async def relay(self, answer: UpstreamResponse, headers: tuple[tuple[str, str], ...]) -> str:
        self.relayed.append((answer, headers))
        return "relayed"

    def refuse(self, err: GatewayError, headers: tuple[tuple[str, str], ...], *, legacy: bool) -> str:
        self.refused.append((err, headers, legacy))
        return "refused"


class OneBody:
    length = 2

    async def read(self) -> bytes:
        return b"{}"

    def stream(self):  # type: ignore[no-untyped-def]
        raise AssertionError("the pipeline reads bodies whole")


def test_the_pipeline_answers_through_its_exchange_without_an_aiohttp_request(services: Services) -> None:
    exchange = Recorded()
    notes = RequestNotes(request_id="rid-phases")
    assert asyncio.run(handle_ddm(head_of("GET", "/", {}), None, exchange, services, notes)) == "relayed"
    [(answer, headers)] = exchange.relayed
    assert answer.status == 200 and b"versions" in (answer.body or b"") and headers == ()
    assert notes.route is not None and not notes.route.authenticated


def test_the_pipeline_refuses_in_the_legacy_shape_for_v1_and_keeps_the_ratelimit_headers(services: Services) -> None:
    exchange = Recorded()
    head = signed("GET", INSTANCES, BOB_AK, BOB_SK)
    notes = RequestNotes(request_id="rid-phases")
    assert asyncio.run(handle_ddm(head, OneBody(), exchange, services, notes)) == "refused"
    [(err, headers, legacy)] = exchange.refused
    assert (err.status, legacy, headers) == (400, True, ())    # a GET with a body: refused before authentication
    assert notes.principal is None

    exchange = Recorded()
    for _ in range(3):   # per_user_per_minute = 2: the third is throttled, its RateLimit headers kept
        asyncio.run(handle_ddm(signed("DELETE", f"{INSTANCES}/abc0123456789abcdef0123456789abcin09", BOB_AK, BOB_SK),
                               None, exchange, services, notes))
    assert [err.status for err, _, _ in exchange.refused] == [403, 403, 429]
    assert dict(exchange.refused[0][1])["RateLimit"].startswith('"user";r=1;')
    assert notes.ratelimit_outcome == "rejected"

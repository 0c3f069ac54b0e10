"""End to end through real servers: authentication, scope, authorization and their error bodies."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest

from .harness import (ISSUED_TOKENS, ALICE_AK, ALICE_SK, BOB_AK, BOB_SK, CAROL_AK, CAROL_SK, DAVE_AK, DAVE_SK,
                      FOREIGN_PROJECT_ID, MALLORY_AK, OTHER_PROJECT_ID, PROJECT_ID)
from .stack import Stack, http, start_stack

INSTANCES = f"/v1/{PROJECT_ID}/instances"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = start_stack(str(tmp_path_factory.mktemp("gw")))
    yield stack
    stack.servers.close()


def login(stack: Stack, user: str, password: str, *, domain: str = "acme",
          project: str | None = "cn-north-4") -> str:
    scope = {"project": {"name": project, "domain": {"name": domain}}} if project else {"domain": {"name": domain}}
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": user, "password": password, "domain": {"name": domain}}}}, "scope": scope}}
    reply = http("POST", stack.url + "/v3/auth/tokens?nocatalog=true", body=json.dumps(body).encode())
    assert reply.status == 201, reply.body
    ISSUED_TOKENS.append(reply.headers["X-Subject-Token"])
    return reply.headers["X-Subject-Token"]


def assert_error(reply, status: int, code: str, *, legacy: bool = True, contains: str = "") -> dict:
    assert reply.status == status, reply.body
    body = reply.json()
    assert body["error_code"] == code
    assert contains in body["error_msg"]
    assert body["request_id"] == reply.headers["X-Request-Id"]
    assert reply.headers["Content-Type"].startswith("application/json")
    if legacy:
        assert body["errCode"] == code and body["externalMessage"] == body["error_msg"]
    return body


def test_version_list_needs_no_authentication(stack: Stack) -> None:
    reply = http("GET", stack.url + "/")
    assert reply.status == 200
    assert {v["id"] for v in reply.json()["versions"]} >= {"v1", "v3"}


def test_aksk_request_reaches_the_simulator(stack: Stack) -> None:
    reply = http("GET", stack.url + INSTANCES, ak=ALICE_AK, sk=ALICE_SK, headers={"X-Project-Id": PROJECT_ID})
    assert reply.status == 200, reply.body
    assert "instances" in reply.json()
    assert reply.headers["X-Request-Id"]
    assert reply.headers["RateLimit-Policy"] == '"user";q=60;w=60, "global";q=8000;w=60'
    assert reply.headers["RateLimit"].startswith('"user";r=')


@pytest.mark.parametrize("algorithm", ["SDK-HMAC-SHA256", "V11-HMAC-SHA256", "SDK-HMAC-SM3",
                                       "SDK-ECDSA-P256-SHA256"])
def test_every_signing_algorithm_is_accepted(stack: Stack, algorithm: str) -> None:
    reply = http("GET", stack.url + INSTANCES, ak=ALICE_AK, sk=ALICE_SK, algorithm=algorithm)
    assert reply.status == 200, reply.body


def test_client_request_id_is_kept_when_well_formed(stack: Stack) -> None:
    reply = http("GET", stack.url + INSTANCES, ak=ALICE_AK, sk=ALICE_SK, headers={"X-Request-Id": "abc-123"})
    assert reply.headers["X-Request-Id"] == "abc-123"
    reply = http("GET", stack.url + "/nope", headers={"X-Request-Id": "bad id\u00e9"})
    assert reply.headers["X-Request-Id"] != "bad id\u00e9"


def test_unknown_access_key(stack: Stack) -> None:
    reply = http("GET", stack.url + INSTANCES, ak="NOSUCHAK000000000001", sk="whatever")
    assert_error(reply, 401, "APIGW.0301", contains="ak NOSUCHAK000000000001 not exist")


def test_wrong_secret_echoes_the_canonical_request_not_the_secret(stack: Stack) -> None:
    reply = http("GET", stack.url + INSTANCES, ak=BOB_AK, sk="not-bobs-secret")
    body = assert_error(reply, 401, "APIGW.0301", contains="verify aksk signature fail")
    assert "not-bobs-secret" not in json.dumps(body) and BOB_SK not in json.dumps(body)


def test_skewed_date_is_refused(stack: Stack) -> None:
    old = datetime.now(timezone.utc) - timedelta(minutes=20)
    reply = http("GET", stack.url + INSTANCES, ak=ALICE_AK, sk=ALICE_SK, now=old)
    assert_error(reply, 401, "APIGW.0301", contains="signature expired")


def test_missing_credentials(stack: Stack) -> None:
    assert_error(http("GET", stack.url + INSTANCES), 401, "APIGW.0301")


def test_v3_routes_have_no_legacy_fields(stack: Stack) -> None:
    reply = http("GET", stack.url + f"/v3/{PROJECT_ID}/jobs/1234")
    body = assert_error(reply, 401, "APIGW.0301", legacy=False)
    assert "errCode" not in body


def test_project_header_must_match_the_path(stack: Stack) -> None:
    reply = http("GET", stack.url + INSTANCES, ak=ALICE_AK, sk=ALICE_SK, headers={"X-Project-Id": OTHER_PROJECT_ID})
    assert_error(reply, 403, "APIGW.0310")


def test_project_of_another_domain_is_unavailable(stack: Stack) -> None:
    reply = http("GET", stack.url + f"/v1/{FOREIGN_PROJECT_ID}/instances", ak=ALICE_AK, sk=ALICE_SK)
    assert_error(reply, 403, "APIGW.0310")
    reply = http("GET", stack.url + INSTANCES, ak=MALLORY_AK, sk="mallory-secret-key-00000000000000000001")
    assert_error(reply, 403, "APIGW.0310")


def test_unknown_route_and_bad_path(stack: Stack) -> None:
    assert_error(http("GET", stack.url + f"/v1/{PROJECT_ID}/teapots", ak=ALICE_AK, sk=ALICE_SK),
                 404, "APIGW.0101", contains="does not exist")
    reply = http("GET", stack.url + f"/v1/{PROJECT_ID}/instances/a%2Fb")   # refused before authentication
    assert_error(reply, 400, "APIGW.0201")


def test_read_only_user_cannot_delete(stack: Stack) -> None:
    reply = http("DELETE", stack.url + f"{INSTANCES}/0123456789abcdef0123456789abcdefin09", ak=BOB_AK, sk=BOB_SK)
    assert_error(reply, 403, "APIGW.0302", contains="Policy doesn't allow ddm:instance:delete to be performed.")
    assert http("GET", stack.url + INSTANCES, ak=BOB_AK, sk=BOB_SK).status == 200


def test_custom_deny_beats_full_access(stack: Stack) -> None:
    reply = http("DELETE", stack.url + f"{INSTANCES}/0123456789abcdef0123456789abcdefin09", ak=CAROL_AK, sk=CAROL_SK)
    assert_error(reply, 403, "APIGW.0302", contains="ddm:instance:delete")
    assert http("GET", stack.url + INSTANCES, ak=CAROL_AK, sk=CAROL_SK).status == 200


def test_user_without_groups_is_implicitly_denied(stack: Stack) -> None:
    assert_error(http("GET", stack.url + INSTANCES, ak=DAVE_AK, sk=DAVE_SK), 403, "APIGW.0302",
                 contains="ddm:instance:list")


def test_project_scoped_grant(stack: Stack) -> None:
    reply = http("GET", stack.url + f"/v1/{OTHER_PROJECT_ID}/instances", ak=ALICE_AK, sk=ALICE_SK)
    assert_error(reply, 403, "APIGW.0302")


def test_token_login_and_use(stack: Stack) -> None:
    token = login(stack, "alice", "alice-pass-1")
    assert http("GET", stack.url + INSTANCES, headers={"X-Auth-Token": token}).status == 200
    reply = http("GET", stack.url + f"/v1/{OTHER_PROJECT_ID}/instances", headers={"X-Auth-Token": token})
    assert_error(reply, 403, "APIGW.0310")


def test_domain_owner_may_do_everything(stack: Stack) -> None:
    token = login(stack, "acme", "acme-root-pass")
    reply = http("DELETE", stack.url + f"{INSTANCES}/0123456789abcdef0123456789abcdefin09",
                 headers={"X-Auth-Token": token})
    assert reply.status != 403, reply.body


def test_wrong_password_reveals_nothing(stack: Stack) -> None:
    body = {"auth": {"identity": {"methods": ["password"], "password": {
        "user": {"name": "nobody", "password": "x", "domain": {"name": "acme"}}}}}}
    unknown = http("POST", stack.url + "/v3/auth/tokens", body=json.dumps(body).encode())
    body["auth"]["identity"]["password"]["user"]["name"] = "bob"
    wrong = http("POST", stack.url + "/v3/auth/tokens", body=json.dumps(body).encode())
    assert unknown.status == wrong.status == 401
    assert unknown.json()["error"]["message"] == wrong.json()["error"]["message"]
    assert wrong.json()["error"]["code"] == 401


def _forge(token: str, header: dict, payload_change: dict | None = None) -> str:
    def enc(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    _, payload_b64, sig = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(payload_b64 + "=" * (-len(payload_b64) % 4)))
    payload.update(payload_change or {})
    return f"{enc(header)}.{enc(payload)}.{sig if header.get('alg') != 'none' else ''}"


def test_forged_and_alg_none_tokens_are_refused(stack: Stack) -> None:
    token = login(stack, "bob", "bob-pass-1")
    for forged in (_forge(token, {"alg": "none", "typ": "JWT"}),
                   _forge(token, {"alg": "ES256", "typ": "JWT"}, {"sub": "someone-else", "domain_owner": True}),
                   token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"),
                   "garbage"):
        reply = http("GET", stack.url + INSTANCES, headers={"X-Auth-Token": forged})
        assert_error(reply, 401, "APIGW.0301")


def test_expired_token(tmp_path) -> None:
    stack = start_stack(str(tmp_path))
    try:
        token = login(stack, "alice", "alice-pass-1")
        stack.clock.advance(3601)
        reply = http("GET", stack.url + INSTANCES, headers={"X-Auth-Token": token})
        assert_error(reply, 401, "APIGW.0307", contains="The token must be updated.")
    finally:
        stack.servers.close()


def test_five_bad_signatures_lock_the_access_key(tmp_path) -> None:
    stack = start_stack(str(tmp_path))
    try:
        for _ in range(5):
            assert http("GET", stack.url + INSTANCES, ak=DAVE_AK, sk="wrong").status == 401
        reply = http("GET", stack.url + INSTANCES, ak=DAVE_AK, sk=DAVE_SK)
        assert_error(reply, 401, "APIGW.0301", contains="AK access failed to reach the limit")
        stack.clock.advance(301)
        assert http("GET", stack.url + INSTANCES, ak=DAVE_AK, sk=DAVE_SK).status == 403  # unlocked; no grant
    finally:
        stack.servers.close()


def test_temporary_credentials(stack: Stack) -> None:
    token = login(stack, "alice", "alice-pass-1")
    body = {"auth": {"identity": {"methods": ["token"], "token": {"duration_seconds": 900}}}}
    reply = http("POST", stack.url + "/v3.0/OS-CREDENTIAL/securitytokens", body=json.dumps(body).encode(),
                 headers={"X-Auth-Token": token})
    assert reply.status == 201, reply.body
    cred = reply.json()["credential"]
    ISSUED_TOKENS.extend([cred["secret"], cred["securitytoken"]])
    headers = {"X-Security-Token": cred["securitytoken"], "X-Project-Id": PROJECT_ID}
    ok = http("GET", stack.url + INSTANCES, ak=cred["access"], sk=cred["secret"], headers=headers)
    assert ok.status == 200, ok.body
    tampered = dict(headers, **{"X-Security-Token": cred["securitytoken"][:-2] + "xx"})
    assert http("GET", stack.url + INSTANCES, ak=cred["access"], sk=cred["secret"], headers=tampered).status == 401
    assert http("GET", stack.url + INSTANCES, ak=cred["access"], sk="wrong", headers=headers).status == 401


def test_revoked_token_is_refused(stack: Stack) -> None:
    token = login(stack, "bob", "bob-pass-1")
    assert http("HEAD", stack.url + "/v3/auth/tokens",
                headers={"X-Auth-Token": token, "X-Subject-Token": token}).status == 200
    reply = http("DELETE", stack.url + "/v3/auth/tokens", headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert reply.status == 204
    assert_error(http("GET", stack.url + INSTANCES, headers={"X-Auth-Token": token}), 401, "APIGW.0301")


def test_iam_project_listing(stack: Stack) -> None:
    reply = http("GET", stack.url + "/v3/projects?name=cn-north-4", ak=ALICE_AK, sk=ALICE_SK)
    assert reply.status == 200, reply.body
    assert [p["id"] for p in reply.json()["projects"]] == [PROJECT_ID]
    token = login(stack, "alice", "alice-pass-1", project=None)
    reply = http("GET", stack.url + "/v3/auth/projects", headers={"X-Auth-Token": token})
    assert {p["id"] for p in reply.json()["projects"]} == {PROJECT_ID, OTHER_PROJECT_ID}
    reply = http("GET", stack.url + "/v3/auth/domains", headers={"X-Auth-Token": token})
    assert reply.json()["domains"][0]["name"] == "acme"


def test_rate_limit_per_user(tmp_path) -> None:
    stack = start_stack(str(tmp_path), per_user_per_minute=3)
    try:
        for _ in range(3):
            assert http("GET", stack.url + INSTANCES, ak=BOB_AK, sk=BOB_SK).status == 200
        reply = http("GET", stack.url + INSTANCES, ak=BOB_AK, sk=BOB_SK)
        assert_error(reply, 429, "APIGW.0308",
                     contains="policy user over ratelimit,limit:3,time:1 minute")
        assert int(reply.headers["Retry-After"]) >= 1
        token = login(stack, "bob", "bob-pass-1")   # IAM routes are not counted ...
        reply = http("GET", stack.url + INSTANCES, headers={"X-Auth-Token": token})
        assert reply.status == 429                  # ... but every credential of bob shares one budget
        assert http("GET", stack.url + INSTANCES, ak=ALICE_AK, sk=ALICE_SK).status == 200
    finally:
        stack.servers.close()

"""Temporary AK/SK: issue and resolve, statelessly across replicas, refused when wrong or expired."""
from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.iam.keys import KeyRing
from gateway.iam.temporary import MAX_SECURITY_TOKEN_CHARS, TemporaryCredentialService
from gateway.iam.tokens import TokenClaims, TokenError, TokenExpired

NOW = 1_800_000_000
SERVER_SECRET = bytes(range(32))
CLAIMS = TokenClaims(token_id="jti-1", user_id="u-1", user_name="alice", domain_id="d-1",
                     domain_name="acme", project_id="p-1", project_name="cn-north-4",
                     methods=("token",), issued_at=NOW - 60, expires_at=NOW + 3600, domain_owner=False)


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(clock: Clock) -> TemporaryCredentialService:
    return TemporaryCredentialService(SERVER_SECRET, clock=clock)


def reason_of(service: TemporaryCredentialService, access: object, token: object) -> str:
    with pytest.raises(TokenError) as caught:
        service.resolve(access, token)  # type: ignore[arg-type]
    assert not isinstance(caught.value, TokenExpired)
    return caught.value.reason


def test_issue_then_resolve_gives_the_same_secret_and_claims(service: TemporaryCredentialService) -> None:
    credential = service.issue(CLAIMS, duration_s=900)
    assert credential.expires_at == NOW + 900
    assert service.resolve(credential.access, credential.security_token) == (credential.secret, CLAIMS)


def test_credentials_look_like_huawei_keys(service: TemporaryCredentialService) -> None:
    credential = service.issue(CLAIMS)
    assert re.fullmatch(r"[A-Z0-9]{20}", credential.access)
    assert re.fullmatch(r"[A-Za-z0-9]{40}", credential.secret)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", credential.security_token)


def test_security_token_hides_the_principal(service: TemporaryCredentialService) -> None:
    token = service.issue(CLAIMS).security_token
    opened = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    for secret_detail in (b"alice", b"acme", b"u-1", b"cn-north-4"):
        assert secret_detail not in opened


def test_each_issue_gives_a_fresh_credential(service: TemporaryCredentialService) -> None:
    first, second = service.issue(CLAIMS), service.issue(CLAIMS)
    assert first.access != second.access and first.secret != second.secret
    assert first.security_token != second.security_token


def test_domain_scoped_principal_round_trips(service: TemporaryCredentialService) -> None:
    claims = TokenClaims("jti-2", "u-2", "bob", "d-2", "corp", None, None, ("password",), NOW - 60, NOW + 90000, True)
    credential = service.issue(claims, duration_s=86400)
    assert service.resolve(credential.access, credential.security_token)[1] == claims


def test_works_until_expiry_then_expired(service: TemporaryCredentialService, clock: Clock) -> None:
    credential = service.issue(CLAIMS, duration_s=1800)
    clock.now = credential.expires_at - 1
    assert service.resolve(credential.access, credential.security_token)[0] == credential.secret
    clock.now = credential.expires_at
    with pytest.raises(TokenExpired):
        service.resolve(credential.access, credential.security_token)


def test_two_replicas_with_the_same_secret_agree(clock: Clock) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    replica_a = TemporaryCredentialService(KeyRing.from_keys(key).secret_key_material(), clock=clock)
    replica_b = TemporaryCredentialService(KeyRing.from_keys(key).secret_key_material(), clock=clock)
    credential = replica_a.issue(CLAIMS)
    assert replica_b.resolve(credential.access, credential.security_token) == (credential.secret, CLAIMS)


def test_another_server_secret_refuses_the_credential(service: TemporaryCredentialService, clock: Clock) -> None:
    credential = service.issue(CLAIMS)
    stranger = TemporaryCredentialService(b"another-server-secret-32-bytes!!", clock=clock)
    assert reason_of(stranger, credential.access, credential.security_token) == "ak does not match the securitytoken"


def test_wrong_access_key_is_refused(service: TemporaryCredentialService) -> None:
    first, second = service.issue(CLAIMS), service.issue(CLAIMS)
    assert reason_of(service, second.access, first.security_token) == "ak does not match the securitytoken"
    assert reason_of(service, first.access.lower(), first.security_token) == "ak does not match the securitytoken"
    assert reason_of(service, "ÄÖÜ", first.security_token) == "ak does not match the securitytoken"
    assert reason_of(service, None, first.security_token) == "ak does not match the securitytoken"


def test_tampered_token_is_refused(service: TemporaryCredentialService) -> None:
    token = service.issue(CLAIMS).security_token
    sealed = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    sealed[20] ^= 1
    tampered = base64.urlsafe_b64encode(bytes(sealed)).rstrip(b"=").decode()
    # An attacker cannot compute the matching AK; even with it, the GCM tag refuses the token.
    assert reason_of(service, service.issue(CLAIMS).access, tampered) == "ak does not match the securitytoken"
    assert reason_of(service, service.access_for(tampered), tampered) == "securitytoken is invalid"


@pytest.mark.parametrize("garbage", ["", "A", "!!!!", "é" * 10, "AQ", "Ag" + "A" * 60,
                                     "A" * (MAX_SECURITY_TOKEN_CHARS + 1), None])
def test_garbage_tokens_are_refused(service: TemporaryCredentialService, garbage: object) -> None:
    access = service.access_for(garbage) if isinstance(garbage, str) else "X" * 20
    assert reason_of(service, access, garbage) in {"securitytoken is malformed", "securitytoken is invalid"}


@pytest.mark.parametrize("duration", [899, 86401, 0, -1, 900.5, True, "900"])
def test_duration_outside_900_to_86400_is_refused(service: TemporaryCredentialService, duration: object) -> None:
    with pytest.raises(ValueError):
        service.issue(CLAIMS, duration_s=duration)  # type: ignore[arg-type]


def test_short_server_secret_is_refused(clock: Clock) -> None:
    with pytest.raises(ValueError):
        TemporaryCredentialService(b"short", clock=clock)


names = st.text(min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(user_name=names, domain_name=names, project=st.one_of(st.none(), st.tuples(names, names)),
       duration=st.integers(900, 86400), owner=st.booleans())
def test_any_principal_round_trips(user_name: str, domain_name: str, project: tuple[str, str] | None,
                                   duration: int, owner: bool) -> None:
    service = TemporaryCredentialService(SERVER_SECRET, clock=Clock())
    claims = TokenClaims("jti", "u", user_name, "d", domain_name, project[0] if project else None,
                         project[1] if project else None, ("token",), NOW, NOW + 60, owner)
    credential = service.issue(claims, duration_s=duration)
    assert service.resolve(credential.access, credential.security_token) == (credential.secret, claims)

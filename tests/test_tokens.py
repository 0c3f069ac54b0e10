"""JWT tokens and their key ring: round trips, every way a token must be refused, rotation, key files."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import stat
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.iam.keys import KeyRing, KeyRingError, kid_of
from gateway.iam.tokens import MAX_TOKEN_BYTES, TokenClaims, TokenError, TokenExpired, TokenService

NOW = 1_800_000_000
TTL = 3600
SHARED_KEY = ec.generate_private_key(ec.SECP256R1())
USER = dict(user_id="u-1", user_name="alice", domain_id="d-1", domain_name="acme",
            project_id="p-1", project_name="cn-north-4", methods=("password",), domain_owner=False)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def pem_of(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem_of(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(ec_key: ec.EllipticCurvePrivateKey, clock: Clock) -> TokenService:
    return TokenService(KeyRing.from_keys(ec_key), ttl_s=TTL, clock=clock)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def reason_of(service: TokenService, token: object) -> str:
    with pytest.raises(TokenError) as caught:
        service.verify(token)  # type: ignore[arg-type]
    assert not isinstance(caught.value, TokenExpired)
    return caught.value.reason


def payload_of(service: TokenService, **overrides: object) -> dict[str, object]:
    _, claims = service.issue(**USER)  # type: ignore[arg-type]
    return {"iss": "ddm-gateway", **claims.to_payload(), **overrides}


# --- round trip and expiry -------------------------------------------------------------------------

def test_issue_then_verify_returns_the_same_claims(service: TokenService) -> None:
    token, claims = service.issue(**USER)  # type: ignore[arg-type]
    assert service.verify(token) == claims
    assert claims.issued_at == NOW and claims.expires_at == NOW + TTL
    assert claims.methods == ("password",) and len(claims.token_id) >= 16


def test_domain_scoped_token_has_no_project(service: TokenService) -> None:
    token, claims = service.issue(**{**USER, "project_id": None, "project_name": None,
                                     "methods": ("token",), "domain_owner": True})
    verified = service.verify(token)
    assert verified == claims and verified.project_id is None and verified.project_name is None
    assert verified.domain_owner is True


def test_every_token_gets_its_own_jti(service: TokenService) -> None:
    ids = {service.issue(**USER)[1].token_id for _ in range(5)}  # type: ignore[arg-type]
    assert len(ids) == 5


def test_header_names_the_kid_and_pinned_algorithm(service: TokenService, ec_key: ec.EllipticCurvePrivateKey) -> None:
    token, _ = service.issue(**USER)  # type: ignore[arg-type]
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["kid"] == kid_of(ec_key.public_key())


def test_token_is_valid_until_the_last_second_then_expired(service: TokenService, clock: Clock) -> None:
    token, claims = service.issue(**USER)  # type: ignore[arg-type]
    clock.now = claims.expires_at - 1
    assert service.verify(token) == claims
    clock.now = claims.expires_at
    with pytest.raises(TokenExpired) as caught:
        service.verify(token)
    assert "expires_at" in caught.value.reason


def test_token_from_the_future_is_refused(service: TokenService, clock: Clock) -> None:
    clock.now = NOW + 600
    token, _ = service.issue(**USER)  # type: ignore[arg-type]
    clock.now = NOW
    assert reason_of(service, token) == "token issued in the future"


def test_rs256_round_trip(rsa_key: rsa.RSAPrivateKey, clock: Clock) -> None:
    service = TokenService(KeyRing.from_keys(rsa_key), ttl_s=TTL, clock=clock)
    token, claims = service.issue(**USER)  # type: ignore[arg-type]
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert service.verify(token) == claims


# --- forged and malformed tokens: each refused with its own reason ---------------------------------

def test_tampered_payload_is_refused(service: TokenService) -> None:
    token, _ = service.issue(**USER)  # type: ignore[arg-type]
    header, _, signature = token.split(".")
    forged = b64(json.dumps(payload_of(service, sub="admin")).encode())
    assert reason_of(service, f"{header}.{forged}.{signature}") == "token signature invalid"


def test_tampered_signature_is_refused(service: TokenService) -> None:
    token, _ = service.issue(**USER)  # type: ignore[arg-type]
    header, payload, signature = token.split(".")
    flipped = b64(bytes(b ^ 1 for b in base64.urlsafe_b64decode(signature + "==")))
    assert reason_of(service, f"{header}.{payload}.{flipped}") == "token signature invalid"


def test_alg_none_is_refused(service: TokenService) -> None:
    header = {"alg": "none", "typ": "JWT", "kid": service._keys.signing_kid}
    unsigned = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload_of(service)).encode())}."
    assert reason_of(service, unsigned) == "token is malformed"  # empty signature: not even a JWS
    assert reason_of(service, unsigned + "AAAA") == "token algorithm not allowed"


def test_hs256_keyed_with_the_public_key_is_refused(service: TokenService, ec_key: ec.EllipticCurvePrivateKey) -> None:
    header = {"alg": "HS256", "typ": "JWT", "kid": service._keys.signing_kid}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload_of(service)).encode())}"
    tag = hmac.new(public_pem_of(ec_key), signing_input.encode(), hashlib.sha256).digest()
    assert reason_of(service, f"{signing_input}.{b64(tag)}") == "token algorithm not allowed"


def test_token_signed_by_another_key_under_our_kid_is_refused(service: TokenService) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(payload_of(service), stranger, algorithm="ES256",
                       headers={"kid": service._keys.signing_kid})
    assert reason_of(service, token) == "token signature invalid"


def test_token_with_unknown_or_missing_kid_is_refused(service: TokenService) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())
    assert reason_of(service, jwt.encode(payload_of(service), stranger, algorithm="ES256",
                                         headers={"kid": kid_of(stranger.public_key())})) \
        == "token signing key unknown"
    assert reason_of(service, jwt.encode(payload_of(service), stranger, algorithm="ES256")) \
        == "token signing key unknown"
    header = b64(json.dumps({"alg": "ES256", "kid": 7}).encode())
    numeric_kid = f"{header}.{b64(json.dumps(payload_of(service)).encode())}.AAAA"
    assert reason_of(service, numeric_kid) == "token is malformed"  # PyJWT refuses a non-string kid


def test_rs256_header_on_an_es256_kid_is_refused(service: TokenService, rsa_key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode(payload_of(service), rsa_key, algorithm="RS256",
                       headers={"kid": service._keys.signing_kid})
    assert reason_of(service, token) == "token algorithm not allowed"


@pytest.mark.parametrize("claim", ["jti", "exp", "iat", "sub", "iss"])
def test_missing_registered_claim_is_refused(service: TokenService, claim: str) -> None:
    payload = payload_of(service)
    del payload[claim]
    token = jwt.encode(payload, service._keys.signing_key, algorithm="ES256",
                       headers={"kid": service._keys.signing_kid})
    assert reason_of(service, token) == f"token is missing claim {claim}"


@pytest.mark.parametrize("overrides, reason", [
    ({"exp": "soon"}, "token claim exp is malformed"),
    ({"exp": NOW + 10.5}, "token claim exp is malformed"),
    ({"iat": True}, "token claim iat is malformed"),
    ({"domain": "d-1"}, "token claim domain is malformed"),
    ({"project": ["p-1"]}, "token claim project is malformed"),
    ({"methods": []}, "token claim methods is malformed"),
    ({"domain_owner": "yes"}, "token claim domain_owner is malformed"),
    ({"name": ""}, "token claim name is malformed"),
    ({"iss": "someone-else"}, "token issuer invalid"),
])
def test_mistyped_claims_are_refused(service: TokenService, overrides: dict[str, object], reason: str) -> None:
    token = jwt.encode(payload_of(service, **overrides), service._keys.signing_key, algorithm="ES256",
                       headers={"kid": service._keys.signing_kid})
    assert reason_of(service, token) == reason


@pytest.mark.parametrize("garbage", [
    "", "abc", "a.b", "a.b.c.d", "é.é.é", "....", "eyJ.eyJ.sig", "a b.c.d", None, 42,
    b64(b"[1,2]") + "." + b64(b"{}") + ".AAAA", b64(b"\xff\xfe") + "." + b64(b"{}") + ".AAAA",
])
def test_garbage_is_refused_as_malformed(service: TokenService, garbage: object) -> None:
    assert reason_of(service, garbage) == "token is malformed"


def test_oversized_token_is_refused_before_parsing(service: TokenService) -> None:
    token, _ = service.issue(**USER)  # type: ignore[arg-type]
    assert reason_of(service, token + "A" * MAX_TOKEN_BYTES) == "token too large"


# --- key ring: rotation, generation, loading -------------------------------------------------------

def test_rotation_keeps_tokens_of_the_old_key_valid(tmp_path: Path, clock: Clock) -> None:
    old_file, new_file = tmp_path / "old.pem", tmp_path / "new.pem"
    old_file.write_bytes(pem_of(ec.generate_private_key(ec.SECP256R1())))
    new_file.write_bytes(pem_of(ec.generate_private_key(ec.SECP256R1())))
    old_service = TokenService(KeyRing.load_or_create(signing_key_file=old_file, state_dir=tmp_path),
                               ttl_s=TTL, clock=clock)
    old_token, claims = old_service.issue(**USER)  # type: ignore[arg-type]

    without_old = TokenService(KeyRing.load_or_create(signing_key_file=new_file, state_dir=tmp_path),
                               ttl_s=TTL, clock=clock)
    assert reason_of(without_old, old_token) == "token signing key unknown"

    rotated = KeyRing.load_or_create(signing_key_file=new_file, state_dir=tmp_path,
                                     verification_key_files=[old_file])
    service = TokenService(rotated, ttl_s=TTL, clock=clock)
    assert service.verify(old_token) == claims
    new_token, _ = service.issue(**USER)  # type: ignore[arg-type]
    assert jwt.get_unverified_header(new_token)["kid"] == rotated.signing_kid != old_service._keys.signing_kid


def test_rotation_accepts_public_pems_and_other_algorithms(tmp_path: Path, clock: Clock,
                                                           rsa_key: rsa.RSAPrivateKey) -> None:
    rsa_public = tmp_path / "old-rsa.pub.pem"
    rsa_public.write_bytes(public_pem_of(rsa_key))
    old_token, claims = TokenService(KeyRing.from_keys(rsa_key), ttl_s=TTL, clock=clock).issue(**USER)  # type: ignore[arg-type]
    ring = KeyRing.load_or_create(signing_key_file=None, state_dir=tmp_path / "state",
                                  verification_key_files=[str(rsa_public)])
    assert TokenService(ring, ttl_s=TTL, clock=clock).verify(old_token) == claims


def test_generated_key_is_created_once_private_and_reused(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    first = KeyRing.load_or_create(signing_key_file=None, state_dir=state_dir)
    second = KeyRing.load_or_create(signing_key_file=None, state_dir=state_dir)
    key_file = state_dir / "token-signing.pem"
    assert first.signing_kid == second.signing_kid and first.algorithm == "ES256"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(state_dir.stat().st_mode) == 0o700
    assert [p.name for p in state_dir.iterdir()] == ["token-signing.pem"]  # no temporary leftovers
    assert first.secret_key_material() == second.secret_key_material()


def test_tokens_survive_a_restart(tmp_path: Path, clock: Clock) -> None:
    token, claims = TokenService(KeyRing.load_or_create(signing_key_file=None, state_dir=tmp_path),
                                 ttl_s=TTL, clock=clock).issue(**USER)  # type: ignore[arg-type]
    restarted = TokenService(KeyRing.load_or_create(signing_key_file=None, state_dir=tmp_path),
                             ttl_s=TTL, clock=clock)
    assert restarted.verify(token) == claims


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    script = ("import sys; from gateway.iam.keys import KeyRing; "
              "print(KeyRing.load_or_create(signing_key_file=None, state_dir=sys.argv[1]).signing_kid)")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "s")], stdout=subprocess.PIPE,
                              cwd=Path(__file__).resolve().parent.parent) for _ in range(3)]
    kids = {proc.communicate(timeout=30)[0].strip() for proc in procs}
    assert len(kids) == 1 and all(proc.returncode == 0 for proc in procs)


def test_generated_rs256_key(tmp_path: Path) -> None:
    ring = KeyRing.load_or_create(signing_key_file=None, state_dir=tmp_path, algorithm="RS256")
    assert ring.algorithm == "RS256"
    with pytest.raises(KeyRingError, match="RS256 key but tokens.algorithm is ES256"):
        KeyRing.load_or_create(signing_key_file=None, state_dir=tmp_path, algorithm="ES256")


def test_kid_is_base64url_sha256_of_the_public_key(ec_key: ec.EllipticCurvePrivateKey) -> None:
    der = ec_key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    expected = base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode()[:16]
    assert KeyRing.from_keys(ec_key).signing_kid == expected


def test_secret_material_depends_on_the_key_only(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey) -> None:
    path = tmp_path / "k.pem"
    path.write_bytes(ec_key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.TraditionalOpenSSL,
                                          serialization.NoEncryption()))
    loaded = KeyRing.load_or_create(signing_key_file=path, state_dir=tmp_path)
    assert loaded.secret_key_material() == KeyRing.from_keys(ec_key).secret_key_material()
    assert len(loaded.secret_key_material()) == 32
    other = KeyRing.from_keys(ec.generate_private_key(ec.SECP256R1()))
    assert other.secret_key_material() != loaded.secret_key_material()


def test_key_ring_repr_does_not_show_the_private_key(ec_key: ec.EllipticCurvePrivateKey) -> None:
    assert "PrivateKey" not in repr(KeyRing.from_keys(ec_key))


@pytest.mark.parametrize("content, algorithm, message", [
    (None, "ES256", "cannot read key file"),
    (b"not a pem", "ES256", "is not an unencrypted PEM private key"),
    ("public", "ES256", "is not an unencrypted PEM private key"),
    ("encrypted", "ES256", "is not an unencrypted PEM private key"),
    ("p384", "ES256", "curve P-256"),
    ("ec", "RS256", "ES256 key but tokens.algorithm is RS256"),
    ("ec", "HS256", "tokens.algorithm must be one of"),
])
def test_bad_signing_key_files_are_refused_clearly(tmp_path: Path, ec_key: ec.EllipticCurvePrivateKey,
                                                   content: object, algorithm: str, message: str) -> None:
    path = tmp_path / "signing.pem"
    data = {"public": public_pem_of(ec_key), "ec": pem_of(ec_key),
            "p384": pem_of(ec.generate_private_key(ec.SECP384R1())),
            "encrypted": ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.BestAvailableEncryption(b"pw"))}.get(content, content)
    if data is not None:
        path.write_bytes(data)  # type: ignore[arg-type]
    with pytest.raises(KeyRingError, match=message) as caught:
        KeyRing.load_or_create(signing_key_file=path, state_dir=tmp_path, algorithm=algorithm)
    assert "BEGIN" not in str(caught.value)
    assert not (tmp_path / "token-signing.pem").exists()


def test_bad_verification_key_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "old.pem"
    bad.write_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with pytest.raises(KeyRingError, match="is not a PEM public or private key"):
        KeyRing.load_or_create(signing_key_file=None, state_dir=tmp_path, verification_key_files=[bad])


def test_claims_round_trip_through_the_payload() -> None:
    claims = TokenClaims("t", "u", "alice", "d", "acme", None, None, ("token",), 1, 2, True)
    assert TokenClaims.from_payload(claims.to_payload()) == claims


def test_token_cores_import_no_io_frameworks() -> None:
    script = ("import sys, gateway.iam.keys, gateway.iam.tokens, gateway.iam.temporary; "
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'aiohttp', 'redis', 'asyncio'}))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent).stdout
    assert out.strip() == "[]"


@settings(max_examples=40, deadline=None)
@given(user_name=st.text(min_size=1, max_size=40), domain_name=st.text(min_size=1, max_size=40),
       project=st.one_of(st.none(), st.tuples(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))),
       methods=st.sampled_from([("password",), ("token",)]), owner=st.booleans())
def test_any_identity_round_trips(user_name: str, domain_name: str, project: tuple[str, str] | None,
                                  methods: tuple[str, ...], owner: bool) -> None:
    service = TokenService(KeyRing.from_keys(SHARED_KEY), ttl_s=TTL, clock=Clock())
    token, claims = service.issue(user_id="u", user_name=user_name, domain_id="d", domain_name=domain_name,
                                  project_id=project[0] if project else None,
                                  project_name=project[1] if project else None, methods=methods,
                                  domain_owner=owner)
    assert service.verify(token) == claims

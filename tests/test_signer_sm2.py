"""SDK-SM2-SM3: the curve math, byte compatibility with huaweicloudsdkcore both ways, strictness.

The SDK's SM2 signatures are randomized, so signatures are compared by verifying them (ours with
the SDK's SM2SigningKey, the SDK's with ours), never byte for byte. The SDK's own EC math is
pure-Python affine arithmetic (~100 ms per operation), hence the small example counts.
"""
from __future__ import annotations

import subprocess
from datetime import timedelta
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.signer.algorithm import SigningAlgorithm
from huaweicloudsdkcore.signer.signer import SM2SM3Signer
from huaweicloudsdkcore.signer.utils import SM2SigningKey
from huaweicloudsdkddm.v1 import DdmClient, ListInstancesRequest

from signer import DerivedKeyCache, SignableRequest, SignatureError, parse_authorization, sign, verify
from signer import sm2
from signer.algorithms import derive_sm2_scalar
from tests.harness import ALICE_AK, ALICE_SK, PROJECT_ID
from tests.stack import Stack, start_stack
from tests.test_ops_process_support import CLI
from tests.test_signer_helpers import AK, SK, Credentials, as_received, sdk_request, sdk_wire_query
from tests.test_signer_sdk import NOW, SDK_DATE, sdk_shaped
from tests.test_signer_verify import _mutations, a_request, check, reason_of, signed

ALGORITHM = "SDK-SM2-SM3"
SDK_SETTINGS = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OUR_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
private_keys = st.integers(1, sm2.N - 2)


class CapturingSM2Signer(SM2SM3Signer):
    """The SDK's SM2 signer, remembering the string it signed (to check OUR signature on it)."""

    captured: str = ""

    def _sign_string_to_sign(self, data: str, key: str | None = None) -> str:
        self.captured = data
        return super()._sign_string_to_sign(data, key)


def _sdk_signed(request: tuple) -> SignableRequest:
    method, path, params, headers, body = request
    sdk = SM2SM3Signer(Credentials(AK, SK))
    return as_received(sdk.sign(sdk_request(method, path, params, {**headers, "X-Sdk-Date": SDK_DATE}, body)))


def _ours_and_sdk_string_to_sign(request: tuple) -> tuple[dict[str, str], str, list[str]]:
    """Our added headers, the string the SDK signs for the same request, the SDK's SignedHeaders."""
    method, path, params, headers, body = request
    lowered = {name.lower(): value for name, value in headers.items()} | {"host": "ddm.example.com:8443"}
    ours = sign(SignableRequest(method, path, sdk_wire_query(params), lowered, body), AK, SK, now=NOW,
                algorithm=ALGORITHM)
    sdk = CapturingSM2Signer(Credentials(AK, SK))
    theirs = sdk.sign(sdk_request(method, path, params, {**headers, "X-Sdk-Date": ours["X-Sdk-Date"]}, body))
    signed_headers = parse_authorization(theirs.header_params["Authorization"]).signed_headers
    assert {k: theirs.header_params[k] for k in ours if k != "Authorization"} == \
        {k: v for k, v in ours.items() if k != "Authorization"}
    return ours, sdk.captured, list(signed_headers)


def _flip_bit(data: bytes, bit: int) -> bytes:
    index = bit // 8 % len(data)
    return data[:index] + bytes((data[index] ^ (1 << bit % 8),)) + data[index + 1:]


def _key_with_short_coordinate() -> int:
    """A private key whose public x or y starts with a zero byte (Za's encoding differs there)."""
    for d in range(1, 5000):
        x, y = sm2.public_key(d)
        if x < 1 << 248 or y < 1 << 248:
            return d
    raise AssertionError("no short coordinate in 5000 keys")


# --- the curve and the key, against the SDK's own SM2SigningKey --------------------------------

def test_curve_constants_are_the_sdks_and_the_generator_is_on_the_curve() -> None:
    assert (sm2.P, sm2.A, sm2.B, sm2.N, sm2.G) == (SM2SigningKey.PARAM_p, SM2SigningKey.PARAM_a,
                                                   SM2SigningKey.PARAM_b, SM2SigningKey.PARAM_n,
                                                   SM2SigningKey.PARAM_G)
    assert sm2.is_on_curve(sm2.G)
    assert sm2.ladder_multiply(sm2.N, sm2.G) is None
    assert sm2.double_multiply(1, 0, sm2.G) == sm2.G


@SDK_SETTINGS
@given(private_keys)
def test_public_key_and_za_equal_the_sdks(d: int) -> None:
    sdk_key = SM2SigningKey(d)
    assert sm2.public_key(d) == sdk_key._public_key
    assert sm2.za(sm2.public_key(d)) == sdk_key._z


def test_za_reproduces_the_sdks_minimal_coordinate_encoding() -> None:
    d = _key_with_short_coordinate()
    public = sm2.public_key(d)
    assert sm2.za(public) == SM2SigningKey._za(public)
    message = b"short coordinate"
    assert sm2.verify(public, message, SM2SigningKey(d).sign(message))
    assert SM2SigningKey(d).verify(sm2.sign(d, public, message), message)


def test_private_key_derivation_matches_the_sdk() -> None:
    for ak, sk in [(AK, SK), ("A", "B"), ("中文AK", "sk with spaces")]:
        assert derive_sm2_scalar(ak, sk) == SM2SM3Signer(Credentials(ak, sk))._derive_key()


@SDK_SETTINGS
@given(private_keys, st.binary(max_size=200))
def test_curve_level_signatures_verify_both_ways(d: int, message: bytes) -> None:
    sdk_key = SM2SigningKey(d)
    public = sm2.public_key(d)
    assert sm2.verify(public, message, sdk_key.sign(message))
    assert sdk_key.verify(sm2.sign(d, public, message), message)


@OUR_SETTINGS
@given(private_keys, st.binary(max_size=300), st.integers(0, 10_000), st.integers(0, 10_000))
def test_sign_then_verify_and_any_flipped_bit_fails(d: int, message: bytes, bit: int, sig_bit: int) -> None:
    public = sm2.public_key(d)
    signature = sm2.sign(d, public, message)
    assert sm2.verify(public, message, signature)
    if message:
        assert not sm2.verify(public, _flip_bit(message, bit), signature)
    assert not sm2.verify(public, message + b"\x00", signature)
    assert not sm2.verify(public, message, _flip_bit(signature, sig_bit))
    assert not sm2.verify(sm2.public_key(d % (sm2.N - 2) + 1), message, signature)


# --- DER: strict, hand-written parsing ---------------------------------------------------------

def _der(*parts: bytes, tag: int = 0x30) -> bytes:
    content = b"".join(parts)
    return bytes((tag, len(content))) + content


def _int(body: bytes, tag: int = 0x02) -> bytes:
    return bytes((tag, len(body))) + body


R, S = 0x1234, 0x7F00
GOOD_DER = _der(_int(b"\x12\x34"), _int(b"\x7f\x00"))


def test_der_roundtrip_and_minimal_encoding() -> None:
    assert sm2.encode_signature(R, S) == GOOD_DER
    assert sm2.decode_signature(GOOD_DER) == (R, S)
    high = (1 << 255) + 1
    encoded = sm2.encode_signature(high, 1)
    assert encoded[2:5] == b"\x02\x21\x00" and sm2.decode_signature(encoded) == (high, 1)
    assert sm2.decode_signature(sm2.encode_signature(sm2.N - 1, sm2.N - 1)) == (sm2.N - 1, sm2.N - 1)


@pytest.mark.parametrize("der", [
    b"",
    b"\x30",
    GOOD_DER + b"\x00",                                       # trailing byte after the SEQUENCE
    _der(_int(b"\x12\x34"), _int(b"\x7f\x00"), b"\x05\x00"),   # trailing element inside it
    _der(_int(b"\x12\x34"), _int(b"\x7f\x00"), tag=0x31),      # SET, not SEQUENCE
    _der(_int(b"\x12\x34"), _int(b"\x7f\x00", tag=0x03)),      # BIT STRING, not INTEGER
    _der(_int(b"\x12\x34", tag=0x0A), _int(b"\x7f\x00")),      # ENUMERATED
    _der(_int(b"\x00\x12\x34"), _int(b"\x7f\x00")),            # non-minimal: needless 0x00
    _der(_int(b"\x12\x34"), _int(b"\x00\x00\xff")),            # non-minimal: two 0x00
    _der(_int(b"\x92\x34"), _int(b"\x7f\x00")),                # negative r
    _der(_int(b""), _int(b"\x7f\x00")),                        # empty INTEGER
    _der(_int(b"\x12\x34")),                                   # only r
    b"\x30\x81\x08" + GOOD_DER[2:],                            # long-form length
    b"\x30\x80" + GOOD_DER[2:] + b"\x00\x00",                  # indefinite length (BER)
    _der(b"\x02\x82\x00\x02\x12\x34", _int(b"\x7f\x00")),    # long-form INTEGER length
    GOOD_DER[:-1],                                             # truncated
    bytes((0x30, len(GOOD_DER) - 1)) + GOOD_DER[2:],           # outer length too long
    bytes((0x30, len(GOOD_DER) - 3)) + GOOD_DER[2:],           # outer length too short
    _der(_int(b"\x01" * 34), _int(b"\x01")),                   # INTEGER longer than 33 bytes
])
def test_malformed_der_is_rejected(der: bytes) -> None:
    with pytest.raises(ValueError):
        sm2.decode_signature(der)
    assert not sm2.verify(sm2.G, b"m", der)


@pytest.mark.parametrize("r, s", [(0, 1), (1, 0), (sm2.N, 1), (1, sm2.N), (1, sm2.N - 1),
                                  (sm2.N + 5, 3), (1 << 256 | 7, 1)])
def test_out_of_range_or_degenerate_r_s_fail(r: int, s: int) -> None:
    """Range checks on r and s, and t = r + s = 0 mod n (the (1, n-1) case), all fail."""
    assert not sm2.verify(sm2.G, b"m", sm2.encode_signature(r, s))


def test_a_public_key_off_the_curve_fails() -> None:
    d = 99
    public = sm2.public_key(d)
    signature = sm2.sign(d, public, b"m")
    assert not sm2.verify((public[0], public[1] ^ 1), b"m", signature)


# --- requests: the SDK's SM2SM3Signer and ours -------------------------------------------------

@SDK_SETTINGS
@given(sdk_shaped())
def test_sdk_signed_requests_verify(request: tuple) -> None:
    received = _sdk_signed(request)
    auth = parse_authorization(received.headers["authorization"])
    assert auth.algorithm == ALGORITHM
    verify(received, auth, SK, now=NOW + timedelta(seconds=30), key_cache=DerivedKeyCache())


@SDK_SETTINGS
@given(sdk_shaped())
def test_our_signatures_verify_with_the_sdks_key(request: tuple) -> None:
    ours, sdk_string_to_sign, sdk_signed_headers = _ours_and_sdk_string_to_sign(request)
    auth = parse_authorization(ours["Authorization"])
    assert list(auth.signed_headers) == sdk_signed_headers
    key = SM2SigningKey(SM2SM3Signer(Credentials(AK, SK))._derive_key())
    assert key.verify(bytes.fromhex(auth.signature), sdk_string_to_sign.encode())


def test_typical_ddm_request_both_ways() -> None:
    request = ("GET", "/v1/0123456789abcdef/instances", [("offset", 0), ("limit", 10)],
               {"Content-Type": "application/json", "User-Agent": "huaweicloud-usdk-python/3.0",
                "X-Project-Id": "0123456789abcdef"}, b"")
    received = _sdk_signed(request)
    verify(received, parse_authorization(received.headers["authorization"]), SK, now=NOW)
    ours, _, _ = _ours_and_sdk_string_to_sign(request)
    assert ours["Authorization"].startswith(ALGORITHM + " Access=" + AK + ", ")


def test_non_json_body_gets_the_sm3_content_header() -> None:
    request = ("PUT", "/v1/p/x", [], {"Content-Type": "application/octet-stream"}, b"\x00\x01")
    received = _sdk_signed(request)
    assert received.headers["x-sdk-content-sm3"] == "UNSIGNED-PAYLOAD"
    verify(received, parse_authorization(received.headers["authorization"]), SK, now=NOW)
    ours, _, signed_headers = _ours_and_sdk_string_to_sign(request)
    assert ours["X-Sdk-Content-Sm3"] == "UNSIGNED-PAYLOAD" and "x-sdk-content-sm3" in signed_headers


def test_every_mutation_of_a_signed_request_fails() -> None:
    req = signed(a_request(), ALGORITHM)
    check(req, key_cache=DerivedKeyCache(2))
    for name, mutated in _mutations(req).items():
        with pytest.raises(SignatureError):
            check(mutated)
            pytest.fail(f"mutating {name} went unnoticed")


def test_every_signature_byte_matters_and_the_reason_hides_the_secret() -> None:
    req = signed(a_request(), ALGORITHM)
    prefix, signature = req.headers["authorization"].rsplit("=", 1)
    raw = bytes.fromhex(signature)
    cache = DerivedKeyCache()
    for index in range(len(raw)):
        forged = raw[:index] + bytes((raw[index] ^ 0x01,)) + raw[index + 1:]
        reason_of(req._replace(headers={**req.headers, "authorization": f"{prefix}={forged.hex()}"}),
                  key_cache=cache)
    for junk in ("3006020101020101", "00", "30" * 40, signature + "00"):
        reason_of(req._replace(headers={**req.headers, "authorization": f"{prefix}={junk}"}))


def test_wrong_secret_fails() -> None:
    req = signed(a_request(), ALGORITHM)
    with pytest.raises(SignatureError) as caught:
        verify(req, parse_authorization(req.headers["authorization"]), "other-sk", now=NOW)
    assert "other-sk" not in caught.value.reason


def test_key_cache_keeps_sm2_and_ecdsa_keys_apart() -> None:
    cache = DerivedKeyCache(max_entries=4)
    point = cache.public_key("A", "1", "sm2")
    assert point == sm2.public_key(derive_sm2_scalar("A", "1"))
    assert cache.public_key("A", "1", "sm2") is point
    assert cache.public_key("A", "1").public_numbers().x != point[0]
    assert len(cache) == 2


@pytest.mark.parametrize("algorithm", [ALGORITHM, "SDK-ECDSA-P256-SHA256"])
def test_a_signer_with_a_key_cache_derives_its_signing_key_once(algorithm: str) -> None:
    cache = DerivedKeyCache()
    for _ in range(3):
        req = a_request()
        added = sign(req, AK, SK, now=NOW, algorithm=algorithm, key_cache=cache)
        received = req._replace(headers={**req.headers, **{k.lower(): v for k, v in added.items()}})
        verify(received, parse_authorization(received.headers["authorization"]), SK, now=NOW)
    assert len(cache) == 1    # the signing key, derived by the first call and reused since


# --- end to end: the official SDK and `ddm-gateway curl` through a gateway that re-signs in SM2 --

@pytest.fixture(scope="module")
def sm2_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Gateway + simulator; the gateway re-signs upstream with SM2 and the simulator checks it."""
    upstream = ("UPSTREAMAK0000000001", "upstream-secret-key-000000000000000001")
    stack = start_stack(str(tmp_path_factory.mktemp("gw-sm2")), sim_kwargs={"require_aksk": upstream},
                        upstream_auth={"mode": "aksk", "ak": upstream[0], "sk": upstream[1],
                                       "algorithm": ALGORITHM})
    yield stack
    stack.servers.close()


def test_ddm_sdk_signing_with_sm2_lists_instances(sm2_stack: Stack) -> None:
    config = HttpConfig.get_default_config()
    config.signing_algorithm = SigningAlgorithm.SM2_SM3
    client = (DdmClient.new_builder().with_http_config(config)
              .with_credentials(BasicCredentials(ALICE_AK, ALICE_SK, PROJECT_ID))
              .with_endpoints([sm2_stack.url]).build())
    assert client.list_instances(ListInstancesRequest(limit=5)).instances is not None


def test_cli_curl_signs_with_sm2(sm2_stack: Stack) -> None:
    def curl(*args: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CLI, "curl", "--algorithm", ALGORITHM, "-H", f"X-Project-Id: {PROJECT_ID}",
                               "-i", *args, f"{sm2_stack.url}/v1/{PROJECT_ID}/instances"],
                              capture_output=True, text=True, timeout=60)

    good = curl("--ak", ALICE_AK, "--sk", ALICE_SK)
    assert good.returncode == 0 and good.stdout.startswith("HTTP 200"), good.stdout + good.stderr
    bad = curl("--ak", ALICE_AK, "--sk", "not-alices-secret")
    assert bad.returncode == 22 and "verify aksk signature fail" in bad.stdout

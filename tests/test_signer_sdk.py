"""Byte compatibility with huaweicloudsdkcore, both directions, on hypothesis-generated requests.

SDK -> ours: the SDK's own signer classes sign, our `verify` must accept what a server receives.
Ours -> SDK: our `sign` must produce the SDK's signature (ECDSA: one the SDK's key verifies).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings, strategies as st
from huaweicloudsdkcore.signer.utils import P256SigningKey

from signer import SignableRequest, parse_authorization, sign, verify
from signer.algorithms import derive_p256_scalar
from tests.test_signer_helpers import (
    AK, REGION, SDK_SIGNERS, SERVICE, SK, CapturingP256Signer, Credentials, as_received,
    sdk_request, sdk_sign, sdk_wire_query,
)

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=timezone.utc)
SDK_DATE = "20260314T150926Z"
HMAC_ALGORITHMS = ("SDK-HMAC-SHA256", "SDK-HMAC-SM3", "V11-HMAC-SHA256")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ECDSA_SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])

any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
path_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"), max_size=10)
header_text = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=16)
literal_segment = st.sampled_from(["v1", "v3", "instances", "a_b.c-d~e", "{x}"])


@st.composite
def resource_paths(draw: Any) -> str:
    """Template words and path parameters, the latter quoted with safe='' as ApiClient does."""
    parts = draw(st.lists(st.one_of(literal_segment, path_text.map(lambda s: quote(s, safe=""))),
                          min_size=1, max_size=4))
    return "/" + "/".join(parts) + draw(st.sampled_from(["", "/"]))


@st.composite
def query_params(draw: Any) -> list[tuple[str, Any]]:
    """Per key one value kind, so the SDK's tuple sort can compare them (as real APIs do)."""
    params: list[tuple[str, Any]] = []
    for key in draw(st.lists(any_text, max_size=4, unique=True)):
        kind = draw(st.sampled_from(["str", "int", "bool", "int-list", "str-list", "repeat-int", "repeat-str"]))
        if kind == "str":
            params.append((key, draw(any_text)))
        elif kind == "int":
            params.append((key, draw(st.integers(-10**6, 10**6))))
        elif kind == "bool":
            params.append((key, draw(st.booleans())))
        elif kind == "int-list":
            params.append((key, draw(st.lists(st.integers(-50, 200), max_size=4))))
        elif kind == "str-list":
            params.append((key, draw(st.lists(any_text, max_size=4))))
        elif kind == "repeat-int":  # collection format 'multi' expands lists into tuples
            params.extend((key, value) for value in draw(st.lists(st.integers(-50, 200), min_size=1, max_size=4)))
        else:
            params.extend((key, value) for value in draw(st.lists(any_text, min_size=1, max_size=4)))
    return draw(st.permutations(params))


@st.composite
def header_sets(draw: Any) -> dict[str, str]:
    headers = {"User-Agent": "huaweicloud-usdk-python/3.0", "X-Project-Id": "0123456789abcdef"}
    content_type = draw(st.sampled_from([None, "application/json", "application/json;charset=UTF-8",
                                         "application/octet-stream", "text/plain", "application/xml"]))
    if content_type:
        headers["Content-Type"] = content_type
    names = st.sampled_from(["X-Custom", "X_Underscored_Header", "X-Language", "x-trace", "Accept"])
    for name in draw(st.lists(names, max_size=3, unique=True)):
        headers[name] = draw(st.sampled_from(["", " ", "  "])) + draw(header_text) + draw(st.sampled_from(["", " \t"]))
    return headers


@st.composite
def sdk_shaped(draw: Any) -> tuple[str, str, list[tuple[str, Any]], dict[str, str], bytes]:
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]))
    body = draw(st.one_of(st.just(b""), st.binary(max_size=64), st.binary(min_size=1000, max_size=5000)))
    return method, draw(resource_paths()), draw(query_params()), draw(header_sets()), body


def _sdk_signed(request: tuple, algorithm: str) -> SignableRequest:
    method, path, params, headers, body = request
    signed = sdk_sign(sdk_request(method, path, params, {**headers, "X-Sdk-Date": SDK_DATE}, body), algorithm)
    return as_received(signed)


def _check_sdk_to_ours(request: tuple, algorithm: str) -> None:
    received = _sdk_signed(request, algorithm)
    auth = parse_authorization(received.headers["authorization"])
    assert auth.algorithm == algorithm
    verify(received, auth, SK, now=NOW + timedelta(seconds=30), expected_region=REGION,
           expected_service=SERVICE)


def _ours(request: tuple, algorithm: str) -> tuple[dict[str, str], dict[str, str]]:
    """Our added headers, and the request's headers (SDK casing) with those merged in."""
    method, path, params, headers, body = request
    lowered = {name.lower(): value for name, value in headers.items()} | {"host": "ddm.example.com:8443"}
    ours = sign(SignableRequest(method, path, sdk_wire_query(params), lowered, body), AK, SK, now=NOW,
                algorithm=algorithm, region=REGION, service=SERVICE)
    return ours, {**headers, "X-Sdk-Date": ours["X-Sdk-Date"]}


@SETTINGS
@given(sdk_shaped(), st.sampled_from(HMAC_ALGORITHMS))
def test_sdk_signed_requests_verify(request: tuple, algorithm: str) -> None:
    _check_sdk_to_ours(request, algorithm)


@ECDSA_SETTINGS
@given(sdk_shaped())
def test_sdk_ecdsa_signed_requests_verify(request: tuple) -> None:
    _check_sdk_to_ours(request, "SDK-ECDSA-P256-SHA256")


@SETTINGS
@given(sdk_shaped(), st.sampled_from(HMAC_ALGORITHMS))
def test_our_signatures_equal_the_sdks(request: tuple, algorithm: str) -> None:
    ours, headers = _ours(request, algorithm)
    method, path, params, _, body = request
    theirs = sdk_sign(sdk_request(method, path, params, headers, body), algorithm)
    assert ours["Authorization"] == theirs.header_params["Authorization"]
    assert {k: theirs.header_params[k] for k in ours if k != "Authorization"} == \
        {k: v for k, v in ours.items() if k != "Authorization"}


@ECDSA_SETTINGS
@given(sdk_shaped())
def test_our_ecdsa_signatures_verify_with_the_sdks_key(request: tuple) -> None:
    ours, headers = _ours(request, "SDK-ECDSA-P256-SHA256")
    method, path, params, _, body = request
    sdk_signer = CapturingP256Signer(Credentials(AK, SK))
    theirs = sdk_signer.sign(sdk_request(method, path, params, headers, body))
    ours_auth = parse_authorization(ours["Authorization"])
    theirs_auth = parse_authorization(theirs.header_params["Authorization"])
    assert ours_auth.signed_headers == theirs_auth.signed_headers
    key = P256SigningKey(sdk_signer._derive_key())
    assert key.verify(bytes.fromhex(ours_auth.signature), sdk_signer.captured.encode())


def test_ecdsa_key_derivation_matches_sdk() -> None:
    for ak, sk in [(AK, SK), ("A", "B"), ("中文AK", "sk with spaces")]:
        assert derive_p256_scalar(ak, sk) == SDK_SIGNERS["SDK-ECDSA-P256-SHA256"](Credentials(ak, sk))._derive_key()


def test_typical_ddm_request_both_ways_all_algorithms() -> None:
    params = [("offset", 0), ("limit", 10)]
    request = ("GET", "/v1/0123456789abcdef/instances", params,
               {"Content-Type": "application/json", "User-Agent": "huaweicloud-usdk-python/3.0",
                "X-Project-Id": "0123456789abcdef"}, b"")
    for algorithm in SDK_SIGNERS:
        _check_sdk_to_ours(request, algorithm)
        ours, _ = _ours(request, algorithm)
        assert ours["Authorization"].startswith(algorithm + " ")


def test_repeated_integer_keys_keep_the_sdks_numeric_order() -> None:
    params = [("n", [10, 9, 100]), ("limit", 10), ("id", 2), ("id", 11)]
    request = ("GET", "/v1/p/instances", params, {"Content-Type": "application/json"}, b"")
    received = _sdk_signed(request, "SDK-HMAC-SHA256")
    assert received.raw_query == "id=2&id=11&limit=10&n=9&n=10&n=100"
    verify(received, parse_authorization(received.headers["authorization"]), SK, now=NOW)

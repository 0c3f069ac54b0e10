"""Verification is strict: tampering, unsigned required headers, bad dates, skew, payload rules."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from signer import (
    UNSIGNED_PAYLOAD, Authorization, DerivedKeyCache, SignableRequest, SignatureError, canonical_request,
    format_authorization, parse_authorization, sign, verify,
)
from signer.algorithms import SHA256_EMPTY, SPECS, string_to_sign
from signer.signing import compute_signature

NOW = datetime(2026, 3, 14, 15, 9, 26, tzinfo=timezone.utc)
AK, SK = "HPUAXXXXXXXXXXXXXXX1", "very-secret-sk-value-0123456789"
ALL = ("SDK-HMAC-SHA256", "SDK-HMAC-SM3", "V11-HMAC-SHA256", "SDK-ECDSA-P256-SHA256")
BASE_HEADERS = {"host": "gw.example.com:8443", "content-type": "application/json;charset=UTF-8",
                "x-project-id": "0123456789abcdef", "user-agent": "huaweicloud-usdk-python/3.0"}


def signed(req: SignableRequest, algorithm: str = "SDK-HMAC-SHA256", now: datetime = NOW) -> SignableRequest:
    added = sign(req, AK, SK, now=now, algorithm=algorithm, region="cn-north-4", service="ddm")
    return req._replace(headers={**req.headers, **{k.lower(): v for k, v in added.items()}})


def check(req: SignableRequest, now: datetime = NOW, **kwargs: object) -> None:
    verify(req, parse_authorization(req.headers["authorization"]), SK, now=now, **kwargs)  # type: ignore[arg-type]


def reason_of(req: SignableRequest, now: datetime = NOW, **kwargs: object) -> str:
    with pytest.raises(SignatureError) as caught:
        check(req, now, **kwargs)
    assert SK not in caught.value.reason
    return caught.value.reason


def a_request(**changes: object) -> SignableRequest:
    req = SignableRequest("POST", "/v1/0123456789abcdef/instances/i-1/action", "offset=0&limit=10",
                          BASE_HEADERS, b'{"action":"restart"}')
    return req._replace(**changes)


def _mutations(req: SignableRequest) -> dict[str, SignableRequest]:
    signed_names = parse_authorization(req.headers["authorization"]).signed_headers
    header = next(n for n in signed_names if n not in ("host", "x-sdk-date"))
    later = (NOW + timedelta(seconds=1)).strftime("%Y%m%dT%H%M%SZ")
    return {
        "method": req._replace(method="PUT" if req.method != "PUT" else "POST"),
        "path": req._replace(raw_path=req.raw_path.rstrip("/") + "/x"),
        "path-char": req._replace(raw_path=req.raw_path.replace("i-1", "i-2")),
        "query-added": req._replace(raw_query=req.raw_query + "&zz=1"),
        "query-value": req._replace(raw_query=req.raw_query.replace("limit=10", "limit=11")),
        "header": req._replace(headers={**req.headers, header: req.headers[header] + "x"}),
        "host": req._replace(headers={**req.headers, "host": "evil.example.com"}),
        "date": req._replace(headers={**req.headers, "x-sdk-date": later}),
        "body": req._replace(body=req.body + b" "),
    }


@pytest.mark.parametrize("algorithm", ALL)
def test_signed_request_verifies_and_every_mutation_fails(algorithm: str) -> None:
    req = signed(a_request(), algorithm)
    check(req, expected_region="cn-north-4", expected_service="ddm", key_cache=DerivedKeyCache(2))
    for name, mutated in _mutations(req).items():
        with pytest.raises(SignatureError):
            check(mutated)
            pytest.fail(f"mutating {name} went unnoticed")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["SDK-HMAC-SHA256", "SDK-HMAC-SM3", "V11-HMAC-SHA256"]),
       st.binary(min_size=1, max_size=300), st.integers(0, 4),
       st.sampled_from(["method", "path", "path-char", "query-added", "query-value", "header", "host",
                        "date", "body"]))
def test_any_signed_byte_mutation_fails(algorithm: str, body: bytes, limit: int, mutation: str) -> None:
    req = signed(a_request(body=body, raw_query=f"offset=0&limit=10&n={limit}&n=1{limit}"), algorithm)
    check(req)
    with pytest.raises(SignatureError):
        check(_mutations(req)[mutation])


def test_reordering_repeated_values_breaks_the_signature() -> None:
    req = signed(a_request(raw_query="n=9&n=10"))
    check(req)
    reason_of(req._replace(raw_query="n=10&n=9"))


def test_wrong_secret_echoes_the_canonical_request() -> None:
    req = signed(a_request())
    with pytest.raises(SignatureError) as caught:
        verify(req, parse_authorization(req.headers["authorization"]), "other-sk", now=NOW)
    reason = caught.value.reason
    assert reason.startswith("verify aksk signature fail, canonicalRequest:POST|/v1/0123456789abcdef/")
    assert "|host:gw.example.com:8443|" in reason and "\n" not in reason
    assert "other-sk" not in reason and SK not in reason


def test_skew_window_is_inclusive_and_reason_names_both_times() -> None:
    req = signed(a_request())
    check(req, now=NOW + timedelta(seconds=900))
    check(req, now=NOW - timedelta(seconds=900))
    check(req, now=(NOW + timedelta(seconds=60)).replace(tzinfo=None))  # naive means UTC
    late = reason_of(req, now=NOW + timedelta(seconds=901))
    assert late == ("calc aksk signature fail:signature expired, signature time:20260314T150926Z,"
                    "server time:20260314T152427Z")
    reason_of(req, now=NOW - timedelta(seconds=901))
    check(req, now=NOW + timedelta(seconds=100), max_skew_s=100)
    reason_of(req, now=NOW + timedelta(seconds=101), max_skew_s=100)


def test_now_as_epoch_seconds_decides_and_reports_like_a_datetime() -> None:
    req = signed(a_request())
    epoch = NOW.timestamp()
    check(req, now=epoch + 900.0)                      # type: ignore[arg-type]
    check(req, now=epoch - 900.0)                      # type: ignore[arg-type]
    assert reason_of(req, now=epoch + 900.5) == reason_of(req, now=NOW + timedelta(seconds=900.5))  # type: ignore[arg-type]
    assert "server time:20260314T152427Z" in reason_of(req, now=epoch + 901)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad_date", ["2026-03-14T15:09:26Z", "20261314T150926Z", "20260314T250926Z",
                                      "20260314T150926", "20260314t150926z", ""])
def test_malformed_sdk_date_rejected(bad_date: str) -> None:
    req = signed(a_request())
    assert "x-sdk-date must be" in reason_of(req._replace(headers={**req.headers, "x-sdk-date": bad_date}))


def _resign_with_signed_headers(req: SignableRequest, names: tuple[str, ...]) -> SignableRequest:
    """A request whose Authorization lists `names` only (the signature is irrelevant here)."""
    auth = parse_authorization(req.headers["authorization"])
    value = f"{auth.algorithm} Access={AK}, SignedHeaders={';'.join(names)}, Signature={auth.signature}"
    return req._replace(headers={**req.headers, "authorization": value})


@pytest.mark.parametrize("dropped", ["host", "x-sdk-date", "x-project-id", "content-type"])
def test_required_headers_must_be_signed(dropped: str) -> None:
    req = signed(a_request())
    names = tuple(n for n in parse_authorization(req.headers["authorization"]).signed_headers if n != dropped)
    assert dropped in reason_of(_resign_with_signed_headers(req, names))


@pytest.mark.parametrize("header", ["x-domain-id", "x-security-token"])
def test_conditional_headers_must_be_signed_when_present(header: str) -> None:
    req = signed(a_request())
    assert header in reason_of(req._replace(headers={**req.headers, header: "value"}))
    check(signed(a_request(headers={**BASE_HEADERS, header: "value"})))


def test_every_signed_header_must_be_present() -> None:
    req = signed(a_request(headers={**BASE_HEADERS, "x-extra": "1"}))
    stripped = {k: v for k, v in req.headers.items() if k != "x-extra"}
    assert "signed header x-extra is missing" in reason_of(req._replace(headers=stripped))


def test_unsigned_payload_only_for_non_json_content() -> None:
    octet = signed(a_request(headers={**BASE_HEADERS, "content-type": "application/octet-stream"}))
    assert octet.headers["x-sdk-content-sha256"] == "UNSIGNED-PAYLOAD"
    check(octet._replace(body=b"any body at all"))
    forged = signed(a_request(headers={**BASE_HEADERS, "x-sdk-content-sha256": "UNSIGNED-PAYLOAD"}))
    assert "UNSIGNED-PAYLOAD is not allowed" in reason_of(forged)
    no_type = {k: v for k, v in BASE_HEADERS.items() if k != "content-type"}
    assert "UNSIGNED-PAYLOAD is not allowed" in reason_of(
        signed(a_request(headers={**no_type, "x-sdk-content-sha256": "UNSIGNED-PAYLOAD"})))


def node_signed(req: SignableRequest, algorithm: str = "SDK-HMAC-SHA256", declared: str | None = UNSIGNED_PAYLOAD,
                line: str = UNSIGNED_PAYLOAD) -> SignableRequest:
    """As the Node.js and Go SDKs sign: the declared content header's value is the payload line."""
    spec = SPECS[algorithm]
    headers = {**req.headers, "x-sdk-date": "20260314T150926Z"}
    if declared is not None:
        headers[spec.content_header_key] = declared
    names = tuple(sorted(headers))
    scope = "20260314/cn-north-4/ddm" if spec.kind == "v11" else None
    canonical = canonical_request(req._replace(headers=headers), names, line)
    signature = compute_signature(spec, AK, SK, scope, string_to_sign(spec, "20260314T150926Z", canonical, scope))
    authorization = format_authorization(Authorization(algorithm, AK, names, signature, scope))
    return req._replace(headers={**headers, "authorization": authorization})


EMPTY_TEXT_GET = SignableRequest("GET", "/v1/0123456789abcdef/instances", "", {**BASE_HEADERS,
                                 "content-type": "text/plain"}, b"")


@pytest.mark.parametrize("algorithm", [*ALL, "SDK-SM2-SM3"])
def test_an_empty_body_declaring_unsigned_payload_verifies_in_both_sdk_forms(algorithm: str) -> None:
    python_form = signed(EMPTY_TEXT_GET, algorithm)
    assert python_form.headers[SPECS[algorithm].content_header_key] == UNSIGNED_PAYLOAD
    check(python_form)
    check(node_signed(EMPTY_TEXT_GET, algorithm))
    json_get = EMPTY_TEXT_GET._replace(headers=BASE_HEADERS)  # no body: the content type does not matter
    check(node_signed(json_get, algorithm))


def test_the_node_form_is_only_honoured_for_an_empty_body_that_declares_it() -> None:
    assert "canonicalRequest:" in reason_of(node_signed(EMPTY_TEXT_GET, declared=None))
    other_hash = "0" * 64  # declared and signed as the payload line: still only the two known lines
    assert "canonicalRequest:" in reason_of(node_signed(EMPTY_TEXT_GET, declared=other_hash, line=other_hash))
    json_form = node_signed(EMPTY_TEXT_GET._replace(headers=BASE_HEADERS))
    assert "UNSIGNED-PAYLOAD is not allowed" in reason_of(json_form._replace(body=b'{"smuggled":1}'))
    tampered = node_signed(EMPTY_TEXT_GET)._replace(raw_query="offset=5")
    assert reason_of(tampered).endswith("x-sdk-date|" + SHA256_EMPTY), "the echo is the first (Python SDK) form"


def test_declared_payload_hash_must_match_the_body() -> None:
    body = b'{"a":1}'
    good = hashlib.sha256(body).hexdigest()
    check(signed(a_request(body=body, headers={**BASE_HEADERS, "x-sdk-content-sha256": good})))
    bad = signed(a_request(body=body, headers={**BASE_HEADERS, "x-sdk-content-sha256": "0" * 64}))
    assert "does not match the body" in reason_of(bad)


def test_v11_scope_checks() -> None:
    req = signed(a_request(), "V11-HMAC-SHA256")
    check(req, expected_region="cn-north-4", expected_service="ddm")
    assert "region" in reason_of(req, expected_region="cn-south-1")
    assert "service" in reason_of(req, expected_service="iam")
    auth = req.headers["authorization"].replace("/20260314/", "/20260313/")
    assert "credential date" in reason_of(req._replace(headers={**req.headers, "authorization": auth}))


def test_bad_path_in_verify_is_a_signature_error() -> None:
    req = signed(a_request())
    assert "%2F" in reason_of(req._replace(raw_path="/v1/a%2Fb"))


def test_sign_needs_host_and_v11_scope() -> None:
    no_host = a_request(headers={k: v for k, v in BASE_HEADERS.items() if k != "host"})
    with pytest.raises(ValueError):
        sign(no_host, AK, SK, now=NOW)
    with pytest.raises(ValueError):
        sign(a_request(), AK, SK, now=NOW, algorithm="V11-HMAC-SHA256")
    with pytest.raises(ValueError):
        sign(a_request(), AK, SK, now=NOW, algorithm="SDK-HMAC-SHA1")


def test_sign_skips_underscored_and_authorization_headers() -> None:
    req = a_request(headers={**BASE_HEADERS, "x_under": "1", "authorization": "old"})
    auth = parse_authorization(sign(req, AK, SK, now=NOW)["Authorization"])
    assert "x_under" not in auth.signed_headers and "authorization" not in auth.signed_headers
    assert list(auth.signed_headers) == sorted(auth.signed_headers)


def test_key_cache_is_bounded() -> None:
    cache = DerivedKeyCache(max_entries=2)
    first = cache.public_key("A", "1")
    cache.public_key("B", "2")
    cache.public_key("C", "3")
    assert len(cache._keys) == 2
    assert cache.public_key("A", "1").public_numbers() == first.public_numbers()


def test_cached_hmac_states_sign_exactly_like_the_one_shot_hmac() -> None:
    from signer.algorithms import SPECS
    from signer.signing import compute_signature

    cache, spec = DerivedKeyCache(max_entries=2), SPECS["SDK-HMAC-SHA256"]
    for sk, message in [("1", "a"), ("2", "b"), ("3", "c"), ("1", "a\nü"), ("1", "a")]:
        assert compute_signature(spec, AK, sk, None, message, cache) == compute_signature(spec, AK, sk, None, message)
    assert len(cache._hmacs) == 2   # bounded like the derived keys


def test_malformed_ecdsa_signature_is_a_signature_error() -> None:
    req = signed(a_request(), "SDK-ECDSA-P256-SHA256")
    prefix = req.headers["authorization"].rsplit("=", 1)[0]
    for junk in ("3006020101020101", "00", "30" * 40):
        reason_of(req._replace(headers={**req.headers, "authorization": f"{prefix}={junk}"}))


def test_undecodable_header_bytes_do_not_crash() -> None:
    """aiohttp hands non-UTF-8 header bytes over as surrogate escapes; they stay signable."""
    req = signed(a_request(headers={**BASE_HEADERS, "x-odd": "a\udcffb"}))
    check(req)
    reason_of(req._replace(headers={**req.headers, "x-odd": "a\udcfeb"}))

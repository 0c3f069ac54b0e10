"""Verifying an SDK-signed request: strict checks first, then one constant-time comparison.

Order mirrors APIG: header/date sanity, the skew window, then the signature itself, whose
failure echoes the server's canonical request (with '\\n' shown as '|') so clients can diff it.
Only an empty body declaring UNSIGNED-PAYLOAD has a second candidate canonical request (the
SDKs disagree on its payload line, see `other_payload_lines`), tried only if the first fails.
"""
from __future__ import annotations

import hmac
from datetime import datetime
from typing import NoReturn, cast

from cryptography.hazmat.primitives.asymmetric import ec

from signer import sm2
from signer.algorithms import SPECS, UNSIGNED_PAYLOAD, AlgorithmSpec, ecdsa_verify, sm2_verify, string_to_sign
from signer.authorization import Authorization
from signer.canonical import (
    JSON_LIKE_TYPES, canonical_request, declared_payload_hash, other_payload_lines, payload_hash_for,
)
from signer.derived_keys import DerivedKeyCache, derive
from signer.errors import PathError, SignatureError
from signer.request import SignableRequest
from signer.sdk_date import as_datetime, format_sdk_date, sdk_date_epoch
from signer.signing import compute_signature

ALWAYS_SIGNED = ("host", "x-sdk-date")
SIGNED_WHEN_PRESENT = ("content-type", "x-project-id", "x-domain-id", "x-security-token",
                       "x-sdk-content-sha256", "x-sdk-content-sm3")
_FAIL = "verify aksk signature fail"
_ALWAYS_SIGNED = frozenset(ALWAYS_SIGNED)
_SIGNED_WHEN_PRESENT = frozenset(SIGNED_WHEN_PRESENT)


def _check_signed_headers(req: SignableRequest, auth: Authorization) -> None:
    """Set operations decide (a signed request passes them all); only a refusal walks the
    names, in a fixed order, to say which one is wrong."""
    signed = frozenset(auth.signed_headers)
    present = req.headers.keys()
    if signed >= _ALWAYS_SIGNED and signed >= (present & _SIGNED_WHEN_PRESENT) and present >= signed:
        return
    _refuse_signed_headers(req, auth.signed_headers)


def _refuse_signed_headers(req: SignableRequest, signed: tuple[str, ...]) -> NoReturn:
    for name in ALWAYS_SIGNED:
        if name not in signed:
            raise SignatureError(f"{_FAIL}, header {name} must be signed")
    for name in SIGNED_WHEN_PRESENT:
        if name in req.headers and name not in signed:
            raise SignatureError(f"{_FAIL}, header {name} is present but not signed")
    for name in signed:
        if name not in req.headers:
            raise SignatureError(f"{_FAIL}, signed header {name} is missing")
    raise SignatureError(f"{_FAIL}, signed headers")   # not reached (the set test names one of them): fails closed


def _check_date(sdk_date: str, now: datetime | float, max_skew_s: float) -> None:
    signed_at = sdk_date_epoch(sdk_date)
    if signed_at is None:
        raise SignatureError(f"{_FAIL}, x-sdk-date must be YYYYMMDDTHHMMSSZ")
    now_s = as_datetime(now).timestamp() if isinstance(now, datetime) else now
    if abs(now_s - signed_at) > max_skew_s:
        raise SignatureError("calc aksk signature fail:signature expired, "
                             f"signature time:{sdk_date},server time:{format_sdk_date(as_datetime(now))}",
                             kind="date_out_of_window")


def _check_scope(auth: Authorization, sdk_date: str, expected_region: str | None,
                 expected_service: str | None) -> None:
    if auth.scope is None:
        return
    date, region, service = auth.scope.split("/")
    if date != sdk_date[:8]:
        raise SignatureError(f"{_FAIL}, credential date does not match x-sdk-date")
    if expected_region is not None and region != expected_region:
        raise SignatureError(f"{_FAIL}, credential region {region} is not {expected_region}")
    if expected_service is not None and service != expected_service:
        raise SignatureError(f"{_FAIL}, credential service {service} is not {expected_service}")


def _check_payload(req: SignableRequest, spec: AlgorithmSpec) -> None:
    """A declared payload hash is only honoured as UNSIGNED-PAYLOAD on a non-JSON body, or when
    it really is the body's hash: otherwise whoever holds the request could swap the body."""
    declared = declared_payload_hash(req, spec)
    if declared is None or not req.body:
        return
    if declared == UNSIGNED_PAYLOAD:
        content_type = req.headers.get("content-type", "").strip().lower()
        if not content_type or content_type.startswith(JSON_LIKE_TYPES):
            raise SignatureError(f"{_FAIL}, UNSIGNED-PAYLOAD is not allowed for this content type")
    elif not hmac.compare_digest(declared.encode("utf-8", "surrogateescape"),
                                 spec.hash_hex(req.body).encode("ascii")):
        raise SignatureError(f"{_FAIL}, {spec.content_header} does not match the body")


def _signature_matches(spec: AlgorithmSpec, auth: Authorization, sk: str, to_sign: str,
                       key_cache: DerivedKeyCache | None) -> bool:
    if spec.kind not in ("ecdsa", "sm2"):
        expected = compute_signature(spec, auth.access_key, sk, auth.scope, to_sign, key_cache)
        return hmac.compare_digest(expected, auth.signature)
    if key_cache is not None:
        public_key = key_cache.public_key(auth.access_key, sk, spec.kind)
    else:
        public_key = derive(auth.access_key, sk, spec.kind)
    if spec.kind == "sm2":
        return sm2_verify(cast(sm2.Point, public_key), bytes.fromhex(auth.signature), to_sign)
    return ecdsa_verify(cast(ec.EllipticCurvePublicKey, public_key), bytes.fromhex(auth.signature), to_sign)


def _canonical(req: SignableRequest, auth: Authorization, payload_line: str) -> str:
    try:
        return canonical_request(req, auth.signed_headers, payload_line)
    except PathError as error:
        raise SignatureError(f"{_FAIL}, {error}") from None


def verify(req: SignableRequest, auth: Authorization, sk: str, *, now: datetime | float, max_skew_s: float = 900,
           expected_region: str | None = None, expected_service: str | None = None,
           key_cache: DerivedKeyCache | None = None) -> None:
    """Raise SignatureError(reason) unless `auth` is a valid, fresh signature of `req` by `sk`.

    `now` is injected (never read here): an aware datetime, or epoch seconds (the gateway's
    clock, with no datetime built per request). `expected_region`/`expected_service` constrain a V11
    credential scope; `key_cache` (optional) saves the ECDSA/SM2 key derivation per (AK, SK).
    """
    spec = SPECS.get(auth.algorithm)
    if spec is None:
        raise SignatureError(f"{_FAIL}, unsupported algorithm")
    _check_signed_headers(req, auth)
    sdk_date = req.headers["x-sdk-date"].strip()
    _check_date(sdk_date, now, max_skew_s)
    _check_scope(auth, sdk_date, expected_region, expected_service)
    _check_payload(req, spec)
    canonical = _canonical(req, auth, payload_hash_for(req, spec))
    if _signature_matches(spec, auth, sk, string_to_sign(spec, sdk_date, canonical, auth.scope), key_cache):
        return
    for line in other_payload_lines(req, spec):
        other = _canonical(req, auth, line)
        if _signature_matches(spec, auth, sk, string_to_sign(spec, sdk_date, other, auth.scope), key_cache):
            return
    raise SignatureError(f"{_FAIL}, canonicalRequest:{canonical.replace(chr(10), '|')}")

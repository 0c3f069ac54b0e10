"""Signing a request the way huaweicloudsdkcore does (used by the gateway to re-sign to DDM)."""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import cast

from cryptography.hazmat.primitives.asymmetric import ec

from signer.algorithms import (
    UNSIGNED_PAYLOAD, AlgorithmSpec, ecdsa_sign_hex, hmac_hex, sm2_sign_hex, spec_for, string_to_sign,
    v11_signing_key,
)
from signer.authorization import Authorization, format_authorization
from signer.canonical import canonical_request, is_json_like, payload_hash_for
from signer.derived_keys import DerivedKeyCache, Sm2KeyPair, derive
from signer.request import SignableRequest
from signer.sdk_date import format_sdk_date

_NEVER_SIGNED = frozenset({"authorization"})  # it carries the signature itself


def compute_signature(spec: AlgorithmSpec, ak: str, sk: str, scope: str | None, to_sign: str,
                      key_cache: DerivedKeyCache | None = None) -> str:
    """Hex signature of the string to sign; the one place that turns an SK into a signature.
    `key_cache` keeps ECDSA/SM2 signing keys derived from (AK, SK), and keyed HMAC-SHA256
    states, between calls."""
    if spec.kind in ("ecdsa", "sm2"):
        kind = f"{spec.kind}-signing"
        key = key_cache.get(ak, sk, kind) if key_cache is not None else derive(ak, sk, kind)
        if spec.kind == "ecdsa":
            return ecdsa_sign_hex(cast(ec.EllipticCurvePrivateKey, key), to_sign)
        private, public = cast(Sm2KeyPair, key)
        return sm2_sign_hex(private, public, to_sign)
    if spec.kind == "hmac" and key_cache is not None and spec.hash_factory is hashlib.sha256:
        mac = key_cache.hmac_sha256(sk).copy()
        mac.update(to_sign.encode("utf-8"))
        return mac.hexdigest()
    key = v11_signing_key(ak, sk, scope or "") if spec.kind == "v11" else sk.encode("utf-8")
    return hmac_hex(spec, key, to_sign)


def _v11_scope(spec: AlgorithmSpec, sdk_date: str, region: str | None, service: str | None) -> str | None:
    if spec.kind != "v11":
        return None
    if not region or not service:
        raise ValueError("V11-HMAC-SHA256 needs a region and a service name")
    return f"{sdk_date[:8]}/{region}/{service}"


def _added_headers(req: SignableRequest, spec: AlgorithmSpec, sdk_date: str) -> dict[str, str]:
    """X-Sdk-Date, plus the content header when the SDK would add it (non-JSON content type)."""
    added = {"X-Sdk-Date": sdk_date}
    if req.headers.get("content-type") and not is_json_like(req.headers["content-type"]):
        added[spec.content_header] = UNSIGNED_PAYLOAD
    return added


def sign(req: SignableRequest, ak: str, sk: str, *, now: datetime, algorithm: str = "SDK-HMAC-SHA256",
         region: str | None = None, service: str | None = None,
         key_cache: DerivedKeyCache | None = None) -> dict[str, str]:
    """The headers to ADD to `req` so that it carries an SDK-compatible signature.

    Signs every header of `req` whose name has no '_' (except `authorization`) plus the added
    ones; `req.headers` must contain `host`. The query is canonicalized from `req.raw_query`;
    send that raw query (or `canonical_query(raw_query)`) unchanged. A signer that signs often
    with ECDSA or SM2 passes its own `key_cache` (the key derivation is the costly part).
    """
    spec = spec_for(algorithm)
    if "host" not in req.headers:
        raise ValueError("req.headers must contain 'host'")
    sdk_date = format_sdk_date(now)
    scope = _v11_scope(spec, sdk_date, region, service)
    added = _added_headers(req, spec, sdk_date)
    headers = {name: value for name, value in req.headers.items() if name not in _NEVER_SIGNED}
    headers.update({name.lower(): value for name, value in added.items()})
    signable = req._replace(headers=headers)
    signed = tuple(sorted(name for name in headers if "_" not in name))
    canonical = canonical_request(signable, signed, payload_hash_for(signable, spec))
    signature = compute_signature(spec, ak, sk, scope, string_to_sign(spec, sdk_date, canonical, scope),
                                  key_cache)
    added["Authorization"] = format_authorization(Authorization(spec.name, ak, signed, signature, scope))
    return added

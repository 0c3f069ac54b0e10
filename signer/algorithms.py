"""The signing algorithms the SDK offers, as data plus the few primitives they differ in.

Each algorithm differs from SDK-HMAC-SHA256 in at most: the hash, the header that may replace
the body hash, the key (V11 derives one with HKDF) and the signature primitive (ECDSA, SM2).
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from signer import sm2

HashFactory = Callable[..., "hashlib._Hash"]   # hashlib.sha256 or sm3: data, or none (hmac.new)

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
SHA256_EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SM3_EMPTY = "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b"
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _sm3(data: bytes = b"") -> "hashlib._Hash":
    """SM3 from OpenSSL via hashlib (the SDK uses the same on Python >= 3.7)."""
    return hashlib.new("sm3", data)


@dataclass(frozen=True)
class AlgorithmSpec:
    """What distinguishes one signing algorithm from another, as the SDK defines it."""

    name: str
    hash_factory: HashFactory
    content_header: str  # header whose value replaces the body hash (name as the SDK sends it)
    empty_hash: str
    kind: str  # "hmac", "v11" (HKDF-derived HMAC key), "ecdsa" or "sm2"
    # The content header's name as it appears in a lowercased header mapping (looked up two or
    # three times per verification: lowercased once, here).
    content_header_key: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "content_header_key", self.content_header.lower())

    def hash_hex(self, data: bytes) -> str:
        return self.hash_factory(data).hexdigest()


SPECS: dict[str, AlgorithmSpec] = {
    spec.name: spec
    for spec in (
        AlgorithmSpec("SDK-HMAC-SHA256", hashlib.sha256, "X-Sdk-Content-Sha256", SHA256_EMPTY, "hmac"),
        AlgorithmSpec("V11-HMAC-SHA256", hashlib.sha256, "X-Sdk-Content-Sha256", SHA256_EMPTY, "v11"),
        AlgorithmSpec("SDK-HMAC-SM3", _sm3, "X-Sdk-Content-Sm3", SM3_EMPTY, "hmac"),
        AlgorithmSpec("SDK-ECDSA-P256-SHA256", hashlib.sha256, "X-Sdk-Content-Sha256", SHA256_EMPTY, "ecdsa"),
        AlgorithmSpec("SDK-SM2-SM3", _sm3, "X-Sdk-Content-Sm3", SM3_EMPTY, "sm2"),
    )
}

ALGORITHMS: frozenset[str] = frozenset(SPECS)


def spec_for(algorithm: str) -> AlgorithmSpec:
    """The spec of a supported algorithm; ValueError for anything else."""
    try:
        return SPECS[algorithm]
    except KeyError:
        raise ValueError(f"unsupported signing algorithm: {algorithm}") from None


def string_to_sign(spec: AlgorithmSpec, sdk_date: str, canonical_request: str, scope: str | None) -> str:
    """`ALGORITHM\\nX-Sdk-Date\\n[scope\\n]hex(hash(canonical request))`; only V11 has a scope line."""
    digest = spec.hash_hex(canonical_request.encode("utf-8", "surrogateescape"))
    if spec.kind == "v11":
        return f"{spec.name}\n{sdk_date}\n{scope}\n{digest}"
    return f"{spec.name}\n{sdk_date}\n{digest}"


def hmac_hex(spec: AlgorithmSpec, key: bytes, message: str) -> str:
    """Hex HMAC of the string to sign, with the algorithm's own hash (SHA-256 or SM3).
    SHA-256 takes OpenSSL's one-shot `hmac.digest` (no Python HMAC object per request)."""
    if spec.hash_factory is hashlib.sha256:
        return hmac.digest(key, message.encode("utf-8"), "sha256").hex()
    return hmac.new(key, message.encode("utf-8"), spec.hash_factory).hexdigest()


def v11_signing_key(ak: str, sk: str, scope: str) -> bytes:
    """HKDF-SHA256 (salt=AK, ikm=SK, info=scope, 32 bytes) as the SDK uses it: the HEX text of
    the derived key, not the raw bytes, is the HMAC key (see huaweicloudsdkcore.signer.hkdf)."""
    prk = hmac.new(ak.encode("utf-8"), sk.encode("utf-8"), hashlib.sha256).digest()
    okm = hmac.new(prk, scope.encode("utf-8") + b"\x01", hashlib.sha256).digest()
    return okm.hex().encode("ascii")


def derive_ec_scalar(ak: str, sk: str, algorithm: str, hash_factory: HashFactory, order: int) -> int:
    """The SDK's deterministic private scalar: an SP 800-108 style HMAC counter KDF over the
    AK, retried until the candidate is below n-1, then +1 (P256SHA256Signer._derive_key, which
    SM2SM3Signer inherits: its HMAC is then HMAC-SM3 and its bound the SM2 order)."""
    key = sk.encode("utf-8")
    for counter in range(0xFF):
        data = (b"\x00\x00\x00\x01" + algorithm.encode("utf-8") + b"\x00"
                + ak.encode("utf-8") + bytes((counter,)) + b"\x00\x00\x01\x00")
        candidate = int.from_bytes(hmac.new(key, data, hash_factory).digest(), "big")
        if candidate <= order - 2:
            return candidate + 1
    raise ValueError("derive candidate failed, counter out of range")


def derive_p256_scalar(ak: str, sk: str, algorithm: str = "SDK-ECDSA-P256-SHA256") -> int:
    return derive_ec_scalar(ak, sk, algorithm, hashlib.sha256, P256_ORDER)


def derive_sm2_scalar(ak: str, sk: str) -> int:
    return derive_ec_scalar(ak, sk, "SDK-SM2-SM3", _sm3, sm2.N)


def p256_private_key(ak: str, sk: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(derive_p256_scalar(ak, sk), ec.SECP256R1())


def ecdsa_sign_hex(private_key: ec.EllipticCurvePrivateKey, message: str) -> str:
    """Hex of the DER ECDSA-SHA256 signature (randomized, like the SDK's)."""
    return private_key.sign(message.encode("utf-8"), ec.ECDSA(hashes.SHA256())).hex()


def ecdsa_verify(public_key: ec.EllipticCurvePublicKey, signature_der: bytes, message: str) -> bool:
    try:
        public_key.verify(signature_der, message.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def sm2_sign_hex(private_key: int, public_key: sm2.Point, message: str) -> str:
    """Hex of the DER SM2 signature with Za over the default user id (randomized, like the SDK's)."""
    return sm2.sign(private_key, public_key, message.encode("utf-8")).hex()


def sm2_verify(public_key: sm2.Point, signature_der: bytes, message: str) -> bool:
    return sm2.verify(public_key, message.encode("utf-8"), signature_der)

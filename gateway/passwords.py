"""Password hashing for `password_hash` config values (`ddm-gateway hash-password`).

scrypt (memory-hard, in the standard library) with a random salt. The cost parameters travel
inside the encoded string, so raising them later does not invalidate hashes already in configs:
    scrypt$n=16384,r=8,p=1$<base64 salt>$<base64 derived key>
Verification never raises on malformed input (a bad hash simply never matches) and refuses
absurd parameters, so a hostile or mistyped config cannot make a login burn gigabytes of memory.
Stronger defaults (N=2^17, `hash_password(n=...)`) can be introduced at any time: old hashes
keep verifying with the parameters they carry.

A login costs one scrypt whether or not the user exists and however its password is configured
(`check_password`), so its timing does not tell user names apart; the gateway runs it off the
event loop (gateway/iam/password_checker.py).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass

SCHEME = "scrypt"
DEFAULT_N = 2 ** 14
DEFAULT_R = 8
DEFAULT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
# Bounds accepted when verifying: generous for future tuning, small enough to stay harmless.
MAX_N = 2 ** 20
MAX_R = 32
MAX_P = 16
MAX_KEY_BYTES = 128


@dataclass(frozen=True)
class ScryptHash:
    """A decoded `password_hash` string."""

    n: int
    r: int
    p: int
    salt: bytes
    key: bytes

    def encode(self) -> str:
        return (f"{SCHEME}$n={self.n},r={self.r},p={self.p}"
                f"${_b64(self.salt)}${_b64(self.key)}")


def hash_password(password: str, *, salt: bytes | None = None, n: int = DEFAULT_N) -> str:
    """Encode `password` as a salted scrypt hash; `salt` is only for reproducible tests."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    key = _derive(password, salt, n, DEFAULT_R, DEFAULT_P, KEY_BYTES)
    return ScryptHash(n, DEFAULT_R, DEFAULT_P, salt, key).encode()


DUMMY_SALT = b"\x00" * SALT_BYTES


def check_password(candidate: str, *, encoded: str | None, plaintext: str | None) -> bool:
    """One scrypt in every case: a hash is verified with its own parameters; a plaintext
    password (development configs) or no password at all (unknown user) pays one derivation
    at the default parameters, so the time taken does not say which case it was."""
    if encoded is not None:
        return verify_password(candidate, encoded)
    _derive(candidate, DUMMY_SALT, DEFAULT_N, DEFAULT_R, DEFAULT_P, KEY_BYTES)
    if plaintext is None:
        return False
    return hmac.compare_digest(candidate.encode("utf-8"), plaintext.encode("utf-8"))


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` matches `encoded`; False (never an exception) on a malformed hash."""
    parsed = parse_hash(encoded)
    if parsed is None:
        return False
    candidate = _derive(password, parsed.salt, parsed.n, parsed.r, parsed.p, len(parsed.key))
    return hmac.compare_digest(candidate, parsed.key)


def is_valid_hash(encoded: str) -> bool:
    """Whether `encoded` is a hash this module can verify (used by config validation)."""
    return parse_hash(encoded) is not None


def parse_hash(encoded: object) -> ScryptHash | None:
    """Decode a hash string, or None if it is malformed or its parameters are out of bounds."""
    if not isinstance(encoded, str):
        return None
    parts = encoded.split("$")
    if len(parts) != 4 or parts[0] != SCHEME:
        return None
    params = _parse_params(parts[1])
    salt, key = _unb64(parts[2]), _unb64(parts[3])
    if params is None or not salt or not key or len(key) > MAX_KEY_BYTES:
        return None
    n, r, p = params
    return ScryptHash(n, r, p, salt, key)


def _parse_params(text: str) -> tuple[int, int, int] | None:
    fields: dict[str, int] = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not value.isdigit() or name in fields:
            return None
        fields[name] = int(value)
    if set(fields) != {"n", "r", "p"}:
        return None
    n, r, p = fields["n"], fields["r"], fields["p"]
    power_of_two = n > 1 and n & (n - 1) == 0
    if not power_of_two or n > MAX_N or not 1 <= r <= MAX_R or not 1 <= p <= MAX_P:
        return None
    return n, r, p


def _derive(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    memory = 128 * r * (n + p + 2) + 1024 * 1024
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=memory, dklen=length)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None

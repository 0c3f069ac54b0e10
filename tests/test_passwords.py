"""scrypt password hashes: round trip, wrong passwords, malformed hashes, embedded parameters."""
from __future__ import annotations

import pytest

from gateway.passwords import (DEFAULT_N, DEFAULT_P, DEFAULT_R, hash_password, parse_hash,
                               verify_password)


@pytest.fixture(scope="module")
def encoded() -> str:
    return hash_password("correct horse battery staple")


def test_round_trip(encoded: str) -> None:
    assert verify_password("correct horse battery staple", encoded)


def test_wrong_password_is_refused(encoded: str) -> None:
    assert not verify_password("correct horse battery stapler", encoded)
    assert not verify_password("", encoded)


def test_parameters_are_embedded(encoded: str) -> None:
    scheme, params, _salt, _key = encoded.split("$")
    assert scheme == "scrypt"
    assert params == f"n={DEFAULT_N},r={DEFAULT_R},p={DEFAULT_P}"
    parsed = parse_hash(encoded)
    assert parsed is not None and (parsed.n, parsed.r, parsed.p) == (DEFAULT_N, DEFAULT_R, DEFAULT_P)


def test_salted_so_equal_passwords_hash_differently() -> None:
    assert hash_password("same") != hash_password("same")


def test_fixed_salt_is_reproducible() -> None:
    salt = b"0123456789abcdef"
    assert hash_password("pw", salt=salt) == hash_password("pw", salt=salt)


def test_other_parameters_still_verify() -> None:
    """Parameters come from the string, so cheaper/older hashes keep working."""
    import base64
    import hashlib
    salt = b"saltsaltsaltsalt"
    key = hashlib.scrypt(b"pw", salt=salt, n=1024, r=4, p=2, dklen=24)
    b64 = lambda raw: base64.b64encode(raw).decode().rstrip("=")  # noqa: E731
    assert verify_password("pw", f"scrypt$n=1024,r=4,p=2${b64(salt)}${b64(key)}")


def test_unicode_password() -> None:
    encoded = hash_password("pässwörd-密码")
    assert verify_password("pässwörd-密码", encoded)
    assert not verify_password("passwort-密码", encoded)


@pytest.mark.parametrize("malformed", [
    "", "scrypt", "plaintext-password", "bcrypt$n=16384,r=8,p=1$c2FsdA$a2V5",
    "scrypt$n=16384,r=8$c2FsdA$a2V5",                 # missing p
    "scrypt$n=16384,r=8,p=1,x=2$c2FsdA$a2V5",         # extra parameter
    "scrypt$n=16384,r=8,p=1,p=1$c2FsdA$a2V5",         # repeated parameter
    "scrypt$n=1000,r=8,p=1$c2FsdA$a2V5",              # n not a power of two
    "scrypt$n=1073741824,r=8,p=1$c2FsdA$a2V5",        # n absurdly large
    "scrypt$n=16384,r=0,p=1$c2FsdA$a2V5",             # r out of range
    "scrypt$n=16384,r=8,p=-1$c2FsdA$a2V5",
    "scrypt$n=16384,r=8,p=1$not base64!$a2V5",
    "scrypt$n=16384,r=8,p=1$$a2V5",                   # empty salt
    "scrypt$n=16384,r=8,p=1$c2FsdA$",                 # empty key
    "scrypt$n=16384,r=8,p=1$c2FsdA$a2V5$extra",
])
def test_malformed_hash_is_false_not_an_error(malformed: str) -> None:
    assert verify_password("pw", malformed) is False
    assert parse_hash(malformed) is None


def test_non_string_hash_is_false() -> None:
    assert verify_password("pw", None) is False  # type: ignore[arg-type]

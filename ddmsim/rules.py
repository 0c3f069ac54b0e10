"""Naming and password rules from the reference that a field spec cannot express alone."""
from __future__ import annotations

import hashlib
import re

from ddmsim.catalog import load_catalog
from ddmsim.errors import SimError, fail

_PASSWORD_CHARS = re.compile(r"[A-Za-z0-9~!@#%^*\-+_?]{8,32}")
_PASSWORD_CLASSES = (r"[A-Z]", r"[a-z]", r"[0-9]", r"[~!@#%^*\-+_?]")
_DB_NAME = re.compile(r"[a-z][a-z0-9_]*")


def password_ok(password: str) -> bool:
    """8-32 chars from the allowed set, mixing at least three of the four character classes."""
    if not _PASSWORD_CHARS.fullmatch(password):
        return False
    return sum(1 for cls in _PASSWORD_CLASSES if re.search(cls, password)) >= 3


def require_password(password: str) -> None:
    if not password_ok(password):
        raise fail("account_password_invalid")


def password_digest(password: str) -> str:
    """What the simulator keeps instead of a password (never stored or echoed in clear)."""
    return hashlib.sha256(password.encode()).hexdigest()


def is_weak(password: str) -> bool:
    """Weak: fails the strength rule, or is one of the catalogue's well-known passwords."""
    return not password_ok(password) or password in load_catalog()["weak_passwords"]


def database_name_error(name: str) -> SimError | None:
    """Appendix A.3's specific codes, checked in the order a user would fix them."""
    if not 2 <= len(name) <= 48:
        return fail("database_name_length")
    if name.lower() in load_catalog()["reserved_database_names"]:
        return fail("database_name_reserved", keyword=name)
    if any(ch.isupper() for ch in name):
        return fail("database_name_upper")
    if not _DB_NAME.fullmatch(name):
        return fail("database_name_invalid")
    return None


def require_database_name(name: str) -> None:
    error = database_name_error(name)
    if error is not None:
        raise error

"""Parsing and formatting the `Authorization` header of SDK-signed requests.

Strict on purpose: a header the SDK could not have produced is rejected rather than guessed at,
so there is exactly one reading of every accepted header.
"""
from __future__ import annotations

import functools
import re
from typing import NamedTuple

from signer.algorithms import ALGORITHMS
from signer.errors import SignatureError

_TOKEN = r"[A-Za-z0-9._-]+"
_ACCESS_KEY = re.compile(_TOKEN)
_CREDENTIAL = re.compile(rf"({_TOKEN})/(\d{{8}})/({_TOKEN})/({_TOKEN})")
_HEADER_NAME = r"[a-z0-9!#$%&'*+.^`|~-]+"  # lowercase HTTP token characters
_SIGNED_HEADERS = re.compile(rf"{_HEADER_NAME}(?:;{_HEADER_NAME})*")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{2,160}")  # plus an even length: 1 to 80 hex bytes
_PARAM_NAMES = {"V11-HMAC-SHA256": ("Credential", "SignedHeaders", "Signature")}
_DEFAULT_PARAM_NAMES = ("Access", "SignedHeaders", "Signature")
_MALFORMED = "verify aksk signature fail, authorization header is malformed"
# The SDK's own spelling, `ALG Access=AK, SignedHeaders=a;b, Signature=hex`, read by one regex; a
# header it does not match (other spacing or order, V11's Credential) takes the general parser,
# which accepts everything this does and reads it identically.
_SDK_FORM = re.compile(rf"([A-Z0-9-]+) Access=({_TOKEN}), SignedHeaders=([^,= ]+), Signature=([0-9a-f]{{2,160}})")
_MEMO_MAX_SIGNED_HEADERS = 256   # longer SignedHeaders values are checked, never memoized


class Authorization(NamedTuple):
    """A parsed `Authorization` header; `scope` ("YYYYMMDD/<region>/<service>") is V11 only."""

    algorithm: str
    access_key: str
    signed_headers: tuple[str, ...]
    signature: str
    scope: str | None


def _fail(detail: str) -> SignatureError:
    return SignatureError(f"{_MALFORMED}: {detail}")


def _params(text: str, expected: tuple[str, ...]) -> dict[str, str]:
    """`Name=value` items separated by ',' (spaces around allowed); each expected name once."""
    params: dict[str, str] = {}
    for item in text.split(","):
        name, sep, value = item.strip(" ").partition("=")
        if not sep or not value:
            raise _fail("expected Name=value items")
        if name not in expected:
            raise _fail(f"unexpected item {name!r}")
        if name in params:
            raise _fail(f"duplicate item {name!r}")
        params[name] = value
    missing = [name for name in expected if name not in params]
    if missing:
        raise _fail(f"missing {', '.join(missing)}")
    return params


def _signed_headers(value: str) -> tuple[str, ...]:
    """Clients repeat the same few SignedHeaders lists: short ones are parsed once."""
    if len(value) <= _MEMO_MAX_SIGNED_HEADERS:
        return _signed_headers_memo(value)
    return _parse_signed_headers(value)


def _parse_signed_headers(value: str) -> tuple[str, ...]:
    if not _SIGNED_HEADERS.fullmatch(value):
        raise _fail("SignedHeaders must be lowercase header names separated by ';'")
    names = tuple(value.split(";"))
    if len(set(names)) != len(names):
        raise _fail("duplicate name in SignedHeaders")
    return names


_signed_headers_memo = functools.lru_cache(maxsize=1024)(_parse_signed_headers)


def _access_and_scope(algorithm: str, params: dict[str, str]) -> tuple[str, str | None]:
    if algorithm == "V11-HMAC-SHA256":
        match = _CREDENTIAL.fullmatch(params["Credential"])
        if not match:
            raise _fail("Credential must be <AK>/<YYYYMMDD>/<region>/<service>")
        return match[1], f"{match[2]}/{match[3]}/{match[4]}"
    if not _ACCESS_KEY.fullmatch(params["Access"]):
        raise _fail("bad Access")
    return params["Access"], None


def parse_authorization(value: str) -> Authorization:
    """Parse `ALGORITHM Access=AK, SignedHeaders=a;b, Signature=hex` (V11: `Credential=AK/scope`).

    Raises SignatureError for unknown algorithms, missing/duplicate/unknown items, bad
    characters or a non-hex signature.
    """
    sdk_form = _SDK_FORM.fullmatch(value)
    if sdk_form is not None:
        algorithm, access_key, signed, signature = sdk_form.groups()
        if algorithm in ALGORITHMS and algorithm not in _PARAM_NAMES and not len(signature) % 2:
            return Authorization(algorithm, access_key, _signed_headers(signed), signature, None)
    algorithm, sep, rest = value.partition(" ")
    if algorithm not in ALGORITHMS:
        raise SignatureError(f"verify aksk signature fail, unsupported algorithm {algorithm[:40]!r}")
    if not sep or not rest.strip():
        raise _fail("no parameters")
    params = _params(rest, _PARAM_NAMES.get(algorithm, _DEFAULT_PARAM_NAMES))
    signature = params["Signature"]
    if not _HEX_SIGNATURE.fullmatch(signature) or len(signature) % 2:
        raise _fail("Signature must be lowercase hex")
    access_key, scope = _access_and_scope(algorithm, params)
    return Authorization(algorithm, access_key, _signed_headers(params["SignedHeaders"]),
                         params["Signature"], scope)


def format_authorization(auth: Authorization) -> str:
    """The header value exactly as the SDK writes it."""
    signed = ";".join(auth.signed_headers)
    if auth.scope is not None:
        credential = f"Credential={auth.access_key}/{auth.scope}"
    else:
        credential = f"Access={auth.access_key}"
    return f"{auth.algorithm} {credential}, SignedHeaders={signed}, Signature={auth.signature}"

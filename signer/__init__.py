"""AK/SK request signing and verification, byte-compatible with huaweicloudsdkcore.

Pure: no aiohttp, asyncio or I/O; clocks are passed in. One canonicalization (`canonical`)
serves signing, verifying, routing (`path_segments`) and policy resources alike.
"""
from signer.algorithms import ALGORITHMS, UNSIGNED_PAYLOAD
from signer.authorization import Authorization, format_authorization, parse_authorization
from signer.canonical import (
    canonical_headers, canonical_query, canonical_request, canonical_uri, path_segments, payload_hash,
)
from signer.errors import PathError, QueryError, SignatureError
from signer.request import SignableRequest
from signer.signing import sign
from signer.derived_keys import DerivedKeyCache
from signer.verification import verify

__all__ = [
    "ALGORITHMS", "UNSIGNED_PAYLOAD", "Authorization", "DerivedKeyCache", "PathError", "QueryError",
    "SignableRequest", "SignatureError", "canonical_headers", "canonical_query", "canonical_request",
    "canonical_uri", "format_authorization", "parse_authorization", "path_segments", "payload_hash",
    "sign", "verify",
]

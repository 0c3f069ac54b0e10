"""The immutable description of a request that signing and verifying work on."""
from __future__ import annotations

from typing import Mapping, NamedTuple


class SignableRequest(NamedTuple):
    """A request as seen on the wire, independent of any HTTP library.

    `raw_path` and `raw_query` are exactly as received (still percent-encoded) because the
    canonical form must be derived from the wire, not from a library's decoded view of it.
    Header names are lowercased by the caller; values are as received. A NamedTuple: immutable,
    and cheap to build once per verified request.
    """

    method: str
    raw_path: str
    raw_query: str
    headers: Mapping[str, str]
    body: bytes

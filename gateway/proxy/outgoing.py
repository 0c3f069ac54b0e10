"""The request the proxy sends upstream, and the one step every upstream auth mode implements."""
from __future__ import annotations

from datetime import datetime
from typing import Callable, NamedTuple, Protocol

from .headers import Headers

Clock = Callable[[], datetime]


class OutgoingRequest(NamedTuple):
    """Exactly what will go upstream: the proxy builds it, an UpstreamAuth adds its headers.

    `body` None means the body is streamed from the client (only for modes that do not sign it).
    """

    method: str
    raw_path: str
    raw_query: str
    headers: Headers
    body: bytes | None
    project_id: str | None


class UpstreamAuth(Protocol):
    """One upstream auth mode. `keeps_client_credentials`: forward the client's auth headers
    (passthrough only). `needs_body`: the mode signs the body, so it must be bytes, not a stream."""

    keeps_client_credentials: bool
    needs_body: bool

    async def apply(self, out: OutgoingRequest) -> OutgoingRequest: ...

    def rejected(self, sent: OutgoingRequest) -> None:
        """The upstream answered 401 to `sent`: drop whatever credential it carried, if cached."""

    def credentials(self, sent: OutgoingRequest) -> tuple[str, ...]:
        """The gateway's own secrets `sent` carries (a token, a signature): an answer that
        reflects one must not hand it to the client."""

    async def close(self) -> None: ...

"""`upstream.auth.mode: token`: a project-scoped IAM token, fetched once and shared.

Every forwarded request needs the token, so under load hundreds of requests may find it missing
or about to expire at the same moment. One refresh task is shared by all of them (single flight):
IAM sees one request, not a stampede. A token inside its refresh margin but not yet expired is
still used while the refresh runs in the background, so requests wait only when there is no
usable token at all.
"""
from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import aiohttp

from ..errors import GatewayError
from .headers import without
from .outgoing import Clock, OutgoingRequest

log = logging.getLogger(__name__)

SessionSource = aiohttp.ClientSession | Callable[[], aiohttp.ClientSession]
_TOKEN_HEADER = "X-Auth-Token"
_SUBJECT_TOKEN = "X-Subject-Token"
_FALLBACK_LIFETIME = timedelta(hours=1)  # when IAM omits expires_at; tokens normally last 24 h


@dataclass(frozen=True)
class CachedToken:
    """A token and when IAM said it expires (aware UTC)."""

    value: str
    expires_at: datetime

    def usable(self, now: datetime) -> bool:
        return now < self.expires_at

    def fresh(self, now: datetime, margin: timedelta) -> bool:
        return now < self.expires_at - margin

    def __repr__(self) -> str:  # a token is a credential: never print it
        return f"CachedToken(expires_at={self.expires_at.isoformat()})"


def password_auth_body(user_name: str, password: str, domain_name: str,
                       project_id: str | None, project_name: str | None) -> dict[str, Any]:
    """The `POST /v3/auth/tokens` password body, scoped to the upstream project."""
    project: dict[str, Any] = {"id": project_id} if project_id else {"name": project_name}
    return {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user_name, "password": password, "domain": {"name": domain_name}}}},
        "scope": {"project": project},
    }}


def parse_expiry(document: Any, now: datetime) -> datetime:
    """`token.expires_at` as an aware datetime; a missing or bad value gives a short lifetime."""
    try:
        raw = document["token"]["expires_at"]
        expires = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError):
        return now + _FALLBACK_LIFETIME
    return expires if expires.tzinfo else expires.replace(tzinfo=timezone.utc)


def tokens_url(iam_url: str) -> str:
    base = iam_url.rstrip("/")
    if not base.endswith("/v3"):
        base += "/v3"
    return base + "/auth/tokens?nocatalog=true"


def default_session_factory(*, trust_env: bool = True) -> aiohttp.ClientSession:
    """The upstream IAM's session; `trust_env`: HTTP(S)_PROXY / NO_PROXY apply (aiohttp tunnels
    https through CONNECT), as for the upstream itself (`upstream.trust_env`)."""
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10), trust_env=trust_env)


class TokenUpstreamAuth:
    """Adds `X-Auth-Token` with a cached project-scoped token; refreshes it with one request."""

    keeps_client_credentials = False
    needs_body = False

    def __init__(self, session: SessionSource, *, iam_url: str, user_name: str, password: str,
                 domain_name: str, project_id: str | None = None, project_name: str | None = None,
                 clock: Clock, refresh_margin_s: float = 300) -> None:
        if not (project_id or project_name):
            raise ValueError("token upstream auth needs project_id or project_name")
        self._session_source = session
        self._session: aiohttp.ClientSession | None = (
            session if isinstance(session, aiohttp.ClientSession) else None)
        self._owns_session = self._session is None
        self._url = tokens_url(iam_url)
        self._body = json.dumps(password_auth_body(user_name, password, domain_name,
                                                   project_id, project_name)).encode()
        self._clock = clock
        self._margin = timedelta(seconds=refresh_margin_s)
        self._cached: CachedToken | None = None
        self._refresh: asyncio.Task[CachedToken] | None = None

    def __repr__(self) -> str:  # never show the password or the token
        return f"TokenUpstreamAuth(url={self._url!r})"

    async def apply(self, out: OutgoingRequest) -> OutgoingRequest:
        token = await self.current_token()
        headers = without(out.headers, frozenset({_TOKEN_HEADER.lower()})) + ((_TOKEN_HEADER, token),)
        return out._replace(headers=headers)

    async def current_token(self) -> str:
        now = self._clock()
        cached = self._cached
        if cached is not None and cached.fresh(now, self._margin):
            return cached.value
        refresh = self._start_refresh()
        if cached is not None and cached.usable(now):
            return cached.value
        # shield: a waiter that gives up (client gone) must not cancel the others' refresh
        return (await asyncio.shield(refresh)).value

    def rejected(self, sent: OutgoingRequest) -> None:
        """DDM said 401 with our token (revoked early, clock skew...): the next request fetches anew.
        Only the token that was refused is dropped, so a refresh already done is kept."""
        used = next((value for name, value in sent.headers if name.lower() == _TOKEN_HEADER.lower()), None)
        if self._cached is not None and used == self._cached.value:
            self._cached = None

    def credentials(self, sent: OutgoingRequest) -> tuple[str, ...]:
        for name, value in reversed(sent.headers):   # `apply` put it last
            if name == _TOKEN_HEADER:
                return (value,)
        return ()

    async def close(self) -> None:
        if self._refresh is not None and not self._refresh.done():
            self._refresh.cancel()
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _start_refresh(self) -> asyncio.Task[CachedToken]:
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.create_task(self._fetch())
            self._refresh.add_done_callback(_log_failure)
        return self._refresh

    async def _fetch(self) -> CachedToken:
        session = self._session_for_iam()
        headers = {"Content-Type": "application/json;charset=utf8"}
        try:
            async with session.post(self._url, data=self._body, headers=headers) as resp:
                document = await _json_or_none(resp)
                token = resp.headers.get(_SUBJECT_TOKEN)
                if resp.status != 201 or not token:
                    log.error("upstream IAM refused the gateway's token request: HTTP %s", resp.status)
                    raise GatewayError.of("bad_gateway")
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            log.error("upstream IAM unreachable: %s", type(err).__name__)
            raise GatewayError.of("bad_gateway") from err
        fetched = CachedToken(token, parse_expiry(document, self._clock()))
        self._cached = fetched
        return fetched

    def _session_for_iam(self) -> aiohttp.ClientSession:
        if self._session is None:
            factory = self._session_source
            assert callable(factory)
            self._session = factory()
        return self._session


async def _json_or_none(resp: aiohttp.ClientResponse) -> Any:
    try:
        return json.loads(await resp.content.read(1 << 20))
    except ValueError:
        return None


def _log_failure(task: asyncio.Task[CachedToken]) -> None:
    """Retrieve a background refresh's failure so it is logged once, not warned about at exit."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("upstream token refresh failed; the next request retries")

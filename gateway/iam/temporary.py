"""Temporary AK/SK (`POST /v3.0/OS-CREDENTIAL/securitytokens`), verifiable by any replica, stored nowhere.

WHY this design:
- The security token is the whole credential: the principal's claims and the expiry, sealed with
  AES-256-GCM under a key derived from the server secret. GCM authenticates it (no forgery, no
  tampering) and also hides user and domain names, because the token rides in the
  `X-Security-Token` header of every request and proxies may log headers.
- The access key is derived from the token (HMAC, base32, 20 uppercase characters like a Huawei
  AK), so a signature made with some other AK cannot borrow this token.
- The secret key is HMAC("tmp-secret|AK|expires_at") under another derived key: recomputed on
  each request, never stored and never carried in the token.
- Every key comes from `server_secret` (itself derived from the token signing key), so replicas
  sharing the key file agree without Redis; rotating the signing key ends outstanding temporary
  credentials, which last 24 h at most.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any, Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .tokens import TokenClaims, TokenError, TokenExpired

MIN_DURATION_S = 900
MAX_DURATION_S = 86400
MIN_SERVER_SECRET_BYTES = 16
MAX_SECURITY_TOKEN_CHARS = 8 * 1024
TOKEN_VERSION = b"\x01"      # also the GCM associated data, so a future format cannot be confused
NONCE_BYTES = 12
ACCESS_KEY_LENGTH = 20
SECRET_KEY_LENGTH = 40
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class TemporaryCredential:
    """What the securitytokens route returns: `access`, `secret`, `securitytoken`, `expires_at`."""

    access: str
    secret: str
    security_token: str
    expires_at: int  # epoch seconds


def derive_key(server_secret: bytes, purpose: bytes) -> bytes:
    """One independent 32-byte key per purpose, so no key is used for two jobs."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"ddm-gateway/temporary", info=purpose)
    return hkdf.derive(server_secret)


def base62(data: bytes, length: int) -> str:
    """Alphanumerics like a Huawei SK; 32 bytes give 43 digits, of which `length` are kept."""
    number = int.from_bytes(data, "big")
    digits: list[str] = []
    while len(digits) < length:
        number, digit = divmod(number, 62)
        digits.append(BASE62[digit])
    return "".join(digits)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TemporaryCredentialService:
    """Issues temporary AK/SK for a verified token's principal and resolves them per request."""

    def __init__(self, server_secret: bytes, *, clock: Callable[[], float]) -> None:
        if len(server_secret) < MIN_SERVER_SECRET_BYTES:
            raise ValueError(f"server_secret must have at least {MIN_SERVER_SECRET_BYTES} bytes")
        self._sealer = AESGCM(derive_key(server_secret, b"security-token/aes-256-gcm/v1"))
        self._access_key = derive_key(server_secret, b"access-key/hmac-sha256/v1")
        self._secret_key = derive_key(server_secret, b"secret-key/hmac-sha256/v1")
        self._clock = clock

    def issue(self, claims: TokenClaims, *, duration_s: int = MIN_DURATION_S) -> TemporaryCredential:
        """A credential for `claims`' principal, valid `duration_s` (900..86400) from now, but
        never past the expiry of the token it was obtained with (`claims.expires_at`)."""
        if isinstance(duration_s, bool) or not isinstance(duration_s, int) \
                or not MIN_DURATION_S <= duration_s <= MAX_DURATION_S:
            raise ValueError(f"duration_s must be an integer from {MIN_DURATION_S} to {MAX_DURATION_S}")
        issued_at = int(self._clock())
        expires_at = min(issued_at + duration_s, claims.expires_at)
        document = {"iat": issued_at, "exp": expires_at, "principal": claims.to_payload()}
        security_token = self._seal(json.dumps(document, separators=(",", ":")).encode("utf-8"))
        access = self.access_for(security_token)
        return TemporaryCredential(access, self.secret_for(access, expires_at), security_token, expires_at)

    def resolve(self, access: str, security_token: str) -> tuple[str, TokenClaims]:
        """(secret, principal claims) for a request signed with a temporary AK; else TokenError."""
        if not isinstance(security_token, str) or len(security_token) > MAX_SECURITY_TOKEN_CHARS:
            raise TokenError("securitytoken is malformed")
        if not isinstance(access, str) or not hmac.compare_digest(
                self.access_for(security_token).encode("ascii"), access.encode("utf-8")):
            raise TokenError("ak does not match the securitytoken")
        document = self._open(security_token)
        expires_at, claims = _expiry(document), _principal(document)
        if self._clock() >= expires_at:
            raise TokenExpired("The securitytoken has expired.")
        return self.secret_for(access, expires_at), claims

    def access_for(self, security_token: str) -> str:
        """20 uppercase base32 characters bound to this exact token."""
        digest = hmac.new(self._access_key, security_token.encode("utf-8"), hashlib.sha256).digest()
        return base64.b32encode(digest).decode("ascii")[:ACCESS_KEY_LENGTH]

    def secret_for(self, access: str, expires_at: int) -> str:
        message = f"tmp-secret|{access}|{expires_at}".encode("utf-8")
        return base62(hmac.new(self._secret_key, message, hashlib.sha256).digest(), SECRET_KEY_LENGTH)

    def _seal(self, plaintext: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        return b64url(TOKEN_VERSION + nonce + self._sealer.encrypt(nonce, plaintext, TOKEN_VERSION))

    def _open(self, security_token: str) -> dict[str, Any]:
        """The decrypted document; a bad encoding, version, tag or JSON all read as 'invalid'."""
        try:
            sealed = unb64url(security_token)
        except (binascii.Error, ValueError):
            raise TokenError("securitytoken is malformed") from None
        version, nonce, ciphertext = sealed[:1], sealed[1:1 + NONCE_BYTES], sealed[1 + NONCE_BYTES:]
        if version != TOKEN_VERSION or len(ciphertext) < 16:
            raise TokenError("securitytoken is malformed")
        try:
            document = json.loads(self._sealer.decrypt(nonce, ciphertext, TOKEN_VERSION))
        except InvalidTag:
            raise TokenError("securitytoken is invalid") from None
        except ValueError:
            raise TokenError("securitytoken is malformed") from None
        if not isinstance(document, dict):
            raise TokenError("securitytoken is malformed")
        return document


def _expiry(document: dict[str, Any]) -> int:
    value = document.get("exp")
    if not isinstance(value, int) or isinstance(value, bool):
        raise TokenError("securitytoken is malformed")
    return value


def _principal(document: dict[str, Any]) -> TokenClaims:
    principal = document.get("principal")
    if not isinstance(principal, dict):
        raise TokenError("securitytoken is malformed")
    return TokenClaims.from_payload(principal)

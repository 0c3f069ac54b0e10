"""Bridges between the official SDK's signer classes and our `SignableRequest` (no tests here).

The SDK signs an `SdkRequest` in place; these helpers run it exactly as `Credentials.sign_request`
does and read back what would go on the wire.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import (
    DerivationAKSKSigner, P256SHA256Signer, SM2SM3Signer, SM3Signer, Signer,
)

from signer import SignableRequest

SDK_SIGNERS = {
    "SDK-HMAC-SHA256": Signer,
    "SDK-HMAC-SM3": SM3Signer,
    "SDK-ECDSA-P256-SHA256": P256SHA256Signer,
    "V11-HMAC-SHA256": DerivationAKSKSigner,
    "SDK-SM2-SM3": SM2SM3Signer,
}
REGION, SERVICE = "cn-north-4", "ddm"
AK, SK = "HPUAXXXXXXXXXXXXXXX1", "s3cr3tSKs3cr3tSKs3cr3tSKs3cr3tSKs3cr3tSK"


@dataclass(frozen=True)
class Credentials:
    """What the SDK's signers read from a credentials object."""

    ak: str
    sk: str


def sdk_request(method: str, resource_path: str, query_params: list[tuple[str, Any]],
                headers: dict[str, str], body: bytes, host: str = "ddm.example.com:8443") -> SdkRequest:
    """An SdkRequest as ApiClient.build_future_request leaves it (Host is added by the signer)."""
    return SdkRequest(method=method, schema="https", host=host, resource_path=resource_path,
                      query_params=[(k, list(v) if isinstance(v, list) else v) for k, v in query_params],
                      header_params=dict(headers), body=body)


def sdk_sign(request: SdkRequest, algorithm: str, ak: str = AK, sk: str = SK) -> SdkRequest:
    signer_class = SDK_SIGNERS[algorithm]
    if algorithm == "V11-HMAC-SHA256":
        return signer_class(Credentials(ak, sk)).sign(request, SERVICE, REGION)
    return signer_class(Credentials(ak, sk)).sign(request)


def sdk_wire_query(query_params: list[tuple[str, Any]]) -> str:
    """The query string the SDK puts on the wire for these parameters."""
    request = sdk_request("GET", "/", query_params, {}, b"")
    return Signer.process_canonical_query_string(request)


def as_received(request: SdkRequest) -> SignableRequest:
    """What a server sees: the wire URI split, header names lowercased, values decoded as UTF-8
    (the SDK hands urllib3 latin-1 strings holding the UTF-8 bytes)."""
    path, _, query = request.uri.partition("?")
    headers = {name.lower(): value.encode("latin-1").decode("utf-8")
               for name, value in request.header_params.items()}
    body = request.body or b""
    return SignableRequest(request.method, path, query, headers, body)


class CapturingP256Signer(P256SHA256Signer):
    """The SDK's ECDSA signer, remembering the string it signed (to check OUR signature on it)."""

    captured: str = ""

    def _sign_string_to_sign(self, data: str, key: str | None = None) -> str:
        self.captured = data
        return super()._sign_string_to_sign(data, key)

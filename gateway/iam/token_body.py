"""Token and project bodies shaped like Huawei IAM's (Keystone v3) answers."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..identity import Identity, Project
from .tokens import TokenClaims


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def token_body(claims: TokenClaims, identity: Identity, *, region: str, public_url: str,
               with_catalog: bool) -> dict[str, Any]:
    domain = {"id": claims.domain_id, "name": claims.domain_name}
    token: dict[str, Any] = {
        "methods": list(claims.methods),
        "expires_at": iso(claims.expires_at),
        "issued_at": iso(claims.issued_at),
        "user": {"id": claims.user_id, "name": claims.user_name, "domain": domain,
                 "password_expires_at": ""},
        "roles": [{"id": "0", "name": group} for group in identity.groups]
                 or [{"id": "0", "name": "op_service"}],
    }
    if claims.project_id is not None:
        token["project"] = {"id": claims.project_id, "name": claims.project_name, "domain": domain}
    else:
        token["domain"] = domain
    if with_catalog:
        token["catalog"] = catalog(region, public_url)
    return {"token": token}


def catalog(region: str, public_url: str) -> list[dict[str, Any]]:
    """This gateway is both the identity and the ddm endpoint of its region."""
    def endpoint(url: str, suffix: str) -> dict[str, Any]:
        return {"id": f"{suffix}-{region}", "interface": "public", "region": region,
                "region_id": region, "url": url}
    return [
        {"id": "identity", "name": "iam", "type": "identity",
         "endpoints": [endpoint(public_url.rstrip("/") + "/v3", "iam")]},
        {"id": "ddm", "name": "ddm", "type": "ddm",
         "endpoints": [endpoint(public_url.rstrip("/"), "ddm")]},
    ]


def project_body(project: Project, public_url: str) -> dict[str, Any]:
    return {"id": project.id, "name": project.name, "domain_id": project.domain_id,
            "parent_id": project.domain_id, "is_domain": False, "enabled": True, "description": "",
            "links": {"self": f"{public_url.rstrip('/')}/v3/projects/{project.id}"}}


def domain_body(domain: Any, public_url: str) -> dict[str, Any]:
    return {"id": domain.id, "name": domain.name, "enabled": True, "description": "",
            "links": {"self": f"{public_url.rstrip('/')}/v3/domains/{domain.id}"}}

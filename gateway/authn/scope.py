"""Part of authentication for DDM routes: the project in the path must be the caller's.

A token is valid for its own project only (in the path and in X-Project-Id); an AK/SK request's
X-Project-Id, when present, must name the path's project; and the project must belong to the
caller's domain (403 APIGW.0310).
"""
from __future__ import annotations

from ..errors import GatewayError
from ..identity import IdentityDirectory, Project
from ..principal import AUTH_TOKEN, Principal


def check_project_scope(principal: Principal, path_project_id: str | None,
                        directory: IdentityDirectory, *,
                        header_project_id: str | None = None) -> Project | None:
    """`header_project_id`: X-Project-Id as sent; with a token it must name the token's project
    too (an AK/SK principal's project already is that header)."""
    if principal.auth_method == AUTH_TOKEN and header_project_id is not None \
            and header_project_id != principal.project_id:
        raise _unavailable(header_project_id)
    if path_project_id is None:
        return None
    project = directory.project(path_project_id)
    if project is None or project.domain_id != principal.domain_id:
        raise _unavailable(path_project_id)
    if principal.auth_method == AUTH_TOKEN and principal.project_id != path_project_id:
        raise _unavailable(path_project_id)
    if principal.project_id is not None and principal.project_id != path_project_id:
        raise _unavailable(path_project_id)
    return project


def _unavailable(project_id: str) -> GatewayError:
    return GatewayError.of("project_unavailable",
                           f"The project is unavailable: {project_id} is not in the scope of this credential.")

"""Part of authentication for DDM routes: the project in the path must be the caller's.

A token is valid for its own project only; an AK/SK request's X-Project-Id, when present, must
name the path's project; and the project must belong to the caller's domain (403 APIGW.0310).
"""
from __future__ import annotations

from ..errors import GatewayError
from ..identity import IdentityDirectory, Project
from ..principal import AUTH_TOKEN, Principal


def check_project_scope(principal: Principal, path_project_id: str | None,
                        directory: IdentityDirectory) -> Project | None:
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

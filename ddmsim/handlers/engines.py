"""Read-only catalogue routes: API versions, engines, flavors (4.1.1, 4.2.17, 4.2.18, 4.2.22, 4.2.23)."""
from __future__ import annotations

from typing import Any, Mapping

from ddmsim.catalog import engine_by_id, load_catalog
from ddmsim.context import Ctx, page
from ddmsim.errors import fail

API_VERSIONS = (
    {"id": "v3", "links": [], "status": "CURRENT", "updated": "2019-01-15T12:00:00Z", "version": ""},
    {"id": "v2", "links": [], "status": "SUPPORTED", "updated": "2018-06-01T12:00:00Z", "version": ""},
    {"id": "v1", "links": [], "status": "DEPRECATED", "updated": "2017-02-07T17:34:02Z", "version": ""},
)


def list_api_versions(ctx: Ctx) -> dict[str, Any]:
    return {"versions": [dict(v) for v in API_VERSIONS]}


def _zones() -> list[Mapping[str, Any]]:
    return load_catalog()["availability_zones"]


def list_engines_v2(ctx: Ctx) -> dict[str, Any]:
    engines = load_catalog()["engines"]
    rows = [{"id": e["id"], "name": e["name"], "version": e["version"],
             "supportAzs": [{"code": z["code"], "name": z["name"], "favored": i == 0}
                            for i, z in enumerate(_zones())]} for e in engines]
    return {"engineGroups": page(rows, ctx.query["offset"], ctx.query["limit"]),
            "offset": ctx.query["offset"], "limit": ctx.query["limit"], "total": len(rows)}


def list_engines_v3(ctx: Ctx) -> dict[str, Any]:
    rows = [{"id": e["id"], "name": e["name"], "version": e["version"]} for e in load_catalog()["engines"]]
    return {"engine_groups": page(rows, ctx.query["offset"], ctx.query["limit"]),
            "offset": ctx.query["offset"], "limit": ctx.query["limit"], "total": len(rows)}


def _by_architecture() -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for flavor in load_catalog()["flavors"]:
        groups.setdefault(flavor["architecture"], []).append(flavor)
    return groups


def _flavor_v2(flavor: Mapping[str, Any]) -> dict[str, Any]:
    codes = ",".join(z["code"] for z in _zones())
    return {"id": flavor["id"], "typeCode": "hws.resource.type.ddm", "code": flavor["spec_code"],
            "iaasCode": flavor["iaas_code"], "cpu": str(flavor["cpu"]), "mem": str(flavor["mem"]),
            "maxConnections": "null", "serverType": "KVM", "architecture": flavor["architecture"],
            "azStatus": {z["code"]: "normal" for z in _zones()}, "regionStatus": "normal",
            "groupType": flavor["architecture"], "dbType": "DDM",
            "extendFields": {"azCode": codes, "azDescription": codes}}


def list_flavors_v2(ctx: Ctx) -> dict[str, Any]:
    if engine_by_id(ctx.query["engine_id"]) is None:
        raise fail("parameter_error")
    offset, limit = ctx.query["offset"], ctx.query["limit"]
    return {"computeFlavorGroups": [
        {"groupType": arch, "offset": offset, "limit": limit, "total": len(flavors),
         "computeFlavors": [_flavor_v2(f) for f in page(flavors, offset, limit)]}
        for arch, flavors in _by_architecture().items()]}


def _flavor_v3(flavor: Mapping[str, Any], zones: list[Mapping[str, Any]]) -> dict[str, Any]:
    return {"id": flavor["id"], "spec_code": flavor["spec_code"], "vcpus": str(flavor["cpu"]),
            "ram": str(flavor["mem"]),
            "az_infos": [{"code": z["code"], "status": "normal", "description": z["description"],
                          "support_ipv6": True} for z in zones]}


def _requested_zones(raw: str | None) -> list[Mapping[str, Any]]:
    if not raw:
        return _zones()
    wanted = [code.strip() for code in raw.split(",")]
    known = {z["code"]: z for z in _zones()}
    if any(code not in known for code in wanted):
        raise fail("parameter_error")
    return [known[code] for code in wanted]


def list_flavors_v3(ctx: Ctx) -> dict[str, Any]:
    """Engine id or engine version must be given, and must name a known engine (4.2.23)."""
    engine_id, version = ctx.query["engine_id"], ctx.query["engine_version"]
    engines = load_catalog()["engines"]
    if not engine_id and not version:
        raise fail("parameter_error")
    if not any((not engine_id or e["id"] == engine_id) and (not version or e["version"] == version)
               for e in engines):
        raise fail("parameter_error")
    zones = _requested_zones(ctx.query["available_zones"])
    offset, limit = ctx.query["offset"], ctx.query["limit"]
    return {"flavor_groups": [
        {"group_type": arch, "offset": offset, "limit": limit, "total": len(flavors),
         "flavors": [_flavor_v3(f, zones) for f in page(flavors, offset, limit)]}
        for arch, flavors in _by_architecture().items()]}

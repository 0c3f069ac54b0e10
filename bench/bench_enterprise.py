"""What filtering an instance list costs: a 500-instance list in three enterprise projects.

    python -m bench.bench_enterprise [--rounds N]

The filter phase of a caller whose decisions depend on enterprise projects parses every upstream
page (4 of 128 here), decides once per enterprise project (the bench's 10 policies x 8
statements, granted in one of the three), keeps what it may see, pages it and serializes one
page. Baseline in the same script: parsing the same pages and serializing the same page without
deciding or filtering, i.e. what any rewrite of the list costs. Interleaved rounds, medians
(wall clock: noisy on a shared machine; the ratio is the figure to read).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from gateway.config import parse_config
from gateway.enterprise_projects import parse_json
from gateway.grants import GrantResolver
from gateway.identity import IdentityDirectory
from gateway.pipeline.authorize import visibility
from gateway.pipeline.filter import UPSTREAM_PAGE, filter_documents
from policies import RouteCatalog

from . import serve_gateway

INSTANCES = 500
EPS = (serve_gateway.BENCH_EP, "c3e5a7b9-2d4f-4b6c-8d0e-f2a3b4c5d6e7", "0")


def instance(n: int) -> dict[str, Any]:
    """A ListInstances item shaped as ddmsim's (table 4-16)."""
    return {"id": f"{n:032x}in09", "status": "RUNNING", "name": f"ddm-bench-{n:04d}",
            "created": "2026-11-28T10:00:00+0000", "updated": "2026-11-28T10:00:00+0000",
            "available_zone": "az1", "vpc_id": "vpc-1", "subnet_id": "subnet-1", "security_group_id": "sg-1",
            "node_count": 2, "access_ip": "192.168.0.10", "access_port": "5066", "node_status": "RUNNING",
            "enterprise_project_id": EPS[n % len(EPS)], "project_id": serve_gateway.PROJECT_ID,
            "engine_version": "3.0.8.5", "order_id": None, "enable_ssl": False, "core_count": "2",
            "ram_capacity": "4", "flavor_ref": "ddm.c6.large.2"}


def pages() -> list[bytes]:
    items = [instance(n) for n in range(INSTANCES)]
    return [json.dumps({"instances": items[o:o + UPSTREAM_PAGE], "instance_num": INSTANCES,
                        "page_no": o // UPSTREAM_PAGE + 1, "page_size": len(items[o:o + UPSTREAM_PAGE]),
                        "total_record": INSTANCES, "total_page": 4}).encode()
            for o in range(0, INSTANCES, UPSTREAM_PAGE)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--lists", type=int, default=20, help="lists per round and variant")
    args = parser.parse_args()
    config = parse_config(serve_gateway.config_dict(port=1, admin_port=2, upstream="http://127.0.0.1:9",
                                                    state_dir="/tmp/unused", enterprise_project=True), environ={})
    identity = IdentityDirectory(config.iam).by_user_id(serve_gateway.USER_ID)
    project = IdentityDirectory(config.iam).project(serve_gateway.PROJECT_ID)
    grants = GrantResolver(config.iam).grants_for(identity, project)
    scope = RouteCatalog.load_default().match("GET", ("", "v1", "p", "instances")).enterprise_project
    raw = pages()
    context = {"g:UserName": serve_gateway.USER, "g:CurrentTime": "2026-11-28T10:00:00Z"}

    def filtered() -> bytes:
        visible = visibility(grants, "ddm:instance:list", context, domain_owner=False)
        return filter_documents([parse_json(p) for p in raw], scope, visible, 0, 10)[0]

    def baseline() -> bytes:
        documents = [parse_json(p) for p in raw]
        return json.dumps(dict(documents[0], instances=documents[0]["instances"][:10])).encode()

    shown = json.loads(filtered())
    assert shown["total_record"] == len([n for n in range(INSTANCES) if n % 3 == 0]), shown["total_record"]
    times: dict[str, list[float]] = {"filtered": [], "baseline": []}
    for _ in range(args.rounds):
        for name, run in (("filtered", filtered), ("baseline", baseline)):
            started = time.perf_counter()
            for _ in range(args.lists):
                run()
            times[name].append((time.perf_counter() - started) / args.lists * 1e6)
    f, b = statistics.median(times["filtered"]), statistics.median(times["baseline"])
    print(f"filter a {INSTANCES}-instance list ({len(raw)} pages, {len(EPS)} enterprise projects, "
          f"{shown['total_record']} visible): {f:,.0f} us/list; parse + one page alone: {b:,.0f} us "
          f"(filtering adds {f - b:,.0f} us, x{f / b:.2f})")


if __name__ == "__main__":
    main()

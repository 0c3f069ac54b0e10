"""Generated request ids: well-formed, unique, and different in forked workers."""
from __future__ import annotations

import os

from gateway.http.request_id import _WELL_FORMED, choose_request_id, new_request_id


def test_generated_ids_are_32_hex_digits_and_unique() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(rid) == 32 and int(rid, 16) >= 0 and _WELL_FORMED.fullmatch(rid) for rid in ids)


def test_a_well_formed_client_id_is_kept_and_a_bad_one_replaced() -> None:
    assert choose_request_id("client-42") == "client-42"
    assert len(choose_request_id("bad id\n")) == 32
    assert len(choose_request_id(None)) == 32


def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write, new_request_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    assert len(child) == 32 and child != new_request_id()


def test_every_route_of_the_public_app_runs_the_request_id_stage(tmp_path) -> None:
    """No middleware any more: each handler must be wrapped, or its answers lose their id and log line."""
    from gateway.http.app import create_app
    from gateway.config import demo_config
    from gateway.http.request_id import with_request_id

    app = create_app(demo_config(state_dir=tmp_path))
    wrapper_code = with_request_id(lambda request, head: None).__code__   # type: ignore[arg-type, return-value]
    routes = list(app.router.routes())
    assert len(routes) > 10 and not app.middlewares
    for route in routes:
        assert route.handler.__code__ is wrapper_code, route

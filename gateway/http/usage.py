"""GET /ddm-gateway/v1/usage: the caller's own budgets, as the limiter sees them right now.

Authenticated exactly like a DDM call (token or AK/SK; a locked AK is refused) and not counted:
the answer comes from the store's `peek`, the same script or maths as `acquire` told to record
nothing, so `remaining` is what the next requests will find.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from ..errors import GatewayError
from ..limits import RuleState, StoreUnavailable
from ..limits.ruleset import Budget
from ..pipeline.ddm import meaningless_body
from ..request import RequestHead
from ..services import SERVICES
from .request_id import notes_of

USAGE_PATH = "/ddm-gateway/v1/usage"


async def handle_usage(request: web.Request, head: RequestHead) -> web.StreamResponse:
    services = request.app[SERVICES]
    runtime = services.runtime
    notes = notes_of(request)
    if request.body_exists:   # a GET: nothing to read, and nothing is buffered for anyone
        raise meaningless_body()
    principal, _ = await services.authn.authenticate(head, runtime, read_body=None)
    notes.principal = principal
    budgets = runtime.rules.budgets(principal)
    await services.authn.refuse_locked(principal)
    try:
        states = await services.store.peek([budget.rule for budget in budgets])
    except StoreUnavailable:
        raise GatewayError.of("store_unavailable") from None
    response = web.json_response({"user": {"id": principal.user_id, "name": principal.user_name,
                                           "domain": principal.domain_name},
                                  "budgets": [budget_body(b, s) for b, s in zip(budgets, states)]})
    response.headers["Cache-Control"] = "no-store"
    return response


def budget_body(budget: Budget, state: RuleState) -> dict[str, Any]:
    """One budget: its rule, what it counts, and how much of it is left."""
    body: dict[str, Any] = {"rule": budget.rule.name, "per": budget.per, "mode": budget.mode,
                            "actions": list(budget.actions) if budget.actions is not None else None,
                            "limit": state.limit, "window_s": int(budget.rule.window_s),
                            "remaining": state.remaining, "reset_s": round(state.reset_s, 3),
                            "next_free_s": round(state.free_s, 3)}
    if budget.group is not None:
        body["group"] = budget.group
    return body

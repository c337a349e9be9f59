"""``GET /agents/{slug}/workflows`` and ``GET /agents/{slug}/workflow-status?workflow_id=``.

The Azure Functions agents runtime's routes for a chat client's progress cards: the
calling session's workflows (``{"workflows": [envelope, ...]}``, newest update first;
``[]`` without ``x-ms-session-id``), and one workflow's envelope (400 without the
header or the id; 404 for an id that is not this session's). Authorised as
``/history`` is: the agent's ``http_auth``, and a session of another principal is
not found. Each envelope carries agentdown's ``agent``, ``tasks`` and, once ended,
``notification`` (:mod:`agentdown.runtime.workflows.views`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentdown.app.spec import AgentSpec
from agentdown.runtime.pending import owner_digest
from agentdown.runtime.workflows import ensure_workflow_host, owned_workflow, workflow_view
from agentdown.server.context import SESSION_HEADER, ServerContext, session_id_of
from agentdown.server.errors import ApiError, api_endpoint
from agentdown.server.turns import refusals
from agentdown.workflows.planned.plan import MAX_LIST_WORKFLOWS_RESULTS

__all__ = ["workflow_routes"]

_NO_STORE = {"cache-control": "no-store"}


def _enabled(spec: AgentSpec) -> bool:
    return spec.workflows is not None and spec.workflows.enabled


def workflow_routes(ctx: ServerContext) -> list[Route]:
    async def owned_session(spec: AgentSpec, session_id: str, principal: str | None) -> None:
        # The session's owner is checked as /history checks it: another caller's is not found.
        with refusals(session_id):
            await ctx.runner.history(spec.slug, session_id, max_messages=1, principal=principal)

    @api_endpoint
    async def workflows(request: Request) -> Response:
        spec = ctx.spec(request.path_params["slug"], "chat_api")
        principal = ctx.authorizer.require_agent(request, spec.http_auth)
        session_id = session_id_of(request, new=False)
        if session_id is None or not _enabled(spec):
            return JSONResponse({"workflows": []}, headers=_NO_STORE)
        await owned_session(spec, session_id, principal)
        service = (await ensure_workflow_host(ctx.catalog)).service
        owner = owner_digest(principal)
        found = [
            w
            for w in await service.session_workflows(spec.slug, session_id)
            if w.body.get("owner") in (None, owner)
        ]
        body = {"workflows": [workflow_view(w) for w in found[:MAX_LIST_WORKFLOWS_RESULTS]]}
        return JSONResponse(body, headers={SESSION_HEADER: session_id, **_NO_STORE})

    @api_endpoint
    async def workflow_status(request: Request) -> Response:
        spec = ctx.spec(request.path_params["slug"], "chat_api")
        principal = ctx.authorizer.require_agent(request, spec.http_auth)
        session_id = session_id_of(request, new=False)
        workflow_id = (request.query_params.get("workflow_id") or "").strip()
        if session_id is None or not workflow_id:
            raise ApiError(
                400,
                f"missing session or workflow_id: send the {SESSION_HEADER} header and ?workflow_id=",
                "missing_session_id" if session_id is None else "missing_workflow_id",
            )
        found = None
        if _enabled(spec):
            await owned_session(spec, session_id, principal)
            service = (await ensure_workflow_host(ctx.catalog)).service
            found = await owned_workflow(
                service, spec.slug, session_id, workflow_id, owner=owner_digest(principal)
            )
        if found is None:
            raise ApiError(404, "workflow not found", "workflow_not_found")
        return JSONResponse(workflow_view(found), headers={SESSION_HEADER: session_id, **_NO_STORE})

    return [
        Route("/agents/{slug}/workflows", workflows, methods=["GET"]),
        Route("/agents/{slug}/workflow-status", workflow_status, methods=["GET"]),
    ]

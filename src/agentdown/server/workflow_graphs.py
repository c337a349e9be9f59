"""Routes of the app's Python workflow graphs (``workflows/*.py``), run durably.

* ``POST /workflows/{name}/runs`` ``{"input": ...}`` -> ``{"id", "status"}`` (202)
* ``GET /workflows/{name}/runs`` -> the caller's runs of that workflow, newest first
* ``GET /workflows/{name}/runs/{id}`` -> status, iteration, outputs, pending requests, error
* ``POST /workflows/{name}/runs/{id}/responses`` ``{"responses": {request_id: value}}``

Every request passes the app's default ``http_auth`` (``agents.config.yaml``, else
``function``), with the keys the other routes take. A run belongs to the caller's
principal when one is known: another caller's run is a 404, like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentdown.app.spec import HttpAuth
from agentdown.runtime.agents_api.assistants import owner_key
from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.ids import is_record_id
from agentdown.runtime.agents_api.store import AgentsStoreError
from agentdown.runtime.workflow_graphs.engine import GraphEngine, RunError
from agentdown.runtime.workflow_graphs.records import RUN, served
from agentdown.server.agents_api.http import keyed
from agentdown.server.context import ServerContext
from agentdown.server.errors import STORE_RETRY_AFTER, ApiError, api_endpoint, read_json_object
from agentdown.server.schemas import GraphRunCreate, GraphRunResponses, validated

__all__ = ["workflow_graph_routes"]


def workflow_graph_routes(ctx: ServerContext, api: AgentsApi) -> list[Route]:
    """The routes, or none when the app has no ``workflows/`` graphs (a broken module fails here)."""
    graphs = ctx.catalog.workflow_graphs
    if not graphs:
        return []
    door = ctx.catalog.config.http_auth or HttpAuth()
    limit = ctx.settings.max_body_bytes

    def owner(request: Request) -> str:
        return owner_key(ctx.authorizer.require_agent(keyed(request), door))

    async def engine() -> GraphEngine:
        try:
            await api.ensure_runs()
        except AgentsStoreError:
            raise
        except Exception as exc:
            raise ApiError(503, f"workflow runs are not available here: {exc}", "unavailable") from exc
        if api.graphs is None:
            raise ApiError(503, "workflow runs are not available here", "unavailable")
        return api.graphs.engine

    def run_id(request: Request) -> str:
        value = str(request.path_params["run_id"])
        if not is_record_id(value):
            raise RunError(404, f"no run {value!r:.80}", "not_found")
        return value

    def guarded(endpoint: Any) -> Any:
        @api_endpoint
        async def wrapper(request: Request) -> Response:
            try:
                response: Response = await endpoint(request)
                return response
            except RunError as exc:
                raise ApiError(exc.status, str(exc), exc.code) from None
            except AgentsStoreError as exc:
                raise ApiError(
                    503,
                    f"the run store is unavailable: {exc}",
                    "store_unavailable",
                    {"retry-after": str(STORE_RETRY_AFTER)},
                ) from None

        return wrapper

    @guarded
    async def create(request: Request) -> Response:
        who = owner(request)
        body = validated(GraphRunCreate, await read_json_object(request, limit))
        run = await (await engine()).start(str(request.path_params["name"]), body.input, who)
        return JSONResponse({"id": run["id"], "status": run["status"]}, status_code=202)

    @guarded
    async def show(request: Request) -> Response:
        who = owner(request)
        record = await (await engine()).get(str(request.path_params["name"]), run_id(request), who)
        return JSONResponse(served(record.body))

    @guarded
    async def listing(request: Request) -> Response:
        who = owner(request)
        eng = await engine()
        name = str(request.path_params["name"])
        eng.graph(name)
        page = await eng.store.list(RUN, name, limit=100, order="desc", where={"_owner": who})
        return JSONResponse({"data": [served(r.body) for r in page.records], "has_more": page.has_more})

    @guarded
    async def respond(request: Request) -> Response:
        who = owner(request)
        body = validated(GraphRunResponses, await read_json_object(request, limit))
        run = await (await engine()).respond(
            str(request.path_params["name"]), run_id(request), who, body.responses
        )
        return JSONResponse({"id": run["id"], "status": run["status"]}, status_code=202)

    return [
        Route("/workflows/{name}/runs", create, methods=["POST"]),
        Route("/workflows/{name}/runs", listing, methods=["GET"]),
        Route("/workflows/{name}/runs/{run_id}", show, methods=["GET"]),
        Route("/workflows/{name}/runs/{run_id}/responses", respond, methods=["POST"]),
    ]

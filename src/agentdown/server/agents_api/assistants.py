"""Routes of assistants: ``/assistants`` and ``/assistants/{id}`` (create, list, get, update, delete)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentdown.runtime.agents_api.assistants import AssistantDirectory, check_tool_resources
from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.schemas import AssistantCreate, AssistantUpdate, DeletionStatus, dump
from agentdown.runtime.agents_api.search_tools import check_resources_owned
from agentdown.server.agents_api.http import agents_endpoint, caller_of, ok, read_model
from agentdown.server.agents_api.paging import list_body, list_query
from agentdown.server.context import ServerContext

__all__ = ["assistant_routes"]


def assistant_routes(
    ctx: ServerContext, directory: AssistantDirectory, api: AgentsApi | None = None
) -> list[Route]:
    limit = ctx.settings.max_body_bytes

    async def check_stores(resources: Any, owner: str) -> None:
        """The vector stores ``tool_resources`` names are the caller's (a 400 naming the id otherwise)."""
        if api is not None and resources:
            check_tool_resources(resources)
            await check_resources_owned(api, resources, owner, "tool_resources")

    @agents_endpoint
    async def create(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        body = await read_model(request, AssistantCreate, limit)
        await check_stores(body.tool_resources, caller.owner)
        return ok(await directory.create(body, owner=caller.owner, allow=caller.allow))

    @agents_endpoint
    async def list_assistants(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        q = list_query(request)
        data, more = await directory.list(
            limit=q.limit,
            order=q.order,
            after=q.after,
            before=q.before,
            owner=caller.owner,
            allow=caller.allow,
        )
        return ok(list_body(data, more))

    @agents_endpoint
    async def get(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        found = await directory.require(request.path_params["id"], owner=caller.owner, allow=caller.allow)
        return ok(found.body)

    @agents_endpoint
    async def update(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        assistant_id = request.path_params["id"]
        # Read-only and not-found answers come before the body is looked at.
        await directory.require(assistant_id, owner=caller.owner, allow=caller.allow)
        changes = await read_model(request, AssistantUpdate, limit)
        await check_stores(changes.tool_resources, caller.owner)
        return ok(await directory.update(assistant_id, changes, owner=caller.owner, allow=caller.allow))

    @agents_endpoint
    async def delete(request: Request) -> Response:
        caller = caller_of(request, ctx.authorizer)
        assistant_id = request.path_params["id"]
        await directory.require(assistant_id, owner=caller.owner, allow=caller.allow)
        await directory.delete(assistant_id, owner=caller.owner)
        return ok(dump(DeletionStatus(id=assistant_id, object="assistant.deleted")))

    return [
        Route("/assistants", create, methods=["POST"]),
        Route("/assistants", list_assistants, methods=["GET"]),
        Route("/assistants/{id}", get, methods=["GET"]),
        Route("/assistants/{id}", update, methods=["POST"]),
        Route("/assistants/{id}", delete, methods=["DELETE"]),
    ]

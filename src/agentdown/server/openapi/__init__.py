"""``GET /openapi.json``: the OpenAPI 3.1 document of every route the server serves.

Built once, on the first request, from the app's routing table (:mod:`.document`) and the
declarations of :mod:`.table`; it asks for the keys the app's default ``http_auth`` asks for.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agentdown.app.spec import HttpAuth
from agentdown.server.agents_api.http import keyed
from agentdown.server.context import ServerContext
from agentdown.server.errors import api_endpoint
from agentdown.server.openapi.document import build_document, served_operations

__all__ = ["build_document", "openapi_route", "served_operations"]


def openapi_route(ctx: ServerContext) -> Route:
    """The route; the document covers the routes of the app serving the request."""
    door = ctx.catalog.config.http_auth or HttpAuth()
    built: dict[str, Any] = {}

    @api_endpoint
    async def openapi(request: Request) -> Response:
        ctx.authorizer.require_agent(keyed(request), door)
        if not built:
            built.update(build_document(ctx, request.app.routes))
        return JSONResponse(built)

    return Route("/openapi.json", openapi, methods=["GET"])

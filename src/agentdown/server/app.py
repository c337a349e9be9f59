"""The ASGI application: every route of an app's agents, on Starlette.

``create_app(catalog, runner, settings)`` checks the app against the server (trigger
routes, agents that cannot be built) before anything listens, so a broken app fails
at start with a precise message rather than at its first request.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from agentdown.app.catalog import AgentCatalog
from agentdown.runtime import Runner
from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.store import AgentsStore
from agentdown.runtime.workflows import close_workflow_host, ensure_workflow_host, workflows_enabled
from agentdown.server.agents_api import LazyAgentsStore, agents_api_mount
from agentdown.server.auth import Authorizer, LoopbackHostGuard
from agentdown.server.chat import chat_routes
from agentdown.server.context import ServerContext
from agentdown.server.errors import http_exception_handler, unexpected_error_handler
from agentdown.server.http_triggers import trigger_routes
from agentdown.server.mcp_endpoint import McpEndpoint
from agentdown.server.openai_api import openai_routes
from agentdown.server.openapi import openapi_route
from agentdown.server.resources import ResourceRouter, resource_app
from agentdown.server.settings import ServerSettings, is_loopback
from agentdown.server.workflow_graphs import workflow_graph_routes
from agentdown.server.workflows import workflow_routes
from agentdown.telemetry.asgi import TraceContextMiddleware
from agentdown.version import __version__

if TYPE_CHECKING:
    from agentdown.runtime.triggers import TriggerHost

__all__ = ["create_app"]

logger = logging.getLogger("agentdown.server")


def create_app(
    catalog: AgentCatalog,
    runner: Runner,
    settings: ServerSettings,
    *,
    environ: Mapping[str, str] | None = None,
    start_triggers: bool = True,
    close_runner: bool = False,
    agents_store: AgentsStore | None = None,
    execute_runs: bool = False,
) -> Starlette:
    """The Starlette app serving ``catalog``'s agents through ``runner``.

    ``start_triggers`` starts the timer / queue / blob triggers with the app;
    ``close_runner`` closes the runner (catalog and session store) when the app stops.
    ``agents_store`` keeps the Agents API's records (``/api/projects/...``); by default
    the configured one is opened on the API's first request. The app closes it when it
    stops. ``execute_runs`` starts executing the Agents API's queued runs (this process's
    and other processes') when the app starts, as ``agentdown serve`` does; otherwise
    that starts with the first run request.
    """
    if runner.catalog is not catalog:
        raise ValueError("create_app: the runner must run the given catalog")
    authorizer = Authorizer(
        settings.keys, trust_client_principal=settings.trust_client_principal, environ=environ
    )
    ctx = ServerContext(catalog=catalog, runner=runner, settings=settings, authorizer=authorizer)
    mcp = McpEndpoint(ctx)
    agents_api = AgentsApi(
        agents_store if agents_store is not None else LazyAgentsStore(environ), runner, environ=environ
    )
    agent_routes: list[BaseRoute] = [*chat_routes(ctx), *workflow_routes(ctx), *trigger_routes(ctx)]

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "version": __version__, "agents": len(catalog)})

    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        openapi_route(ctx),
        # Before the agent routes, which are mounted under /api too.
        agents_api_mount(ctx, agents_api),
        *agent_routes,
        *mcp.routes(),
        *openai_routes(ctx),
        *workflow_graph_routes(ctx, agents_api),
    ]
    if settings.api_prefix:
        routes.append(Mount(f"/{settings.api_prefix.strip('/')}", app=ResourceRouter(agent_routes)))

    # Built now, so that bad trigger settings fail here rather than in the lifespan.
    triggers = _trigger_host(runner, environ) if start_triggers else None

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if close_runner:
                stack.push_async_callback(runner.aclose)
            stack.push_async_callback(agents_api.aclose)
            if execute_runs:
                try:
                    await agents_api.ensure_runs()
                except Exception as exc:  # the rest of the app serves; run requests answer 503
                    logger.warning("Agents API runs are not executed by this server: %s", exc)
            if workflows_enabled(catalog):
                # Workflow steps run here as well as in any `agentdown worker` sharing the queue.
                try:
                    await ensure_workflow_host(catalog)
                    stack.push_async_callback(close_workflow_host, catalog)
                except Exception as exc:  # chat still serves; workflow tools answer with an error
                    logger.warning("planned workflows are not executed by this server: %s", exc)
            await stack.enter_async_context(mcp.manager.run())
            if catalog.has_knowledge:
                # In the background: searches answer from what is indexed meanwhile.
                catalog.knowledge.start(catalog.specs.values())
            if triggers is not None:
                await triggers.start()
                stack.push_async_callback(triggers.stop)
            yield

    middleware = [Middleware(LoopbackHostGuard)] if is_loopback(settings.host) else []
    # Outermost: a request joins its caller's trace (traceparent) before anything else runs.
    middleware.insert(0, Middleware(TraceContextMiddleware))
    app = resource_app(
        routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_exception_handler, Exception: unexpected_error_handler},
    )
    app.state.trigger_host = triggers
    app.state.agents_api = agents_api
    return app


def _trigger_host(runner: Runner, environ: Mapping[str, str] | None) -> TriggerHost | None:
    """The timer / queue / blob trigger host, or ``None`` when the app has no such trigger."""
    has_triggers = any(
        s.trigger is not None and s.trigger.type != "http_trigger" for s in runner.catalog.specs.values()
    )
    if not has_triggers:
        return None
    # Imported here: only apps with such triggers pay for the storage clients it loads.
    from agentdown.runtime.triggers import TriggerHost

    return TriggerHost(runner, environ=environ)

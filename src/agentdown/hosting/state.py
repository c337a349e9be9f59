"""The hosted app: its catalog (loaded at indexing), and what the first invocation builds.

Indexing loads and checks the app only. The session store, the runner and the ASGI app
behind the HTTP functions are built by the first invocation that needs them, on the
worker's event loop (their clients belong to it), and then shared by every function.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentdown.app.catalog import AgentCatalog
from agentdown.hosting.settings import trusts_client_principal

if TYPE_CHECKING:
    import azure.functions as func
    from starlette.types import ASGIApp

    from agentdown.runtime import Runner
    from agentdown.runtime.agents_api.context import AgentsApi
    from agentdown.runtime.triggers.invoke import Invoker
    from agentdown.runtime.triggers.resources import Resources
    from agentdown.server.context import ServerContext

__all__ = ["HostedApp"]


class HostedApp:
    """One app folder served by a ``FunctionApp``; every registered function shares it."""

    def __init__(
        self, catalog: AgentCatalog, environ: Mapping[str, str], *, http_streaming: bool = False
    ) -> None:
        self.catalog = catalog
        self.environ = environ
        self.http_streaming = http_streaming
        """HTTP functions take the worker's streaming types (:mod:`.http_v2`), not ``func.HttpRequest``."""
        self._runner: Runner | None = None
        self._context: ServerContext | None = None
        self._app: ASGIApp | None = None
        self._asgi: func.AsgiMiddleware | None = None
        self._resources: Resources | None = None
        self._invokers: dict[str, Invoker] = {}
        self._agents_api: AgentsApi | None = None
        self._lock: asyncio.Lock | None = None

    @property
    def runner(self) -> Runner:
        if self._runner is None:
            from agentdown.runtime import Runner
            from agentdown.sessions.select import select_store

            self._runner = Runner(self.catalog, select_store(self.environ))
        return self._runner

    @property
    def agents_api(self) -> AgentsApi:
        """The Agents API's records and services; its queues are written here, never consumed.

        The queue functions (:mod:`.jobs`) execute the jobs, one message per invocation.
        """
        if self._agents_api is None:
            from agentdown.runtime.agents_api.context import AgentsApi
            from agentdown.server.agents_api import LazyAgentsStore

            self._agents_api = AgentsApi(
                LazyAgentsStore(self.environ), self.runner, environ=self.environ, consume=False
            )
        return self._agents_api

    @property
    def context(self) -> ServerContext:
        """What agentdown's own route handlers need, configured for the Functions host.

        The host checks access keys before a function runs (each function's ``authLevel``),
        so the handlers check none; an ``entra`` agent's principal is checked by them.
        """
        if self._context is None:
            from agentdown.models.env import positive_int
            from agentdown.server.auth import Authorizer
            from agentdown.server.context import ServerContext
            from agentdown.server.settings import DEFAULT_MAX_BODY_BYTES, Keys, ServerSettings

            trust = trusts_client_principal(self.environ)
            limit = positive_int(self.environ, "AGENTDOWN_MAX_BODY_BYTES", unit="bytes")
            settings = ServerSettings(
                keys=Keys(), trust_client_principal=trust, max_body_bytes=limit or DEFAULT_MAX_BODY_BYTES
            )
            authorizer = Authorizer(Keys(), trust_client_principal=trust, environ=self.environ)
            self._context = ServerContext(self.catalog, self.runner, settings, authorizer)
        return self._context

    @property
    def app(self) -> ASGIApp:
        """agentdown's chat, HTTP-trigger, workflow, Agents-API and /v1 routes as one ASGI app."""
        if self._app is None:
            from starlette.applications import Starlette
            from starlette.exceptions import HTTPException
            from starlette.routing import BaseRoute, Mount

            from agentdown.server.agents_api import agents_api_mount
            from agentdown.server.chat import chat_routes
            from agentdown.server.errors import http_exception_handler, unexpected_error_handler
            from agentdown.server.http_triggers import trigger_routes
            from agentdown.server.openai_api import openai_routes
            from agentdown.server.workflow_graphs import workflow_graph_routes
            from agentdown.server.workflows import workflow_routes

            ctx = self.context
            # The Agents API first: POST /api/projects/... must not reach a trigger route.
            routes: list[BaseRoute] = [agents_api_mount(ctx, self.agents_api), *chat_routes(ctx)]
            routes += [*workflow_routes(ctx), *trigger_routes(ctx), *openai_routes(ctx)]
            routes += workflow_graph_routes(ctx, self.agents_api)
            self._app = Starlette(
                # Also under /api/: host.json's default routePrefix, when an app keeps it.
                routes=[*routes, Mount("/api", routes=routes)],
                exception_handlers={
                    HTTPException: http_exception_handler,
                    Exception: unexpected_error_handler,
                },
            )
        return self._app

    @property
    def asgi(self) -> func.AsgiMiddleware:
        """:attr:`app` behind the package's adapter, for functions taking ``func.HttpRequest``."""
        if self._asgi is None:
            import azure.functions as func

            self._asgi = func.AsgiMiddleware(self.app)  # type: ignore[no-untyped-call]
        return self._asgi

    async def invoker(self, slug: str) -> Invoker:
        """The trigger invoker of agent ``slug``: our trigger host's, with its output binding."""
        found = self._invokers.get(slug)
        if found is not None:
            return found
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            found = self._invokers.get(slug)
            if found is None:
                found = self._invokers[slug] = await self._new_invoker(slug)
        return found

    async def _new_invoker(self, slug: str) -> Invoker:
        from agentdown.app.spec import BlobTrigger, QueueTrigger, TimerTrigger
        from agentdown.runtime.queues.config import resolve_account
        from agentdown.runtime.triggers.invoke import Invoker, OutputSink, TriggerBinding
        from agentdown.runtime.triggers.resources import Resources
        from agentdown.runtime.triggers.settings import TriggerSettings

        spec = self.catalog.specs[slug]
        trigger: Any = (
            spec.trigger if isinstance(spec.trigger, TimerTrigger | QueueTrigger | BlobTrigger) else None
        )
        trigger = trigger or spec.functions_trigger
        sink: OutputSink | None = None
        if spec.output is not None:
            if self._resources is None:
                self._resources = Resources(TriggerSettings.from_environ(self.environ))
            sink = self._resources.output_sink(
                spec.output, resolve_account(spec.output.connection, self.environ)
            )
            await sink.start()
        binding = TriggerBinding(slug, trigger, spec.output, spec.session_key)
        return Invoker(self.runner, binding, sink, log_answers=spec.logger)

    async def aclose(self) -> None:
        """Close the store and storage clients (tests; the Functions host just ends the process)."""
        if self._agents_api is not None:
            await self._agents_api.aclose()
        from agentdown.runtime.workflows import close_workflow_host

        await close_workflow_host(self.catalog)
        if self._resources is not None:
            await self._resources.aclose()
        if self._runner is not None:
            await self._runner.aclose()
        else:
            await self.catalog.aclose()

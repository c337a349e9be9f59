"""The Azure AI Agents REST API under ``/api/projects/{project}``, as the ``azure-ai-agents`` SDK calls it.

Any project name is served (one app is one project); the SDK's ``?api-version=`` is
accepted and ignored. Every request passes the door first: the keys of the rest of
the server (``x-functions-key``, ``api-key``, ``Authorization: Bearer``, ``?code=``)
at the app's default ``http_auth`` (``agents.config.yaml``, else ``function``), so
with no key configured on loopback the API is open, as the chat API is. App agents
are then shown only to callers their own ``http_auth`` admits.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
from collections.abc import Mapping, Sequence
from typing import Any

from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount

from agentdown.app.spec import HttpAuth
from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.store import AgentsStoreError, Order, Page, Record, Write
from agentdown.server.agents_api.assistants import assistant_routes
from agentdown.server.agents_api.files import file_routes
from agentdown.server.agents_api.http import AgentsDoor, not_routed
from agentdown.server.agents_api.runs import run_routes
from agentdown.server.agents_api.threads import thread_routes
from agentdown.server.agents_api.vector_stores import vector_store_routes
from agentdown.server.context import ServerContext
from agentdown.server.resources import resource_app

__all__ = ["MOUNT_PATH", "LazyAgentsStore", "agents_api_mount"]

MOUNT_PATH = "/api/projects/{project}"


def agents_api_mount(ctx: ServerContext, api: AgentsApi) -> Mount:
    """The API's routes (assistants, threads, messages, and the runs of :func:`run_routes`)."""
    directory = api.assistants()
    routes: list[BaseRoute] = [
        # Runs first: POST /threads/runs must not be read as an update of a thread named "runs".
        *run_routes(ctx, api),
        *assistant_routes(ctx, directory, api),
        *thread_routes(ctx, api),
        *file_routes(ctx, api),
        *vector_store_routes(ctx, api),
    ]
    door = ctx.catalog.config.http_auth or HttpAuth()
    # Its 405s name every method of the path (GET, POST and DELETE of /threads/{id}).
    inner = resource_app(
        routes,
        middleware=[Middleware(AgentsDoor, authorizer=ctx.authorizer, auth=door)],
        exception_handlers={HTTPException: not_routed},
    )
    mount = Mount(MOUNT_PATH, app=inner)
    # Starlette's "{path}" of a mount stops at a newline; an id holding one (%0A) is still this
    # API's to answer (its error shape), not a fall-through to the server's own 404.
    mount.path_regex = re.compile(mount.path_regex.pattern, re.DOTALL)
    return mount


class LazyAgentsStore:
    """The configured store (``open_agents_store``), opened on first use.

    An app that never calls the API never opens (or creates) the store, and a broken
    store configuration fails the API's requests (503) instead of the whole server.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ
        self._store: Any = None
        self._lock = asyncio.Lock()

    async def _opened(self) -> Any:
        if self._store is None:
            async with self._lock:
                if self._store is None:
                    # Looked up at run time: the configuration module is the store work's.
                    try:
                        config = importlib.import_module("agentdown.runtime.agents_api.config")
                    except ImportError as exc:
                        raise AgentsStoreError(f"no Agents API store can be opened here: {exc}") from exc
                    store = config.open_agents_store(self._environ)
                    self._store = await store if inspect.isawaitable(store) else store
        return self._store

    def describe(self) -> str:
        return "agents store (not opened yet)" if self._store is None else str(self._store.describe())

    async def create(self, kind: str, parent: str, id: str, body: dict[str, Any]) -> Record:
        result: Record = await (await self._opened()).create(kind, parent, id, body)
        return result

    async def get(self, kind: str, parent: str, id: str) -> Record | None:
        result: Record | None = await (await self._opened()).get(kind, parent, id)
        return result

    async def replace(self, record: Record, body: dict[str, Any]) -> Record:
        result: Record = await (await self._opened()).replace(record, body)
        return result

    async def write(self, ops: Sequence[Write]) -> list[Record]:
        result: list[Record] = await (await self._opened()).write(ops)
        return result

    async def delete(self, kind: str, parent: str, id: str) -> bool:
        return bool(await (await self._opened()).delete(kind, parent, id))

    async def delete_children(self, kind: str, parent: str) -> int:
        return int(await (await self._opened()).delete_children(kind, parent))

    async def list(
        self,
        kind: str,
        parent: str,
        *,
        limit: int,
        order: Order = "desc",
        after: str | None = None,
        before: str | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> Page:
        store = await self._opened()
        page: Page = await store.list(
            kind, parent, limit=limit, order=order, after=after, before=before, where=where
        )
        return page

    async def aclose(self) -> None:
        if self._store is not None:
            await self._store.aclose()

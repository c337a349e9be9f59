"""One workflow service per app catalog and event loop: opened on first use, or by ``serve`` / ``worker``.

The record store is the Agents API's (:func:`~agentdown.runtime.agents_api.config.open_agents_store`:
SQLite in the data dir by default, Azure Tables when storage is configured) and the
queue ``agentdown-workflows`` is on the account ``AGENTDOWN_AGENTS_CONNECTION`` names
(default ``AzureWebJobsStorage``), so every process sharing that account shares the
workflows. Settings come from the catalog's environment (:mod:`.settings`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Mapping

from agentdown.app.catalog import AgentCatalog
from agentdown.runtime.agents_api.config import open_agents_store
from agentdown.runtime.queues.base import QueueService, poison_queue_name
from agentdown.runtime.queues.config import DEFAULT_CONNECTION, open_queue_service, resolve_account
from agentdown.runtime.workflows.service import WorkflowService
from agentdown.runtime.workflows.settings import WorkflowSettings

__all__ = ["WorkflowHost", "close_workflow_host", "ensure_workflow_host", "workflows_enabled"]


class WorkflowHost:
    """The store, queue service and :class:`WorkflowService` of one catalog."""

    def __init__(self, catalog: AgentCatalog, environ: Mapping[str, str] | None = None) -> None:
        env = catalog.environ if environ is None else environ
        setting = (env.get("AGENTDOWN_AGENTS_CONNECTION") or "").strip() or DEFAULT_CONNECTION
        settings = WorkflowSettings.from_env(env)
        self.queues: QueueService = open_queue_service(resolve_account(setting, env))
        self.store = open_agents_store(env)
        poison = self.queues.queue(poison_queue_name(settings.queue))
        self.service = WorkflowService(
            catalog, self.store, self.queues.queue(settings.queue), settings, poison_queue=poison
        )
        self.settings = settings

    def describe(self) -> str:
        return f"workflows queue {self.service.queue.name!r} on {self.queues.describe()}"

    async def start(self, *, consume: bool = True) -> None:
        await self.service.start(consume=consume)

    async def aclose(self, *, drain: float = 0.0) -> None:
        await self.service.aclose(drain=drain)
        await self.store.aclose()
        await self.queues.aclose()


_hosts: weakref.WeakKeyDictionary[AgentCatalog, tuple[asyncio.AbstractEventLoop, WorkflowHost]] = (
    weakref.WeakKeyDictionary()
)
_lock: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def workflows_enabled(catalog: AgentCatalog) -> bool:
    """Whether any agent of the app plans workflows."""
    return any(s.workflows is not None and s.workflows.enabled for s in catalog.specs.values())


async def ensure_workflow_host(catalog: AgentCatalog, *, consume: bool = True) -> WorkflowHost:
    """The catalog's host on this loop, started; it consumes jobs when ``consume`` and
    ``AGENTDOWN_WORKFLOW_EXECUTE`` allow (``agentdown worker`` runs its own :class:`WorkflowHost`)."""
    loop = asyncio.get_running_loop()
    lock = _lock.setdefault(loop, asyncio.Lock())
    async with lock:
        held = _hosts.get(catalog)
        if held is not None and held[0] is loop:
            host = held[1]
            if consume and host.settings.execute and not host.service.consuming:
                await host.start(consume=True)
            return host
        host = WorkflowHost(catalog)
        await host.start(consume=consume and host.settings.execute)
        _hosts[catalog] = (loop, host)
        return host


async def close_workflow_host(catalog: AgentCatalog) -> None:
    """Stop the catalog's host (jobs in progress come back to another worker after their lease)."""
    held = _hosts.pop(catalog, None)
    if held is not None:
        await held[1].aclose()

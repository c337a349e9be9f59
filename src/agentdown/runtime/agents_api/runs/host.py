"""The run service of one process with its queue: started by ``serve`` and by ``agentdown worker``.

The ingestion service of vector store files (:mod:`..ingest`) runs beside it, on
its own queue (``agentdown-ingest``, ``AGENTDOWN_INGEST_QUEUE``) of the same service.

The runs queue lives on the storage account the ``AGENTDOWN_AGENTS_CONNECTION``
setting names (default ``AzureWebJobsStorage``, as the record store): the embedded
SQLite queue when nothing is configured, Azure Storage queues (Azurite included)
when it names an account, so every process sharing that account shares the runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.ingest import INGEST_QUEUE, IngestService, IngestSettings
from agentdown.runtime.agents_api.runs.service import RUNS_QUEUE, RunService, RunSettings
from agentdown.runtime.queues.base import QueueService
from agentdown.runtime.queues.config import DEFAULT_CONNECTION, open_queue_service, resolve_account
from agentdown.runtime.workflow_graphs.host import graph_service

__all__ = ["RunHost"]


class RunHost:
    def __init__(
        self, api: AgentsApi, environ: Mapping[str, str] | None = None, settings: RunSettings | None = None
    ) -> None:
        env = os.environ if environ is None else environ
        setting = (env.get("AGENTDOWN_AGENTS_CONNECTION") or "").strip() or DEFAULT_CONNECTION
        self.queues: QueueService = open_queue_service(resolve_account(setting, env))
        name = (env.get("AGENTDOWN_RUNS_QUEUE") or "").strip() or RUNS_QUEUE
        self.service = RunService(api, self.queues.queue(name), settings or RunSettings.from_env(env))
        ingest = (env.get("AGENTDOWN_INGEST_QUEUE") or "").strip() or INGEST_QUEUE
        self.ingest = IngestService(api, self.queues.queue(ingest), IngestSettings.from_env(env))
        self.graphs = graph_service(api, self.queues, env)
        """The app's ``workflows/`` graphs, run durably (``None`` when it has none)."""

    def describe(self) -> str:
        where = self.queues.describe()
        steps = f", workflow steps queue {self.graphs.queue.name!r}" if self.graphs is not None else ""
        return f"runs queue {self.service.queue.name!r}, ingest queue {self.ingest.queue.name!r}{steps} on {where}"

    async def start(self, *, consume: bool = True) -> None:
        await self.service.start(consume=consume)
        await self.ingest.start(consume=consume)
        if self.graphs is not None:
            await self.graphs.start(consume=consume)

    async def aclose(self) -> None:
        if self.graphs is not None:
            await self.graphs.aclose()
        await self.ingest.aclose()
        await self.service.aclose()
        await self.queues.aclose()

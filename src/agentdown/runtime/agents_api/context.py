"""What the Agents API's routes and its run executor share in one process."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agentdown.runtime.agents_api.store import AgentsStore
from agentdown.runtime.runner import Runner

if TYPE_CHECKING:
    from agentdown.knowledge import KnowledgeBase, SearchHit
    from agentdown.runtime.agents_api.assistants import AssistantDirectory
    from agentdown.runtime.agents_api.files import FileService
    from agentdown.runtime.agents_api.ingest import IngestService
    from agentdown.runtime.agents_api.runs.host import RunHost
    from agentdown.runtime.agents_api.runs.service import RunService
    from agentdown.runtime.agents_api.vector_stores import VectorStores
    from agentdown.runtime.workflow_graphs.service import GraphService
    from agentdown.tools.system.code_interpreter import LocalCodeInterpreter, Sandbox

__all__ = ["AgentsApi"]


@dataclass(slots=True)
class AgentsApi:
    store: AgentsStore
    runner: Runner
    """The app's catalog (``runner.catalog``) and its agents."""
    runs: RunService | None = None
    """Executes runs; ``None`` until the run service starts (:meth:`ensure_runs`)."""
    environ: Mapping[str, str] | None = None
    """Where the runs queue is configured (default ``os.environ``)."""
    ingest: IngestService | None = None
    """Ingests vector store files; started with the run service (its host), see :meth:`ensure_ingest`."""
    graphs: GraphService | None = None
    """Runs the app's ``workflows/`` graphs; set when the run host starts (``None`` without graphs)."""
    consume: bool = True
    """Consume the runs, ingest and workflow-steps queues in this process. ``False`` under Azure
    Functions: the queues are only written here, the host's queue triggers execute the jobs."""
    _host: RunHost | None = None
    _directory: AssistantDirectory | None = None
    _files: FileService | None = None
    _knowledge: KnowledgeBase | None = None
    _vector_stores: VectorStores | None = None
    _interpreter: LocalCodeInterpreter | None = None
    _starting: asyncio.Lock = field(default_factory=asyncio.Lock)

    def assistants(self) -> AssistantDirectory:
        """The stored assistants and the app's agents (one directory: it caches the app agents' bodies)."""
        if self._directory is None:
            from agentdown.runtime.agents_api.assistants import AssistantDirectory

            self._directory = AssistantDirectory(self.store, self.runner.catalog)
        return self._directory

    def files(self) -> FileService:
        """Uploaded files: records in the store, bytes in the data dir or the Azure account."""
        if self._files is None:
            from agentdown.runtime.agents_api.files import FileService

            self._files = FileService(self.store, self.environ)
        return self._files

    def knowledge(self) -> KnowledgeBase:
        """The vector stores' indexes, with the configured embedder (:mod:`.vector_stores_index`)."""
        if self._knowledge is None:
            from agentdown.runtime.agents_api.vector_stores_index import open_knowledge

            self._knowledge = open_knowledge(self.environ)
        return self._knowledge

    def vector_stores(self) -> VectorStores:
        if self._vector_stores is None:
            from agentdown.runtime.agents_api.vector_stores import VectorStores

            self._vector_stores = VectorStores(self)
        return self._vector_stores

    def sandbox(self, thread_id: str) -> Sandbox:
        """The code interpreter's sandbox of a thread (``<data dir>/sandboxes``; raises ``SandboxError``)."""
        if self._interpreter is None:
            from agentdown.sessions.config import data_dir
            from agentdown.tools.system.code_interpreter import local_code_interpreter

            self._interpreter = local_code_interpreter(data_dir(self.environ) / "sandboxes")
        return self._interpreter.sandbox("thread:" + thread_id)

    async def search_stores(
        self, store_ids: Sequence[str], query: str, max_results: int = 20, score_threshold: float = 0.0
    ) -> list[SearchHit]:
        """The best chunks of the vector stores for ``query``; each store's ``last_active_at`` becomes now.

        A missing store is an :class:`ApiProblem` 404, an expired one a 400 (``vector_store_expired``).
        """
        return await self.vector_stores().search(store_ids, query, max_results, score_threshold)

    async def ensure_ingest(self) -> IngestService:
        """The ingestion service; it runs in the run host, started with it (:meth:`ensure_runs`)."""
        if self.ingest is None:
            await self.ensure_runs()
        assert self.ingest is not None
        return self.ingest

    async def ensure_runs(self) -> RunService:
        """The run service, started (queue opened, consumer running unless not :attr:`consume`) on first use."""
        if self.runs is None:
            async with self._starting:
                if self._host is None:
                    from agentdown.runtime.agents_api.runs.host import RunHost

                    host = RunHost(self, self.environ)
                    await host.start(consume=self.consume)
                    self._host = host
        assert self.runs is not None
        return self.runs

    async def aclose(self) -> None:
        """Stop the run service (runs in progress are taken over later: see the lease) and close the store."""
        if self._host is not None:
            await self._host.aclose()
            self._host = None
            self.runs = None
        await self.close_knowledge()
        if self._interpreter is not None:
            interpreter, self._interpreter = self._interpreter, None
            await interpreter.aclose()
        await self.store.aclose()

    async def close_knowledge(self) -> None:
        """Close the indexes and the files' storage clients (opened again on next use)."""
        knowledge, files = self._knowledge, self._files
        self._knowledge = self._files = None
        if knowledge is not None:
            await knowledge.aclose()
        if files is not None:
            await files.aclose()

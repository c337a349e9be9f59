"""What the Agents API's routes and its run executor share in one process."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agentdown.runtime.agents_api.store import AgentsStore
from agentdown.runtime.runner import Runner

if TYPE_CHECKING:
    from agentdown.runtime.agents_api.assistants import AssistantDirectory
    from agentdown.runtime.agents_api.runs.host import RunHost
    from agentdown.runtime.agents_api.runs.service import RunService

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
    _host: RunHost | None = None
    _directory: AssistantDirectory | None = None
    _starting: asyncio.Lock = field(default_factory=asyncio.Lock)

    def assistants(self) -> AssistantDirectory:
        """The stored assistants and the app's agents (one directory: it caches the app agents' bodies)."""
        if self._directory is None:
            from agentdown.runtime.agents_api.assistants import AssistantDirectory

            self._directory = AssistantDirectory(self.store, self.runner.catalog)
        return self._directory

    async def ensure_runs(self) -> RunService:
        """The run service, started (queue opened, consumer running) on first use."""
        if self.runs is None:
            async with self._starting:
                if self._host is None:
                    from agentdown.runtime.agents_api.runs.host import RunHost

                    host = RunHost(self, self.environ)
                    await host.start()
                    self._host = host
        assert self.runs is not None
        return self.runs

    async def aclose(self) -> None:
        """Stop the run service (runs in progress are taken over later: see the lease) and close the store."""
        if self._host is not None:
            await self._host.aclose()
            self._host = None
            self.runs = None
        await self.store.aclose()

"""What the Agents API's routes and its run executor share in one process."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentdown.runtime.agents_api.store import AgentsStore
from agentdown.runtime.runner import Runner

if TYPE_CHECKING:
    from agentdown.runtime.agents_api.runs.service import RunService

__all__ = ["AgentsApi"]


@dataclass(slots=True)
class AgentsApi:
    store: AgentsStore
    runner: Runner
    """The app's catalog (``runner.catalog``) and its agents."""
    runs: RunService | None = None
    """Executes runs; ``None`` until the run service starts (set by the server's lifespan)."""

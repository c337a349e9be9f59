"""Routes of runs and run steps (being written by the runs work)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from agentdown.runtime.agents_api.context import AgentsApi

__all__ = ["run_routes"]


def run_routes(api: AgentsApi) -> list[BaseRoute]:
    """Routes under ``/api/projects/{project}`` for runs, steps and ``/threads/runs``."""
    del api
    return []

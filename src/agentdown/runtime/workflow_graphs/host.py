"""The graph service of a run host: built when the app has ``workflows/`` graphs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from agentdown.runtime.queues.base import QueueService

if TYPE_CHECKING:
    from agentdown.runtime.agents_api.context import AgentsApi
    from agentdown.runtime.workflow_graphs.service import GraphService

__all__ = ["graph_service"]


def graph_service(
    api: AgentsApi, queues: QueueService, environ: Mapping[str, str] | None
) -> GraphService | None:
    """The service for ``api``'s app (its store, the host's queue service), or ``None`` without graphs."""
    graphs = api.runner.catalog.workflow_graphs
    if not graphs:
        return None
    from agentdown.runtime.workflow_graphs.service import STEPS_QUEUE, GraphService

    env = os.environ if environ is None else environ
    name = (env.get("AGENTDOWN_WORKFLOW_STEPS_QUEUE") or "").strip() or STEPS_QUEUE
    service = GraphService(api.store, queues.queue(name), graphs, environ=env)
    api.graphs = service
    return service

"""What the routes and the CLI show of a workflow: the status envelope, plus what a progress card needs.

The envelope's six keys are the other runtime's, unchanged; agentdown adds ``agent``,
``tasks`` (per-task progress, :func:`~agentdown.workflows.planned.task_progress`) and,
once the workflow has ended, ``notification``: the ``<workflow-notification>`` message
the other runtime's chat UI posts so the agent summarises the result. Posting it stays
the client's decision (as there): a worker never writes into a conversation.
"""

from __future__ import annotations

from typing import Any

from agentdown.runtime.workflows.records import WorkflowRecord
from agentdown.workflows.planned.status import status_envelope, task_progress

__all__ = ["workflow_view"]


def workflow_view(found: WorkflowRecord, *, tasks: bool = True) -> dict[str, Any]:
    state = found.state
    view = status_envelope(state)
    view["agent"] = found.agent
    if tasks:
        view["tasks"] = task_progress(state)
    if state.finished:
        view["notification"] = found.body.get("notification")
    return view

"""Who may see a workflow: the session (with the agent) that started it, and nobody else.

The id's prefix must be the session's (the other runtime's scheme, checked without
touching the store) and the record must name the same agent and session. Callers that
also know a principal (the HTTP routes) check the record's owner digest as well. A
failed check is indistinguishable from a missing workflow: ``None``, a 404.
"""

from __future__ import annotations

from agentdown.runtime.workflows.records import WorkflowRecord
from agentdown.runtime.workflows.service import WorkflowService
from agentdown.workflows.planned.ownership import session_owns_workflow

__all__ = ["owned_workflow"]

_UNSET = object()


async def owned_workflow(
    service: WorkflowService,
    agent: str,
    session_id: str,
    workflow_id: object,
    *,
    owner: str | object | None = _UNSET,
) -> WorkflowRecord | None:
    """The workflow if ``session_id`` of ``agent`` (and ``owner``, when given) owns it, else ``None``."""
    if not isinstance(workflow_id, str) or not session_owns_workflow(session_id, workflow_id):
        return None
    found = await service.get(workflow_id)
    if found is None or found.agent != agent or found.session_id != session_id:
        return None
    recorded = found.body.get("owner")
    if owner is not _UNSET and recorded is not None and recorded != owner:
        return None
    return found

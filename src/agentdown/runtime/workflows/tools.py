"""The five workflow-management tools of a workflow-enabled agent, bound to the durable runner.

Names, parameters and answers are the Azure Functions agents runtime's: JSON text,
``{"workflow_id"}`` from ``start_workflow``, the status envelope from
``get_workflow_status``, ``{"workflows": [...]}`` from ``list_workflows``,
``{"workflow_id", "cancel_requested": true}`` / ``{"workflow_id", "terminated": true}``,
and ``{"error": ...}`` (with ``"status": 404`` for an id that is not the session's) when
something is refused. A workflow belongs to the session that started it (and the
agent): any other id answers "not found", whether it exists or not.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from agentdown.app.catalog import AgentCatalog
from agentdown.app.spec import AgentSpec
from agentdown.app.workflow_tools import register_workflow_tool_factory
from agentdown.runtime.pending import session_owner
from agentdown.runtime.workflows.access import owned_workflow
from agentdown.runtime.workflows.host import ensure_workflow_host
from agentdown.runtime.workflows.service import ActiveLimitError, WorkflowService
from agentdown.tools.context import FunctionInvocationContext
from agentdown.tools.protocol import Tool
from agentdown.workflows.planned import PlanPolicy, PlanValidationError, builtin_tools, parse_start_workflow
from agentdown.workflows.planned.plan import MAX_ACTIVE_WORKFLOWS_PER_SESSION
from agentdown.workflows.planned.status import list_envelopes, status_envelope

__all__ = ["WorkflowManagementTool", "management_tools"]

logger = logging.getLogger("agentdown.workflows")


def _error(message: str, **extra: Any) -> str:
    return json.dumps({"error": message, **extra})


def _not_found(workflow_id: object) -> str:
    return _error(f"workflow {workflow_id!r} not found", status=404)


class WorkflowManagementTool:
    """One management tool; every call acts for the session of the run that calls it."""

    def __init__(
        self,
        catalog: AgentCatalog,
        spec: AgentSpec,
        policy: PlanPolicy,
        name: str,
        description: str,
        parameters: dict[str, Any],
    ) -> None:
        self.catalog = catalog
        self.agent = spec.slug
        self.policy = policy
        self.name = name
        self.description = description
        self._parameters = parameters

    @property
    def parameters(self) -> dict[str, Any]:
        return self._parameters

    async def invoke(self, arguments: dict[str, Any], context: FunctionInvocationContext) -> str:
        session = context.session
        session_id = getattr(session, "id", None)
        if not isinstance(session_id, str) or not session_id:
            return _error("workflow tools need a session: this run has none")
        service = (await ensure_workflow_host(self.catalog)).service
        try:
            return await self._call(service, session_id, session, arguments)
        except Exception as exc:  # the store or queue failed: the model is told, the log has the detail
            logger.warning("workflow tool %s failed: %s", self.name, exc, exc_info=True)
            return _error(f"failed to {self.name.replace('_', ' ')}")

    async def _call(
        self, service: WorkflowService, session_id: str, session: Any, arguments: dict[str, Any]
    ) -> str:
        if self.name == "start_workflow":
            try:
                plan = parse_start_workflow(arguments, self.policy)
            except PlanValidationError as exc:
                return _error(str(exc))
            owner = session_owner(getattr(session, "messages", []) or [])
            try:
                workflow_id = await service.start_workflow(self.agent, session_id, owner, plan)
            except ActiveLimitError as exc:
                return _error(str(exc), active=exc.active, limit=MAX_ACTIVE_WORKFLOWS_PER_SESSION)
            return json.dumps({"workflow_id": workflow_id})
        if self.name == "list_workflows":
            found = await service.session_workflows(self.agent, session_id)
            return json.dumps({"workflows": list_envelopes(w.state for w in found)})
        asked = arguments.get("workflow_id")
        found_one = await owned_workflow(service, self.agent, session_id, asked)
        if found_one is None:
            return _not_found(asked)
        if self.name == "get_workflow_status":
            return json.dumps(status_envelope(found_one.state))
        hard = self.name == "terminate_workflow"
        default = "terminated by agent" if hard else "canceled by agent"
        given = arguments.get("reason")
        reason = given.strip()[:500] if isinstance(given, str) and given.strip() else default
        await service.cancel(found_one.workflow_id, reason, hard=hard)
        flag = "terminated" if hard else "cancel_requested"
        return json.dumps({"workflow_id": found_one.workflow_id, flag: True})


def management_tools(catalog: AgentCatalog, spec: AgentSpec, policy: PlanPolicy) -> list[Tool]:
    """The five tools for ``spec``, in the other runtime's order."""
    return [
        WorkflowManagementTool(catalog, spec, policy, t.name, t.description, t.parameters)
        for t in builtin_tools(extensions=policy.extensions)
    ]


register_workflow_tool_factory(management_tools)

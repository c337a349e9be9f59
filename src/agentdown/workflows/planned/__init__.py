"""Planned workflows: plans a model writes for ``start_workflow``, their validation and a deterministic scheduler.

Compatible with the dynamic workflows of the Azure Functions agents runtime (front
matter ``workflows: {enabled, exclude, subagents}``; plan tasks ``tool`` / ``wait`` /
``sub_agent``), with agentdown's extensions (``when``, ``for_each``, ``retry``,
``timeout``, ``continue_on_error``).

The names are imported on first use (PEP 562), so loading an app that marks workflow
tools (:mod:`.marks`) does not build the plan models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentdown.lazy import lazy_exports

if TYPE_CHECKING:
    from .plan import Plan, PlanTask, RetryPolicy
    from .prompt import workflow_addendum
    from .scheduler import cancel, on_result, on_timer, start, terminate
    from .state import Finish, PlanState, RunSubAgent, RunTool, StartTimer, TaskFailure
    from .status import status_envelope, task_progress
    from .tools import BuiltinTool, builtin_tools, is_workflow_tool, parse_start_workflow, workflow_tool
    from .validate import PlanError, PlanPolicy, PlanValidationError, validate_plan

__all__ = [
    "BuiltinTool",
    "Finish",
    "Plan",
    "PlanError",
    "PlanPolicy",
    "PlanState",
    "PlanTask",
    "PlanValidationError",
    "RetryPolicy",
    "RunSubAgent",
    "RunTool",
    "StartTimer",
    "TaskFailure",
    "builtin_tools",
    "cancel",
    "is_workflow_tool",
    "on_result",
    "on_timer",
    "parse_start_workflow",
    "start",
    "status_envelope",
    "task_progress",
    "terminate",
    "validate_plan",
    "workflow_addendum",
    "workflow_tool",
]

_WHERE = {
    "Plan": "plan",
    "PlanTask": "plan",
    "RetryPolicy": "plan",
    "workflow_addendum": "prompt",
    "cancel": "scheduler",
    "on_result": "scheduler",
    "on_timer": "scheduler",
    "start": "scheduler",
    "terminate": "scheduler",
    "Finish": "state",
    "PlanState": "state",
    "RunSubAgent": "state",
    "RunTool": "state",
    "StartTimer": "state",
    "TaskFailure": "state",
    "status_envelope": "status",
    "task_progress": "status",
    "BuiltinTool": "tools",
    "builtin_tools": "tools",
    "is_workflow_tool": "tools",
    "parse_start_workflow": "tools",
    "workflow_tool": "tools",
    "PlanError": "validate",
    "PlanPolicy": "validate",
    "PlanValidationError": "validate",
    "validate_plan": "validate",
}


__getattr__ = lazy_exports(__name__, _WHERE)

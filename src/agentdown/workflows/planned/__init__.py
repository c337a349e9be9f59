"""Planned workflows: plans a model writes for ``start_workflow``, their validation and a deterministic scheduler.

Compatible with the dynamic workflows of the Azure Functions agents runtime (front
matter ``workflows: {enabled, exclude, subagents}``; plan tasks ``tool`` / ``wait`` /
``sub_agent``), with agentdown's extensions (``when``, ``for_each``, ``retry``,
``timeout``, ``continue_on_error``).
"""

from __future__ import annotations

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

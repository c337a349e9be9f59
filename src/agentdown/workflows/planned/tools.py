"""``@workflow_tool`` and the five built-in workflow-management tools, as data.

``workflow_tool`` has the Azure Functions agents runtime's signature (``name``,
``description``, ``public``; anything else is a ``TypeError``) and records its mark on
the same attribute, so a callable marked by either package is recognised by both.
The built-in tools carry that runtime's names and parameters (``start_workflow(tasks)``,
``get_workflow_status(workflow_id)``, ``list_workflows()``, ``cancel_workflow(workflow_id,
reason)``, ``terminate_workflow(workflow_id, reason)``), so a prompt written for it works
here. Running them against a durable store is the runner's job, not this module's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from .marks import (
    WORKFLOW_TOOL_ATTRIBUTE,
    WorkflowToolMark,
    is_workflow_tool,
    workflow_tool,
    workflow_tool_mark,
    workflow_tool_name,
)
from .plan import EXTENSION_FIELDS, RESERVED_TOOL_NAMES, Plan
from .schema import start_workflow_schema
from .validate import PlanError, PlanPolicy, PlanValidationError, validate_plan

__all__ = [
    "BUILTIN_TOOL_NAMES",
    "WORKFLOW_TOOL_ATTRIBUTE",
    "BuiltinTool",
    "WorkflowToolMark",
    "allowed_workflow_tools",
    "builtin_tools",
    "is_workflow_tool",
    "parse_start_workflow",
    "workflow_tool",
    "workflow_tool_mark",
    "workflow_tool_name",
]

T = TypeVar("T")

BUILTIN_TOOL_NAMES = (
    "start_workflow",
    "get_workflow_status",
    "list_workflows",
    "cancel_workflow",
    "terminate_workflow",
)
"""The management tools, in the order the other runtime injects them."""


def allowed_workflow_tools(marked: Iterable[object], exclude: Iterable[str] = ()) -> frozenset[str]:
    """The tool names plans may use: public marked tools minus ``workflows.exclude`` and reserved names."""
    excluded = set(exclude)
    names: set[str] = set()
    for value in marked:
        mark = workflow_tool_mark(value)
        if mark is None or not mark.public:
            continue
        name = workflow_tool_name(value)
        if name not in excluded and name not in RESERVED_TOOL_NAMES:
            names.add(name)
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class BuiltinTool:
    """One workflow-management tool as the model sees it."""

    name: str
    description: str
    parameters: dict[str, Any]
    """JSON Schema of its arguments."""


_WORKFLOW_ID = {"type": "string", "description": "The workflow_id a previous start_workflow call returned."}


def builtin_tools(*, extensions: bool = True) -> list[BuiltinTool]:
    """The five management tools (descriptions are agentdown's words for the other runtime's contract)."""

    def with_reason(default: str, what: str) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "workflow_id": _WORKFLOW_ID,
                "reason": {"type": "string", "default": default, "description": what},
            },
            "required": ["workflow_id"],
        }

    return [
        BuiltinTool(
            "start_workflow",
            "Plan and launch a long-running workflow that runs durably in the background; returns "
            '{"workflow_id"} as soon as it is scheduled. Use it for work that should outlive the chat '
            "turn, run steps in parallel, wait, or take many tool calls. Tasks form a DAG of 'tool', 'wait' "
            "and authorised 'sub_agent' tasks. It is fire-and-forget: after it returns, report the "
            "workflow_id and end your turn; do not poll get_workflow_status unless the user asks or a "
            "<workflow-notification> message names the workflow.",
            start_workflow_schema(extensions=extensions),
        ),
        BuiltinTool(
            "get_workflow_status",
            "The current status of a workflow started earlier. Call it only when the user asks about a "
            "workflow or a <workflow-notification> message names its workflow_id.",
            {"type": "object", "properties": {"workflow_id": _WORKFLOW_ID}, "required": ["workflow_id"]},
        ),
        BuiltinTool(
            "list_workflows",
            "The workflows this session started. Call it only when the user asks about their workflows.",
            {"type": "object", "properties": {}},
        ),
        BuiltinTool(
            "cancel_workflow",
            "Cancel a running workflow cooperatively, keeping the results gathered so far; prefer it to "
            "terminate_workflow when partial output is useful. Only this session's workflows.",
            with_reason("canceled by agent", "Short reason, passed to the workflow with the cancel request."),
        ),
        BuiltinTool(
            "terminate_workflow",
            "Stop a running workflow at once; use it only when the workflow is wrong and must not go on. "
            "Only this session's workflows.",
            with_reason("terminated by agent", "Short reason recorded on the workflow."),
        ),
    ]


_FIELDS_BY_TYPE = {
    "tool": frozenset({"id", "type", "depends_on", "tool", "args"}),
    "wait": frozenset({"id", "type", "depends_on", "duration", "until"}),
    "sub_agent": frozenset({"id", "type", "depends_on", "agent", "task"}),
}


def _field_errors(tasks: list[Any], extensions: bool) -> list[PlanError]:
    """Fields a task of its type may not carry at all, even empty or null.

    The other runtime's ``start_workflow`` arguments have one closed object per task
    type, so there ``"args": {}`` on a wait task is refused before the plan validator
    (which alone would let an empty one pass) ever sees it.
    """
    errors: list[PlanError] = []
    for i, task in enumerate(tasks):
        if not isinstance(task, Mapping) or task.get("type") not in _FIELDS_BY_TYPE:
            continue
        kind = task["type"]
        allowed = _FIELDS_BY_TYPE[kind] | (frozenset(EXTENSION_FIELDS) if extensions else frozenset())
        label = task["id"] if isinstance(task.get("id"), str) else f"tasks[{i}]"
        for key in sorted(set(task) - allowed, key=str):
            errors.append(
                PlanError(
                    label,
                    str(key),
                    f"{str(key)!r} is not valid on type={kind} tasks (extra inputs are not permitted)",
                )
            )
    return errors


def parse_start_workflow(arguments: object, policy: PlanPolicy, *, now: datetime | None = None) -> Plan:
    """The plan in ``start_workflow``'s arguments, validated (``PlanValidationError`` lists every problem).

    A task without ``type`` is a ``tool`` task, as the other runtime reads it; other
    top-level keys are ignored, as there.
    """
    if not isinstance(arguments, Mapping):
        raise PlanValidationError(
            [PlanError(None, None, "start_workflow takes an object with a 'tasks' list")]
        )
    tasks = arguments.get("tasks")
    extra: list[PlanError] = []
    if isinstance(tasks, list):
        tasks = [{"type": "tool", **t} if isinstance(t, Mapping) and "type" not in t else t for t in tasks]
        extra = _field_errors(tasks, policy.extensions)
    try:
        plan = validate_plan({"tasks": tasks}, policy, now=now)
    except PlanValidationError as exc:
        seen = {(e.task, e.field) for e in exc.errors}
        raise PlanValidationError(exc.errors + [e for e in extra if (e.task, e.field) not in seen]) from None
    if extra:
        raise PlanValidationError(extra)
    return plan

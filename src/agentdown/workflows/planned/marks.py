"""``@workflow_tool`` and reading its mark: the part of :mod:`.tools` that loading an app needs.

Kept apart from the plan models (pydantic), so discovering an app's ``tools/`` imports
none of them; :mod:`.tools` re-exports every name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from agentdown.tools.function import FunctionTool

__all__ = [
    "RESERVED_TOOL_NAMES",
    "WORKFLOW_TOOL_ATTRIBUTE",
    "WorkflowToolMark",
    "is_workflow_tool",
    "workflow_tool",
    "workflow_tool_mark",
    "workflow_tool_name",
]

T = TypeVar("T")

RESERVED_TOOL_NAMES = frozenset(
    {"start_workflow", "get_workflow_status", "list_workflows", "cancel_workflow", "terminate_workflow"}
)
"""The workflow-management tools: never a workflow tool, never a task's ``tool``."""

WORKFLOW_TOOL_ATTRIBUTE = "__azure_functions_agents_workflow_tool__"
"""Where the mark is recorded: the other runtime's attribute, so both packages see each other's marks."""


@dataclass(frozen=True, slots=True)
class WorkflowToolMark:
    """What ``@workflow_tool(...)`` was given."""

    name: str | None = None
    """The workflow name (default: the function's or tool's own name)."""
    description: str | None = None
    """Shown to the planning model (default: the docstring)."""
    public: bool = True
    """``False`` keeps it out of the agent's workflow tools unless named explicitly."""


@overload
def workflow_tool(
    func: T, *, name: str | None = None, description: str | None = None, public: bool = True
) -> T: ...
@overload
def workflow_tool(
    func: None = None, *, name: str | None = None, description: str | None = None, public: bool = True
) -> Callable[[T], T]: ...
def workflow_tool(
    func: Any = None,
    *,
    name: str | None = None,
    description: str | None = None,
    public: bool = True,
    **unknown: Any,
) -> Any:
    """Mark a function (or tool) as runnable inside planned workflows; it is returned unchanged.

    A marked plain function is not a chat tool by itself (combine with ``@tool`` for both).
    An unknown keyword (e.g. a retry policy the decorator does not take) is a ``TypeError``
    at import, so no author believes an unsupported knob is active.
    """
    if unknown:
        raise TypeError(f"unknown workflow_tool argument(s): {', '.join(sorted(unknown))}")
    mark = WorkflowToolMark(name, description, public)

    def decorate(inner: Any) -> Any:
        if not callable(inner) and not isinstance(inner, FunctionTool):
            raise TypeError("@workflow_tool can only decorate a function or a tool")
        setattr(inner, WORKFLOW_TOOL_ATTRIBUTE, mark)
        return inner

    return decorate if func is None else decorate(func)


def workflow_tool_mark(value: object) -> WorkflowToolMark | None:
    """The mark on ``value`` (or on the function a tool wraps), from either package; else ``None``."""
    for target in (value, getattr(value, "func", None)):
        try:
            mark = getattr(target, WORKFLOW_TOOL_ATTRIBUTE, None)
        except Exception:  # an object whose __getattr__ raises carries no mark
            continue
        if mark is not None:
            if isinstance(mark, WorkflowToolMark):
                return mark
            # The other runtime's own metadata class has the same three fields.
            return WorkflowToolMark(
                getattr(mark, "name", None),
                getattr(mark, "description", None),
                bool(getattr(mark, "public", True)),
            )
    return None


def is_workflow_tool(value: object) -> bool:
    """Whether ``value`` carries a ``@workflow_tool`` mark."""
    return workflow_tool_mark(value) is not None


def workflow_tool_name(value: object) -> str:
    """The name ``value`` has in plans: the mark's ``name``, else the tool's or function's own name."""
    mark = workflow_tool_mark(value)
    if mark is not None and mark.name:
        return mark.name
    own = (
        getattr(value, "name", None) if isinstance(value, FunctionTool) else getattr(value, "__name__", None)
    )
    if not isinstance(own, str) or not own:
        raise TypeError(f"workflow tool {value!r} has no name; pass @workflow_tool(name=...)")
    return own

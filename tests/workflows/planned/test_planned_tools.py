"""``@workflow_tool`` (and its interplay with the compat layer) and the built-in tool definitions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from agentdown.compat import tools as compat_tools
from agentdown.tools import FunctionTool, tool
from agentdown.workflows.planned import (
    PlanPolicy,
    PlanValidationError,
    builtin_tools,
    parse_start_workflow,
    workflow_addendum,
)
from agentdown.workflows.planned.tools import (
    WORKFLOW_TOOL_ATTRIBUTE,
    allowed_workflow_tools,
    is_workflow_tool,
    workflow_tool,
    workflow_tool_mark,
    workflow_tool_name,
)


@workflow_tool(description="Fetch recent log lines for a service.")
def fetch_logs(args: dict[str, Any]) -> dict[str, Any]:
    return {"service": args["service"]}


@tool
@workflow_tool(description="Both a chat tool and a workflow tool.")
def summarize(args: dict[str, object]) -> dict[str, object]:
    return {"summary": "..."}


@workflow_tool(name="health")
@tool
def get_health(service: str) -> str:
    """Health of a service."""
    return "healthy"


@workflow_tool(public=False)
def internal(args: dict[str, Any]) -> None:
    return None


def test_the_decorator_marks_and_returns_the_same_object() -> None:
    assert fetch_logs({"service": "api"}) == {"service": "api"}
    assert workflow_tool_mark(fetch_logs) is not None
    assert workflow_tool_mark(fetch_logs).description == "Fetch recent log lines for a service."  # type: ignore[union-attr]
    assert isinstance(summarize, FunctionTool) and is_workflow_tool(summarize)
    assert isinstance(get_health, FunctionTool) and workflow_tool_name(get_health) == "health"
    assert workflow_tool_name(summarize) == "summarize" and workflow_tool_name(fetch_logs) == "fetch_logs"
    assert workflow_tool(fetch_logs) is fetch_logs


def test_unknown_arguments_and_non_callables_are_refused() -> None:
    with pytest.raises(TypeError, match="unknown workflow_tool argument"):
        workflow_tool(retry=3)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="can only decorate"):
        workflow_tool(42)


def test_marks_are_shared_with_the_compat_layer_both_ways() -> None:
    assert WORKFLOW_TOOL_ATTRIBUTE == compat_tools.WORKFLOW_TOOL_ATTRIBUTE
    assert compat_tools.is_workflow_tool(fetch_logs)

    @compat_tools.workflow_tool(name="theirs", description="d", public=False)
    def theirs(args: dict[str, Any]) -> None:
        return None

    mark = workflow_tool_mark(theirs)
    assert mark is not None and (mark.name, mark.description, mark.public) == ("theirs", "d", False)


def test_allowed_tools_drop_excluded_private_and_reserved_names() -> None:
    @workflow_tool(name="start_workflow")
    def sneaky(args: dict[str, Any]) -> None:
        return None

    allowed = allowed_workflow_tools(
        [fetch_logs, summarize, get_health, internal, sneaky, len], exclude=["summarize"]
    )
    assert allowed == frozenset({"fetch_logs", "health"})


def test_the_builtin_tools_have_their_names_and_parameters() -> None:
    tools = {t.name: t for t in builtin_tools()}
    assert list(tools) == [
        "start_workflow",
        "get_workflow_status",
        "list_workflows",
        "cancel_workflow",
        "terminate_workflow",
    ]
    assert tools["start_workflow"].parameters["required"] == ["tasks"]
    assert tools["get_workflow_status"].parameters["required"] == ["workflow_id"]
    assert tools["list_workflows"].parameters["properties"] == {}
    assert tools["cancel_workflow"].parameters["properties"]["reason"]["default"] == "canceled by agent"
    assert tools["terminate_workflow"].parameters["properties"]["reason"]["default"] == "terminated by agent"
    compat = {t.name: t for t in builtin_tools(extensions=False)}
    assert "when" not in compat["start_workflow"].parameters["$defs"]["ToolTask"]["properties"]


def test_start_workflow_arguments_default_the_task_type_to_tool() -> None:
    policy = PlanPolicy(allowed_workflow_tools([fetch_logs]))
    plan = parse_start_workflow(
        {"tasks": [{"id": "a", "tool": "fetch_logs", "args": {"service": "x"}}], "extra": 1}, policy
    )
    assert plan.tasks[0].type == "tool"
    with pytest.raises(PlanValidationError, match="start_workflow takes an object"):
        parse_start_workflow([], policy)
    with pytest.raises(PlanValidationError, match="not workflow-safe"):
        parse_start_workflow({"tasks": [{"id": "a", "tool": "internal"}]}, policy, now=datetime.now(UTC))


def test_the_addendum_lists_what_plans_may_use_under_the_headings_the_schema_names() -> None:
    text = workflow_addendum(
        {"fetch_logs": "Fetch logs."}, {"log_analyst": "Analyze one bounded set of logs"}
    )
    assert "### Available workflow tools\n\n- `fetch_logs` — Fetch logs." in text
    assert "- `log_analyst` — Analyze one bounded set of logs" in text
    assert "<workflow-notification>" in text and "`for_each`" in text
    bare = workflow_addendum({}, trigger=True, extensions=False)
    assert "plans can only wait" in bare and "No Sub Agent tasks" in bare
    assert "<workflow-notification>" not in bare and "for_each" not in bare

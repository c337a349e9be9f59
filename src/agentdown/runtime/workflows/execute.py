"""Carrying out one execution of a plan: a ``@workflow_tool`` call or a sub-agent run.

A marked plain function is called with the one ``args`` dict, as the Azure Functions
agents runtime calls it (sync ones in a thread, async ones awaited); a marked
``@tool`` is invoked with its arguments, validated against its schema. A sub-agent
runs fresh, in a session of its own, on the resolved task text only. Failures become a
:class:`~agentdown.workflows.planned.TaskFailure` whose message names the exception's
type and its first line, cut short: stack traces and long values (which may hold
secrets) go to the log, not into the status every caller of ``get_workflow_status`` sees.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from typing import Any

from agentdown.app.catalog import AgentCatalog
from agentdown.app.workflow_tools import workflow_tools_of
from agentdown.tools.context import FunctionInvocationContext
from agentdown.tools.function import FunctionTool
from agentdown.workflows.planned import TaskFailure

__all__ = ["failure_message", "run_subagent", "run_tool"]

logger = logging.getLogger("agentdown.workflows")
_MAX_MESSAGE = 300


def failure_message(what: str, exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    if len(first) > _MAX_MESSAGE:
        first = first[:_MAX_MESSAGE] + "…"
    return f"{what} raised {type(exc).__name__}" + (f": {first}" if first else "")


async def run_tool(catalog: AgentCatalog, agent: str, tool: str, arguments: dict[str, Any]) -> Any:
    """The JSON result of workflow tool ``tool`` of ``agent``'s plans, or a :class:`TaskFailure`."""
    spec = catalog.specs.get(agent)
    found = next((t for t in workflow_tools_of(catalog, spec) if t.name == tool), None) if spec else None
    if found is None:
        return TaskFailure(f"tool {tool!r} is no longer a workflow tool of agent {agent!r}")
    target = found.target
    try:
        if isinstance(target, FunctionTool):
            context = FunctionInvocationContext(tool=target, arguments=dict(arguments))
            result = await target.invoke(dict(arguments), context)
        elif inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
            getattr(target, "__call__", None)  # noqa: B004 (an async callable object)
        ):
            result = await target(dict(arguments))
        else:
            result = await asyncio.to_thread(target, dict(arguments))
            if inspect.isawaitable(result):
                result = await result
    except Exception as exc:
        logger.warning("workflow tool %s failed", tool, exc_info=True)
        return TaskFailure(failure_message(f"tool {tool!r}", exc))
    try:
        json.dumps(result)
    except (TypeError, ValueError):
        return TaskFailure(f"tool {tool!r} returned a {type(result).__name__}, which is not JSON")
    return result


async def run_subagent(catalog: AgentCatalog, agent: str, prompt: str) -> Any:
    """The answer text of specialist ``agent`` run fresh on ``prompt``, or a :class:`TaskFailure`."""
    if agent not in catalog.specs:
        return TaskFailure(f"Sub Agent {agent!r} is not an agent of this app")
    try:
        result = await catalog.build_agent(agent).run(prompt)
    except Exception as exc:
        logger.warning("workflow Sub Agent %s failed", agent, exc_info=True)
        return TaskFailure(failure_message(f"Sub Agent {agent!r}", exc))
    if result.requires_action:
        return TaskFailure(
            f"Sub Agent {agent!r} stopped for approvals or tool outputs, which a workflow cannot give"
        )
    return result.text or ""

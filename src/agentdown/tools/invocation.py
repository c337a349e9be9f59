"""Executing one tool call for the run loop: validate, middleware, invoke, parse.

:func:`invoke_tool_call` turns every tool failure into a ``tool_result`` the model
can read, so one bad call never ends a run. What the model is told:

* invalid arguments (or arguments that are not JSON): every problem with its field
  path, always - it is what lets the model fix its call;
* a :class:`~agentdown.exceptions.ToolError`: its message, always;
* any other exception: ``type: message`` with ``include_detailed_errors``, else only
  that the tool failed (exception texts can leak internals).

Every exception is logged on the ``agentdown.tools`` logger with its traceback.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentdown import telemetry
from agentdown.exceptions import ToolError
from agentdown.messages import Content
from agentdown.tools.arguments import ToolArgumentsError, protocol_tool_validator
from agentdown.tools.context import FunctionInvocationContext, ToolUsage
from agentdown.tools.function import FunctionTool
from agentdown.tools.middleware import (
    MiddlewareTermination,
    resolve_function_middleware,
    run_function_middleware,
)
from agentdown.tools.protocol import Tool, tool_attr
from agentdown.tools.results import parse_tool_result

__all__ = ["ToolCallOutcome", "invoke_tool_call", "validate_tool_arguments"]

logger = logging.getLogger("agentdown.tools")


@dataclass(slots=True)
class ToolCallOutcome:
    """The result of one tool call, success or failure."""

    call: Content
    """The ``tool_call`` content that was executed."""
    result: Content
    """The ``tool_result`` content for the model (``is_error`` set on failure)."""
    value: Any
    """The raw result after middleware; ``None`` on error."""
    exception: BaseException | None
    """What failed the call (argument errors included), else ``None``."""
    terminated: bool
    """A middleware ended the call with :class:`MiddlewareTermination`."""
    started_at: float
    """Unix seconds at the start."""
    duration: float
    """Seconds the call took, validation and middleware included."""


def validate_tool_arguments(tool: Tool, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``arguments`` for any tool; raises :class:`ToolArgumentsError`.

    A :class:`FunctionTool` validates and coerces with its pydantic model; any other
    tool is checked against its ``parameters`` with a cached JSON-Schema validator.
    """
    if isinstance(tool, FunctionTool):
        return tool.validate_arguments(arguments)
    protocol_tool_validator(tool).validate(tool.name, arguments)
    return dict(arguments)


async def _invoke(tool: Tool, context: FunctionInvocationContext) -> Any:
    invoke = tool.invoke
    if isinstance(tool, FunctionTool) or inspect.iscoroutinefunction(invoke):
        return await invoke(context.arguments, context)
    # A plain `def invoke` may block (SDK clients, files): keep it off the event loop.
    result = await asyncio.to_thread(invoke, context.arguments, context)
    if inspect.isawaitable(result):
        result = await result
    return result


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


async def invoke_tool_call(
    tool: Tool,
    call: Content,
    *,
    middleware: Sequence[object] = (),
    session: Any = None,
    function_invocation_kwargs: Mapping[str, Any] | None = None,
    include_detailed_errors: bool = False,
    usage: ToolUsage | None = None,
) -> ToolCallOutcome:
    """Run ``call`` (a ``tool_call`` content) on ``tool`` and report the outcome.

    Never raises for a failing call; only ``BaseException``\\ s that are not
    ``Exception`` (cancellation) propagate, and ``TypeError`` for an unusable
    ``middleware`` item (a programming error, better caught when the agent is built
    with :func:`~agentdown.tools.middleware.normalize_function_middleware`).
    With telemetry on, the call gets an ``execute_tool`` span.
    """
    kwargs = (middleware, session, function_invocation_kwargs, include_detailed_errors, usage)
    s = telemetry.tool_span(call.name or tool.name, call_id=call.call_id) if telemetry.active() else None
    if s is None:
        return await _invoke_tool_call(tool, call, *kwargs)
    telemetry.set_content(s, "gen_ai.tool.call.arguments", lambda: call.arguments or call.raw_arguments)
    with telemetry.current(s):
        try:
            outcome = await _invoke_tool_call(tool, call, *kwargs)
        except BaseException as exc:
            telemetry.fail_span(s, exc)
            s.end()
            raise
    if outcome.exception is not None:
        telemetry.fail_span(s, outcome.exception)
    telemetry.set_content(s, "gen_ai.tool.call.result", lambda: outcome.result.text)
    s.end()
    return outcome


async def _invoke_tool_call(
    tool: Tool,
    call: Content,
    middleware: Sequence[object],
    session: Any,
    function_invocation_kwargs: Mapping[str, Any] | None,
    include_detailed_errors: bool,
    usage: ToolUsage | None,
) -> ToolCallOutcome:
    started_at = time.time()
    t0 = time.perf_counter()
    chain = resolve_function_middleware(middleware)
    name = call.name or tool.name
    call_id = call.call_id or ""

    def finish(
        text: str,
        items: list[Content] | None = None,
        *,
        value: Any = None,
        exception: BaseException | None = None,
        terminated: bool = False,
    ) -> ToolCallOutcome:
        result = Content.from_tool_result(
            call_id, text, name=name, items=items, is_error=exception is not None
        )
        return ToolCallOutcome(
            call, result, value, exception, terminated, started_at, time.perf_counter() - t0
        )

    def failure(exc: Exception) -> ToolCallOutcome:
        if isinstance(exc, ToolArgumentsError):
            logger.info("tool '%s' (call %s): %s", name, call_id, exc)
            text = f"Error: {exc}"
        elif isinstance(exc, ToolError):
            logger.warning("tool '%s' (call %s) raised ToolError: %s", name, call_id, exc, exc_info=exc)
            text = f"Error: {exc}" if str(exc) else f"Error: the tool '{name}' failed."
        else:
            logger.error("tool '%s' (call %s) failed", name, call_id, exc_info=exc)
            if include_detailed_errors:
                text = f"Error: the tool '{name}' failed: {type(exc).__name__}: {exc}"
            else:
                text = f"Error: the tool '{name}' failed."
        return finish(text, exception=exc)

    arguments = call.arguments
    if arguments is None:
        raw = call.raw_arguments
        if raw is not None and raw.strip():
            try:
                json.loads(raw)
                problem = "were not a JSON object"
            except ValueError:
                problem = "were not valid JSON"
            return failure(
                ToolArgumentsError(
                    f"the arguments for tool '{name}' {problem}: {_short(raw)!r}. "
                    "Call the tool again with the arguments as one JSON object."
                )
            )
        arguments = {}
    elif not isinstance(arguments, Mapping):
        return failure(
            ToolArgumentsError(
                f"the arguments for tool '{name}' must be a JSON object, got {type(arguments).__name__}. "
                "Call the tool again with the arguments as one JSON object."
            )
        )
    try:
        validated = validate_tool_arguments(tool, arguments)
    except Exception as exc:
        return failure(exc)

    context = FunctionInvocationContext(
        tool=tool,
        arguments=validated,
        call_id=call_id,
        session=session,
        function_invocation_kwargs=dict(function_invocation_kwargs or {}),
        usage=usage,
    )

    async def final(ctx: FunctionInvocationContext) -> None:
        try:
            ctx.result = await _invoke(tool, ctx)
        except Exception as exc:
            ctx.exception = exc  # visible to middleware that catches it around call_next
            raise

    terminated = False
    try:
        await run_function_middleware(chain, context, final)
        value = context.result
    except MiddlewareTermination as stop:
        terminated = True
        value = stop.result if stop.has_result else context.result
    except Exception as exc:
        return failure(exc)
    try:
        text, items = parse_tool_result(value, tool_attr(tool, "result_parser", None))
    except Exception as exc:
        return failure(exc)
    return finish(text, items, value=value, terminated=terminated)

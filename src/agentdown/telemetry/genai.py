"""The GenAI semantic conventions' spans and metrics, from plain values.

Names and attributes follow the OpenTelemetry GenAI conventions: ``invoke_agent {agent}``,
``chat {model}`` and ``execute_tool {tool}`` spans; ``gen_ai.client.token.usage`` and
``gen_ai.client.operation.duration`` histograms. Content attributes
(``gen_ai.input.messages``, ``gen_ai.output.messages``, ``gen_ai.tool.call.arguments``,
``gen_ai.tool.call.result``) are set only when content capture is on; callers pass a
function producing the JSON so it costs nothing otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from agentdown.telemetry._state import active
from agentdown.telemetry.spans import SpanKind, start_span

if TYPE_CHECKING:
    from opentelemetry.trace import Span

__all__ = [
    "agent_span",
    "chat_span",
    "content_json",
    "count_lease_renewal",
    "count_run",
    "end_chat",
    "record_queue_poll",
    "set_content",
    "tool_span",
]

MAX_CONTENT = 64 * 1024
"""Longest content attribute kept (characters); longer text is cut, with a marker."""


def content_json(value: Any) -> str:
    """``value`` as JSON for a content attribute, cut at :data:`MAX_CONTENT`."""
    try:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= MAX_CONTENT else text[:MAX_CONTENT] + "…[truncated]"


def set_content(s: Span, key: str, produce: Callable[[], Any]) -> None:
    """Set content attribute ``key`` from ``produce()`` if content capture is on."""
    current = active()
    if current is not None and current.capture_content:
        s.set_attribute(key, content_json(produce()))


def agent_span(
    agent_name: str | None,
    *,
    agent_id: str | None = None,
    conversation_id: str | None = None,
    model: str | None = None,
    provider: str | None = None,
) -> Span | None:
    """An ``invoke_agent`` span (not current yet), or ``None`` when telemetry is off."""
    return start_span(
        f"invoke_agent {agent_name}" if agent_name else "invoke_agent",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.provider.name": provider,
            "gen_ai.agent.name": agent_name,
            "gen_ai.agent.id": agent_id,
            "gen_ai.conversation.id": conversation_id,
            "gen_ai.request.model": model,
        },
        kind=SpanKind.INTERNAL,
    )


def chat_span(model: str | None, provider: str | None, request: Mapping[str, Any]) -> Span | None:
    """A ``chat {model}`` client span; ``request`` holds ``gen_ai.request.*`` attributes."""
    return start_span(
        f"chat {model}" if model else "chat",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": model,
            **request,
        },
        kind=SpanKind.CLIENT,
    )


def end_chat(
    s: Span,
    *,
    duration: float,
    request_model: str | None,
    provider: str | None,
    response_model: str | None = None,
    response_id: str | None = None,
    finish_reason: str | None = None,
    input_tokens: int | None = None,
    output_tokens: int | None = None,
    error_type: str | None = None,
) -> None:
    """Finish a chat span and record the conventions' two client metrics for it."""
    attrs: dict[str, Any] = {
        "gen_ai.response.model": response_model,
        "gen_ai.response.id": response_id,
        "gen_ai.usage.input_tokens": input_tokens,
        "gen_ai.usage.output_tokens": output_tokens,
    }
    s.set_attributes({k: v for k, v in attrs.items() if v is not None})
    if finish_reason:
        s.set_attribute("gen_ai.response.finish_reasons", (finish_reason,))
    s.end()
    current = active()
    if current is None:
        return
    base = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider or "",
        "gen_ai.request.model": request_model or "",
    }
    if response_model:
        base["gen_ai.response.model"] = response_model
    inst = current.instruments
    duration_attrs = {**base, "error.type": error_type} if error_type else base
    inst.operation_duration.record(duration, duration_attrs)
    if error_type is None:
        if input_tokens is not None:
            inst.token_usage.record(input_tokens, {**base, "gen_ai.token.type": "input"})
        if output_tokens is not None:
            inst.token_usage.record(output_tokens, {**base, "gen_ai.token.type": "output"})


def tool_span(
    name: str,
    *,
    call_id: str | None,
    tool_type: str | None = "function",
    description: str | None = None,
) -> Span | None:
    """An ``execute_tool {tool}`` span (not current yet), or ``None`` when telemetry is off."""
    return start_span(
        f"execute_tool {name}",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": call_id,
            "gen_ai.tool.type": tool_type,
            "gen_ai.tool.description": description,
        },
    )


def count_run(kind: str, status: str) -> None:
    """Count one finished run of ``kind`` (agent, agents_api, trigger, workflow_step...)."""
    current = active()
    if current is not None:
        current.instruments.runs.add(1, {"agentdown.run.kind": kind, "agentdown.run.status": status})


def record_queue_poll(queue: str, received: int) -> None:
    """Record how many messages one poll of ``queue`` received (its visible depth, up to 32)."""
    current = active()
    if current is not None:
        current.instruments.queue_depth.record(received, {"messaging.destination.name": queue})


def count_lease_renewal(kind: str) -> None:
    """Count one renewed lease of a running ``kind`` job."""
    current = active()
    if current is not None:
        current.instruments.lease_renewals.add(1, {"agentdown.job.kind": kind})

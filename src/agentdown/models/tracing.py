"""The ``chat`` span around every model call the run loop makes (streamed or not).

The run loop calls :func:`complete` and :func:`stream` instead of the model's own methods;
with telemetry off they are the model's methods plus one check. Works for any
:class:`~agentdown.models.base.ChatModel` (OpenAI-compatible, local, scripted).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from agentdown import telemetry
from agentdown.models.base import ChatModel, ChatOptions, ChatResponse, ModelStreamEvent, ToolDefinition

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from agentdown.messages import Message

__all__ = ["complete", "provider_of", "stream"]

_HOSTS = (
    ("openai.azure.com", "azure.ai.openai"),
    ("services.ai.azure.com", "azure.ai.inference"),
    ("models.ai.azure.com", "azure.ai.inference"),
    ("api.openai.com", "openai"),
)


def provider_of(model: ChatModel) -> str:
    """The conventions' ``gen_ai.provider.name`` for ``model`` (``openai`` for compatible servers)."""
    named = getattr(model, "provider_name", None)
    if isinstance(named, str) and named:
        return named
    url = getattr(model, "base_url", None)
    if isinstance(url, str):
        return next((name for host, name in _HOSTS if host in url), "openai")
    return type(model).__module__.rsplit(".", 1)[-1]


def _request(model: ChatModel, options: ChatOptions) -> tuple[str, str, dict[str, Any]]:
    name = options.model or model.model_name
    attrs = {
        "gen_ai.request.temperature": options.temperature,
        "gen_ai.request.top_p": options.top_p,
        "gen_ai.request.max_tokens": options.max_output_tokens,
        "gen_ai.request.seed": options.seed,
        "gen_ai.request.stop_sequences": tuple(options.stop) if options.stop else None,
        "server.address": _host(model),
    }
    return name, provider_of(model), attrs


def _host(model: ChatModel) -> str | None:
    url = getattr(model, "base_url", None)
    if not isinstance(url, str):
        return None
    from urllib.parse import urlsplit

    return urlsplit(url).hostname


def _start(model: ChatModel, messages: list[Message], options: ChatOptions) -> tuple[Span, str, str] | None:
    name, provider, attrs = _request(model, options)
    s = telemetry.chat_span(name, provider, attrs)
    if s is None:
        return None
    telemetry.set_content(s, "gen_ai.input.messages", lambda: [m.to_dict() for m in messages])
    return s, name, provider


def _finish(s: Span, name: str, provider: str, response: ChatResponse | None, duration: float) -> None:
    if response is not None:
        telemetry.set_content(s, "gen_ai.output.messages", lambda: [response.message.to_dict()])
    usage = response.usage if response is not None else None
    telemetry.end_chat(
        s,
        duration=duration,
        request_model=name,
        provider=provider,
        response_model=response.model if response is not None else None,
        response_id=response.response_id if response is not None else None,
        finish_reason=response.finish_reason if response is not None else None,
        input_tokens=usage.input_tokens if usage is not None else None,
        output_tokens=usage.output_tokens if usage is not None else None,
    )


async def complete(
    model: ChatModel, messages: list[Message], *, tools: Sequence[ToolDefinition], options: ChatOptions
) -> ChatResponse:
    """``model.complete(...)`` inside a ``chat`` span when telemetry is on."""
    started = _start(model, messages, options) if telemetry.active() is not None else None
    if started is None:
        return await model.complete(messages, tools=tools, options=options)
    s, name, provider = started
    t0 = time.perf_counter()
    with telemetry.current(s):
        try:
            response = await model.complete(messages, tools=tools, options=options)
        except BaseException as exc:
            telemetry.fail_span(s, exc)
            telemetry.end_chat(
                s,
                duration=time.perf_counter() - t0,
                request_model=name,
                provider=provider,
                error_type=type(exc).__qualname__,
            )
            raise
    _finish(s, name, provider, response, time.perf_counter() - t0)
    return response


def stream(
    model: ChatModel, messages: list[Message], *, tools: Sequence[ToolDefinition], options: ChatOptions
) -> AsyncIterator[ModelStreamEvent]:
    """``model.stream(...)`` inside a ``chat`` span when telemetry is on (ends with the stream)."""
    started = _start(model, messages, options) if telemetry.active() is not None else None
    events = model.stream(messages, tools=tools, options=options)
    if started is None:
        return events
    s, name, provider = started
    final: list[ChatResponse] = []

    def on_item(_: Span, item: ModelStreamEvent) -> None:
        if isinstance(item, ChatResponse):
            final.append(item)

    def on_end(span: Span, duration: float, error: BaseException | None) -> None:
        if final and error is None:
            _finish(span, name, provider, final[-1], duration)
            return
        # Failed, or closed before its final response (the client went away).
        error_type = type(error).__qualname__ if error is not None else "incomplete"
        telemetry.end_chat(
            span, duration=duration, request_model=name, provider=provider, error_type=error_type
        )

    return telemetry.traced_generator(_agen(events), s, on_item, on_end=on_end)


async def _agen(events: AsyncIterator[ModelStreamEvent]) -> AsyncGenerator[ModelStreamEvent, None]:
    # ``stream`` is any async iterator; the wrapper needs a generator it can close.
    async for item in events:
        yield item

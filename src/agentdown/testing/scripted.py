"""In-process test models: replies from a script or from a function, no network at all."""

from __future__ import annotations

import copy
import inspect
import json
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from agentdown.exceptions import ModelError
from agentdown.messages import Content, Message, Usage, new_id
from agentdown.models.base import (
    ChatOptions,
    ChatResponse,
    ModelStreamEvent,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolDefinition,
)

__all__ = [
    "CallInfo",
    "FunctionModel",
    "ModelRequest",
    "RecordedRequest",
    "Reply",
    "ReplyFunction",
    "ScriptExhaustedError",
    "ScriptedModel",
    "ToolCalls",
    "estimate_usage",
    "response_events",
    "to_response",
    "tool_call",
]


def tool_call(name: str, args: dict[str, Any] | None = None, call_id: str | None = None) -> Content:
    """A ``tool_call`` content for a scripted reply; ``call_id`` is generated when omitted."""
    return Content.from_tool_call(name, dict(args or {}), call_id=call_id or new_id("call"))


class ToolCalls:
    """A reply that calls one or more tools, optionally with some text before the calls."""

    __slots__ = ("calls", "text")

    def __init__(self, *calls: Content, text: str | None = None) -> None:
        if not calls:
            raise ValueError("ToolCalls needs at least one tool_call(...)")
        for call in calls:
            if call.type != "tool_call":
                raise TypeError(f"ToolCalls takes tool_call contents, got {call.type!r}")
        self.calls = list(calls)
        self.text = text

    def __repr__(self) -> str:
        return f"ToolCalls({', '.join(c.name or '?' for c in self.calls)}, text={self.text!r})"


Reply: TypeAlias = "str | Content | ToolCalls | Sequence[Content] | Message | ChatResponse | BaseException"
"""What a scripted or function model answers with.

``str`` is the reply text; ``Content`` / a list of contents / ``ToolCalls`` form an
assistant message (tool calls, text, reasoning); a ``Message`` or ``ChatResponse`` is
used as given; an exception instance is raised instead of answering.
"""


class ScriptExhaustedError(ModelError, AssertionError):
    """A :class:`ScriptedModel` was asked for more replies than it was given."""


@dataclass(slots=True)
class RecordedRequest:
    """An HTTP request as the fake model server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    """Lower-case names."""
    body: Any
    """Parsed JSON (``None`` when there was no body)."""
    peer: str = ""
    """Client ``host:port``; one value per TCP connection, so connection reuse shows."""


@dataclass(frozen=True, slots=True)
class CallInfo:
    """What a :class:`FunctionModel` function (or fake-server handler) gets besides the messages."""

    tools: Sequence[ToolDefinition]
    options: ChatOptions
    stream: bool
    request: RecordedRequest | None = None
    """The HTTP request, when the call came through :class:`FakeModelServer`."""


@dataclass(slots=True)
class ModelRequest:
    """One call made to a test model, copied so later changes by the caller do not show."""

    messages: list[Message]
    tools: list[ToolDefinition]
    options: ChatOptions | None
    stream: bool
    extra: dict[str, Any] = field(default_factory=dict)


def _chars(messages: Iterable[Message]) -> int:
    total = 0
    for message in messages:
        for content in message.contents:
            total += len(content.text or "")
            if content.type == "tool_call":
                total += len(content.name or "") + len(json.dumps(content.arguments or {}))
    return total


def estimate_usage(messages: Sequence[Message], tools: Sequence[ToolDefinition], reply: Message) -> Usage:
    """Roughly four characters per token, never zero, so usage accounting can be tested."""
    prompt_chars = _chars(messages) + sum(len(t.name) + len(t.description) for t in tools)
    prompt = max(1, prompt_chars // 4)
    completion = max(1, _chars([reply]) // 4)
    return Usage(input_tokens=prompt, output_tokens=completion, total_tokens=prompt + completion, requests=1)


def to_response(
    reply: Reply,
    *,
    model_name: str,
    messages: Sequence[Message] = (),
    tools: Sequence[ToolDefinition] = (),
) -> ChatResponse:
    """A reply in any accepted form as a :class:`ChatResponse` (exceptions are raised)."""
    if isinstance(reply, BaseException):
        raise reply
    if isinstance(reply, ChatResponse):
        response = copy.deepcopy(reply)
        if response.usage.requests == 0 and response.usage.total_tokens == 0:
            response.usage = estimate_usage(messages, tools, response.message)
        if response.finish_reason is None:
            response.finish_reason = "tool_calls" if response.message.tool_calls else "stop"
        response.model = response.model or model_name
        return response
    message: Message
    if isinstance(reply, str):
        message = Message.assistant(reply)
    elif isinstance(reply, Message):
        if reply.role != "assistant":
            raise ValueError(f"a model reply must be an assistant message, got role {reply.role!r}")
        message = copy.deepcopy(reply)
    elif isinstance(reply, ToolCalls):
        contents = [Content.from_text(reply.text)] if reply.text else []
        message = Message(role="assistant", contents=contents + copy.deepcopy(reply.calls))
    elif isinstance(reply, Content):
        message = Message(role="assistant", contents=[copy.deepcopy(reply)])
    elif isinstance(reply, Sequence) and not isinstance(reply, str):
        contents = list(reply)
        if not all(isinstance(c, Content) for c in contents):
            raise TypeError(f"a list reply must hold Content items (e.g. tool_call(...)), got {reply!r}")
        message = Message(role="assistant", contents=copy.deepcopy(contents))
    else:
        raise TypeError(f"cannot use {type(reply).__name__} as a model reply: {reply!r}")
    return ChatResponse(
        message=message,
        usage=estimate_usage(messages, tools, message),
        finish_reason="tool_calls" if message.tool_calls else "stop",
        model=model_name,
        response_id=new_id("chatcmpl"),
    )


def _pieces(text: str, size: int) -> list[str]:
    if size <= 0 or len(text) <= size:
        return [text]
    return [text[i : i + size] for i in range(0, len(text), size)]


def response_events(response: ChatResponse, chunk_size: int = 4) -> list[ModelStreamEvent]:
    """The deltas a streaming model would send for ``response``, then ``response`` itself."""
    events: list[ModelStreamEvent] = []
    for content in response.message.contents:
        if content.type == "reasoning" and content.text:
            events.extend(ReasoningDelta(p) for p in _pieces(content.text, chunk_size))
        elif content.type == "text" and content.text:
            events.extend(TextDelta(p) for p in _pieces(content.text, chunk_size))
    for index, call in enumerate(response.message.tool_calls):
        raw = json.dumps(call.arguments) if call.arguments is not None else call.raw_arguments or ""
        pieces = _pieces(raw, chunk_size)
        events.append(ToolCallDelta(index=index, call_id=call.call_id, name=call.name, arguments=pieces[0]))
        events.extend(ToolCallDelta(index=index, call_id=None, name=None, arguments=p) for p in pieces[1:])
    events.append(response)
    return events


def _record(
    messages: Sequence[Message], tools: Sequence[ToolDefinition], options: ChatOptions | None, stream: bool
) -> ModelRequest:
    return ModelRequest(
        messages=copy.deepcopy(list(messages)),
        tools=list(tools),
        options=copy.deepcopy(options),
        stream=stream,
    )


class _RecordingModel(ABC):
    """What both test models share: request recording, ``complete``, and streaming a reply in pieces."""

    def __init__(self, model_name: str, stream_chunk_size: int) -> None:
        self._model_name = model_name
        self.stream_chunk_size = stream_chunk_size
        """Characters per streamed text or argument delta."""
        self.requests: list[ModelRequest] = []
        """Every request received, oldest first."""

    @property
    def model_name(self) -> str:
        return self._model_name

    @abstractmethod
    async def _reply(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition],
        options: ChatOptions | None,
        stream: bool,
    ) -> Reply:
        """The reply to this request (the request is already recorded)."""

    async def _respond(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition],
        options: ChatOptions | None,
        stream: bool,
    ) -> ChatResponse:
        self.requests.append(_record(messages, tools, options, stream))
        reply = await self._reply(messages, tools, options, stream)
        return to_response(reply, model_name=self._model_name, messages=messages, tools=tools)

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolDefinition] = (),
        options: ChatOptions | None = None,
    ) -> ChatResponse:
        return await self._respond(messages, tools, options, False)

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolDefinition] = (),
        options: ChatOptions | None = None,
    ) -> AsyncIterator[ModelStreamEvent]:
        response = await self._respond(messages, tools, options, True)
        for event in response_events(response, self.stream_chunk_size):
            yield event


class ScriptedModel(_RecordingModel):
    """A chat model that answers with the given replies, in order, and records every request.

    >>> model = ScriptedModel([ToolCalls(tool_call("get_weather", {"city": "Paris"})), "Sunny."])

    ``requests`` holds what each call received (messages copied), so a test can assert
    the whole history the agent sent. Asking for more replies than scripted raises
    :class:`ScriptExhaustedError`.
    """

    def __init__(
        self, replies: Iterable[Reply] = (), *, model_name: str = "scripted", stream_chunk_size: int = 4
    ) -> None:
        super().__init__(model_name, stream_chunk_size)
        self._replies: deque[Reply] = deque(replies)

    @property
    def remaining(self) -> int:
        """Replies not used yet."""
        return len(self._replies)

    def add(self, *replies: Reply) -> None:
        """Append replies to the script."""
        self._replies.extend(replies)

    async def _reply(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition],
        options: ChatOptions | None,
        stream: bool,
    ) -> Reply:
        if not self._replies:
            last = messages[-1] if messages else None
            summary = (
                f"{last.role}: {(last.text or str([c.type for c in last.contents]))[:200]!r}"
                if last
                else "none"
            )
            raise ScriptExhaustedError(
                f"ScriptedModel ran out of replies at request {len(self.requests)} (last message {summary})"
            )
        return self._replies.popleft()


ReplyFunction = Callable[[list[Message], CallInfo], "Reply | Awaitable[Reply]"]
"""``fn(messages, info)``, sync or async, returning a :data:`Reply`."""


class FunctionModel(_RecordingModel):
    """A chat model whose replies come from ``fn(messages, info)`` (sync or async).

    ``info`` carries the tools, options and whether the call streams. Usage is
    estimated at about four characters per token so usage totals are non-zero.
    ``fn`` gets the very messages the run sends (so a test can check identity): read
    them, do not edit them (see :class:`~agentdown.models.base.ChatModel`).
    """

    def __init__(
        self, fn: ReplyFunction, *, model_name: str = "function", stream_chunk_size: int = 4
    ) -> None:
        super().__init__(model_name, stream_chunk_size)
        self._fn = fn

    async def _reply(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolDefinition],
        options: ChatOptions | None,
        stream: bool,
    ) -> Reply:
        info = CallInfo(tools=list(tools), options=options or ChatOptions(), stream=stream)
        reply = self._fn(list(messages), info)
        if inspect.isawaitable(reply):
            reply = await reply
        return reply

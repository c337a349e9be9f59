"""The ``ChatModel`` protocol and the provider-neutral request/response types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from agentdown.messages import Message, Usage

__all__ = [
    "ChatModel",
    "ChatOptions",
    "ChatResponse",
    "ModelStreamEvent",
    "ReasoningDelta",
    "TextDelta",
    "ToolCallDelta",
    "ToolDefinition",
]


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """What a model is told about a tool."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(slots=True)
class ChatOptions:
    """Per-request options; ``None`` means the provider's default."""

    model: str | None = None
    """Overrides the model id / deployment name of the client."""
    temperature: float | None = None
    top_p: float | None = None
    max_output_tokens: int | None = None
    stop: list[str] | None = None
    seed: int | None = None
    tool_choice: Literal["auto", "none", "required"] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    """Sent as OpenAI's ``response_format`` (e.g. ``{"type": "json_schema", ...}``)."""
    user: str | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)
    """Merged into the request body verbatim, for provider-specific keys."""


@dataclass(slots=True)
class ChatResponse:
    """One complete model reply."""

    message: Message
    """An ``assistant`` message: text, reasoning and tool_call contents."""
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    model: str | None = None
    response_id: str | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of a streamed tool call; ``call_id``/``name`` arrive on the first one."""

    index: int
    call_id: str | None
    name: str | None
    arguments: str


ModelStreamEvent = TextDelta | ReasoningDelta | ToolCallDelta | ChatResponse
"""A stream yields deltas and ends with exactly one assembled :class:`ChatResponse`."""


@runtime_checkable
class ChatModel(Protocol):
    """A chat-completions model. Implementations must be safe to share across tasks.

    ``messages`` are read-only: a served turn's history is the session store's cached
    objects, shared by every request on the session, so a model that edited them in place
    would change what later turns read (copy a message before changing it).
    """

    @property
    def model_name(self) -> str: ...

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolDefinition] = (),
        options: ChatOptions | None = None,
    ) -> ChatResponse: ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolDefinition] = (),
        options: ChatOptions | None = None,
    ) -> AsyncIterator[ModelStreamEvent]: ...

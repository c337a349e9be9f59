"""Request and response bodies of the run routes, as pydantic models.

Requests are validated with these (unknown fields tolerated: newer SDKs send more);
responses are stored and served as plain dicts (a run is written a dozen times per
execution), and these models describe them for the OpenAPI document and the tests
that check every served body against them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from agentdown.runtime.agents_api.schemas import (
    METADATA_SCHEMA,
    MessageCreate,
    ThreadCreate,
    ToolDefinitions,
    ToolResources,
)

__all__ = [
    "RUN_STATUSES",
    "TERMINAL",
    "RunCreate",
    "RunObject",
    "RunStepObject",
    "RunUpdate",
    "SubmitToolOutputs",
    "ThreadAndRunCreate",
    "ToolOutput",
    "TruncationObject",
]

RunStatus = Literal[
    "queued",
    "in_progress",
    "requires_action",
    "cancelling",
    "cancelled",
    "failed",
    "completed",
    "expired",
    "incomplete",
]
RUN_STATUSES: tuple[str, ...] = RunStatus.__args__  # type: ignore[attr-defined]
TERMINAL = frozenset({"cancelled", "failed", "completed", "expired", "incomplete"})
"""Statuses a run never leaves."""


class _Tolerant(BaseModel):
    model_config = ConfigDict(extra="allow")


def _check_metadata(value: dict[str, str] | None) -> dict[str, str] | None:
    if value is None:
        return value
    if len(value) > 16:
        raise ValueError(f"at most 16 key-value pairs, got {len(value)}")
    for key, item in value.items():
        if len(key) > 64:
            raise ValueError(f"key {key[:20]!r}... is longer than 64 characters")
        if len(item) > 512:
            raise ValueError(f"the value of {key!r} is longer than 512 characters")
    return value


class TruncationObject(_Tolerant):
    type: Literal["auto", "last_messages"]
    last_messages: int | None = Field(default=None, ge=1)
    """How many of the thread's newest messages the model sees (``last_messages`` only)."""


# What the validators below accept, for the document (the types alone say "any string or object").
_TOOL_CHOICE = WithJsonSchema(
    {
        "anyOf": [
            {"enum": ["auto", "none", "required"]},
            {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"enum": ["function", "connected_agent"]}},
            },
            {"type": "null"},
        ]
    }
)
_RESPONSE_FORMAT = WithJsonSchema(
    {
        "anyOf": [
            {"enum": ["auto", "none"]},
            {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"enum": ["text", "json_object"]}},
            },
            {
                "type": "object",
                "required": ["type", "json_schema"],
                "properties": {
                    "type": {"const": "json_schema"},
                    "json_schema": {
                        "type": "object",
                        "required": ["schema"],
                        "properties": {"schema": {"type": "object"}},
                    },
                },
            },
            {"type": "null"},
        ]
    }
)


class _RunFields(_Tolerant):
    """What a run request may set; ``None`` means the assistant's value."""

    model: str | None = None
    instructions: str | None = None
    """Replaces the assistant's instructions for this run."""
    additional_instructions: str | None = None
    """Appended to the instructions for this run."""
    tools: ToolDefinitions | None = None
    """Replaces the assistant's tools for this run."""
    tool_resources: ToolResources | None = None
    temperature: float | None = Field(default=None, ge=0, le=2, strict=True)
    top_p: float | None = Field(default=None, ge=0, le=1, strict=True)
    max_prompt_tokens: int | None = Field(default=None, ge=256)
    """Prompt tokens the whole run may use; past it the run ends ``incomplete``."""
    max_completion_tokens: int | None = Field(default=None, ge=1)
    """Completion tokens the whole run may use; past it the run ends ``incomplete``."""
    truncation_strategy: TruncationObject | None = None
    tool_choice: Annotated[str | dict[str, Any] | None, _TOOL_CHOICE] = None
    response_format: Annotated[str | dict[str, Any] | None, _RESPONSE_FORMAT] = None
    parallel_tool_calls: bool | None = None
    metadata: Annotated[
        dict[str, str] | None, WithJsonSchema({"anyOf": [METADATA_SCHEMA, {"type": "null"}]})
    ] = None
    stream: bool | None = False

    _metadata = field_validator("metadata")(_check_metadata)

    @field_validator("tool_choice")
    @classmethod
    def _tool_choice(cls, value: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        if isinstance(value, str) and value not in ("auto", "none", "required"):
            raise ValueError(f'expected "auto", "none", "required" or a named tool, got {value!r}')
        if isinstance(value, dict) and value.get("type") not in ("function", "connected_agent"):
            raise ValueError('a named tool choice is {"type": "function", "function": {"name": ...}}')
        return value

    @field_validator("response_format")
    @classmethod
    def _response_format(cls, value: str | dict[str, Any] | None) -> str | dict[str, Any] | None:
        if isinstance(value, str) and value not in ("auto", "none"):
            raise ValueError(f'expected "auto", "none" or an object, got {value!r}')
        if isinstance(value, dict):
            kind = value.get("type")
            if kind not in ("text", "json_object", "json_schema"):
                raise ValueError(f'type must be "text", "json_object" or "json_schema", got {kind!r}')
            if kind == "json_schema":
                spec = value.get("json_schema")
                if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
                    raise ValueError('a json_schema response format needs "json_schema": {"name", "schema"}')
        return value


class RunCreate(_RunFields):
    assistant_id: str = Field(min_length=1)
    additional_messages: list[MessageCreate] | None = None
    """Added to the thread before the run starts (same shape as a message create)."""


class ThreadAndRunCreate(_RunFields):
    assistant_id: str = Field(min_length=1)
    thread: ThreadCreate | None = None
    """``{messages, metadata, tool_resources}`` of the new thread."""


class RunUpdate(_Tolerant):
    metadata: Annotated[
        dict[str, str] | None, WithJsonSchema({"anyOf": [METADATA_SCHEMA, {"type": "null"}]})
    ] = None

    _metadata = field_validator("metadata")(_check_metadata)


class ToolOutput(_Tolerant):
    tool_call_id: str = Field(min_length=1)
    output: str | None = None


class SubmitToolOutputs(_Tolerant):
    tool_outputs: list[ToolOutput]
    stream: bool | None = False


class RunObject(_Tolerant):
    """A served ``thread.run``."""

    id: str
    object: Literal["thread.run"]
    created_at: int
    thread_id: str
    assistant_id: str
    status: RunStatus
    model: str
    instructions: str
    tools: list[dict[str, Any]]
    metadata: dict[str, str]
    expires_at: int | None = None
    started_at: int | None = None
    completed_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    required_action: dict[str, Any] | None = None
    last_error: dict[str, str] | None = None
    incomplete_details: dict[str, str] | None = None
    usage: dict[str, int] | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_prompt_tokens: int | None = None
    max_completion_tokens: int | None = None
    truncation_strategy: dict[str, Any] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: str | dict[str, Any] | None = None
    parallel_tool_calls: bool


class RunStepObject(_Tolerant):
    """A served ``thread.run.step``."""

    id: str
    object: Literal["thread.run.step"]
    created_at: int
    run_id: str
    assistant_id: str
    thread_id: str
    type: Literal["message_creation", "tool_calls"]
    status: Literal["in_progress", "cancelled", "failed", "completed", "expired"]
    step_details: dict[str, Any]
    completed_at: int | None = None
    cancelled_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    last_error: dict[str, str] | None = None
    usage: dict[str, int] | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

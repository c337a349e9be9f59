"""Pydantic models of the bodies the server's own routes take and answer (chat, ``/v1``, graphs).

The Agents API's models live with it (:mod:`agentdown.runtime.agents_api.schemas`); these
are the rest. ``/openapi.json`` is generated from them, and the handlers validate with
them (:func:`validated`), so the document and what a route accepts cannot drift apart.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentdown.server.errors import ApiError

__all__ = [
    "ChatAnswer",
    "ChatCompletion",
    "ChatRequest",
    "ChatStep",
    "ChatStreamRequest",
    "Citation",
    "CompletionRequest",
    "ErrorAnswer",
    "GraphRun",
    "GraphRunAccepted",
    "GraphRunCreate",
    "GraphRunList",
    "GraphRunResponses",
    "Health",
    "HistoryAnswer",
    "HistoryEntry",
    "ModelEntry",
    "ModelList",
    "OpenAIErrorAnswer",
    "PendingCall",
    "ResumeHint",
    "StepToolCall",
    "ToolCallRecord",
    "TriggerPending",
    "TurnSummary",
    "TurnUsage",
    "WorkflowList",
    "WorkflowView",
    "validated",
]

Model = TypeVar("Model", bound=BaseModel)


def _loc(loc: tuple[int | str, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(loc))


def validated(model: type[Model], body: dict[str, Any]) -> Model:
    """``body`` as ``model``; a 400 naming the first field at fault (its path in ``param``)."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        # A union's failure is one error per member, their locs tagged with the member's type
        # ("stop", "str"): the field is what the locs of the same field have in common.
        loc = tuple(first["loc"])
        for other in errors[1:]:
            if other["loc"][:1] == loc[:1]:
                same = 0
                while same < min(len(loc), len(other["loc"])) and loc[same] == other["loc"][same]:
                    same += 1
                loc = loc[:same]
        where = _loc(loc) or "body"
        raise ApiError(400, f"{where}: {first['msg']}", "invalid_request", extra={"param": where}) from None


class _Open(BaseModel):
    """A request body that ignores keys it does not know (as the handlers always did)."""

    model_config = ConfigDict(extra="allow")


# -- chat API ----------------------------------------------------------------------------------


def _one_turn(schema: dict[str, Any]) -> None:
    """The document's ChatRequest: exactly one of the three asks (a key sent as null still asks)."""
    schema["properties"]["prompt"] = {
        "type": "string",
        "pattern": r"\S",
        "description": "The user's message: a new turn of the session (not blank).",
    }
    absent = False  # JSON Schema: the key must not be there
    schema["anyOf"] = [
        {
            "required": ["prompt"],
            "properties": {"approvals": absent, "tool_outputs": absent, "discard": {"const": False}},
        },
        {
            "anyOf": [{"required": ["approvals"]}, {"required": ["tool_outputs"]}],
            "properties": {"prompt": absent, "discard": {"const": False}},
        },
        {
            "required": ["discard"],
            "properties": {
                "discard": {"const": True},
                "prompt": absent,
                "approvals": absent,
                "tool_outputs": absent,
            },
        },
    ]


class ChatRequest(_Open):
    """One of: a ``prompt``; ``approvals`` / ``tool_outputs`` for the pending turn; ``discard``."""

    # Strict, as the handler's own parser (turns.parse_turn_request) is: "true" is not true.
    model_config = ConfigDict(extra="allow", strict=True, json_schema_extra=_one_turn)

    prompt: str | None = Field(None, description="The user's message: a new turn of the session.")
    approvals: dict[str, bool] | None = Field(None, description="Call id -> approve (true) or deny.")
    tool_outputs: dict[str, Any] | None = Field(None, description="Call id -> the tool's result.")
    discard: bool = Field(False, description="Close the pending turn without running its calls.")


def _one_streamed_turn(schema: dict[str, Any]) -> None:
    _one_turn(schema)
    schema["anyOf"] = schema["anyOf"][:2]  # a discard is answered by /chat only
    schema["properties"]["discard"] = {"const": False, "description": "Not here: send it to /chat."}


class ChatStreamRequest(ChatRequest):
    """``/chatstream``'s body: a ``prompt``, or the decisions of the pending turn."""

    model_config = ConfigDict(extra="allow", strict=True, json_schema_extra=_one_streamed_turn)


class TurnUsage(_Open):
    """Tokens of a turn (or of one model call, in a step)."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    requests: int


class ToolCallRecord(_Open):
    """A tool call of the turn with the text the model read as its result (``None`` until it has one)."""

    type: Literal["tool_start"] | None = Field(None, description="tool_start in /chat's tool_calls.")
    tool_call_id: str
    tool_name: str
    arguments: Any = Field(description="The arguments the model gave (an object, or its raw text).")
    result: str | None
    is_error: bool | None = Field(None, description="Set (true) on a failed call.")


class StepToolCall(_Open):
    tool_call_id: str
    tool_name: str
    arguments: Any
    result: str | None
    is_error: bool
    started_at: float | None = Field(description="Unix seconds; null for a call that never ran.")
    duration: float | None


class ChatStep(_Open):
    """One model call and the tool calls it asked for (docs/chat-api.md, "Steps")."""

    step_id: str
    step_type: Literal["tool_calls", "message_creation"]
    status: Literal["completed", "in_progress", "cancelled", "failed"]
    started_at: float | None
    completed_at: float | None = Field(description="Unix seconds; null while in progress.")
    duration: float | None
    model_duration: float | None
    usage: TurnUsage
    tool_calls: list[StepToolCall]


class PendingCall(_Open):
    """A call a paused turn waits on: an approval (true/false) or the tool's output."""

    tool_call_id: str
    tool_name: str
    arguments: Any
    kind: Literal["approval", "output"]


class ResumeSend(_Open):
    approvals: dict[str, bool] | None = None
    tool_outputs: dict[str, Any] | None = None


class ResumeHint(_Open):
    """What to send back (to /chat, with the session) to resume the paused turn."""

    session_id: str
    send: ResumeSend


class Citation(_Open):
    file_name: str | None = None
    quote: str | None = None
    file_id: str | None = None
    marker: str | None = None


class TurnSummary(_Open):
    """What a turn's answer adds beyond the text: status, usage, and the calls it waits on."""

    session_id: str
    status: str | None = Field(
        None, description="completed, requires_action (with pending and resume), incomplete; discarded."
    )
    usage: TurnUsage | None = None
    citations: list[Citation] | None = None
    pending: list[PendingCall] | None = Field(None, description="With requires_action.")
    resume: ResumeHint | None = Field(None, description="With requires_action.")


class ChatAnswer(TurnSummary):
    """``/chat``'s answer (the Azure Functions agents runtime's fields, then agentdown's)."""

    response: str | None = None
    model: str | None = None
    tool_calls: list[ToolCallRecord] = []
    steps: list[ChatStep] | None = Field(None, description="The run inspector's record: one per model call.")
    discarded: list[PendingCall] | None = Field(None, description="The calls a discard closed.")


class HistoryEntry(_Open):
    role: Literal["user", "assistant"]
    text: str
    tool_calls: list[ToolCallRecord] | None = None
    citations: list[Citation] | None = None


class HistoryAnswer(_Open):
    session_id: str | None = None
    messages: list[HistoryEntry]
    truncated: bool
    pending: list[PendingCall] | None = Field(None, description="While a turn waits for decisions.")


class TaskProgress(_Open):
    id: str
    type: str
    status: str
    attempts: int


class WorkflowView(_Open):
    """A planned workflow of the session (the Durable Functions status envelope, then agentdown's)."""

    workflow_id: str
    runtime_status: str
    custom_status: Any = None
    output: Any = Field(None, description="Once the run has ended.")
    created_time: str
    last_updated_time: str
    agent: str
    tasks: list[TaskProgress] | None = None
    notification: Any = None


class WorkflowList(_Open):
    workflows: list[WorkflowView]


class ErrorAnswer(_Open):
    """Every error of the chat, trigger, workflow and MCP routes."""

    error: str
    code: str


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    agents: int


# -- OpenAI-compatible /v1 -------------------------------------------------------------------


class StreamOptions(_Open):
    include_usage: bool | None = None


class CompletionRequest(BaseModel):
    """``POST /v1/chat/completions``: what an agent honours of OpenAI's request."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, description="The slug of an agent (see GET /v1/models).")
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    n: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    reasoning_effort: str | None = None
    logprobs: bool | None = Field(None, description="Refused when true.")
    tools: list[Any] | None = Field(None, description="Refused: the agent runs its own tools.")
    functions: list[Any] | None = Field(None, description="Refused: the agent runs its own tools.")
    tool_choice: str | dict[str, Any] | None = Field(None, description="Only 'none' / 'auto'.")
    function_call: str | dict[str, Any] | None = Field(None, description="Only 'none' / 'auto'.")
    response_format: dict[str, Any] | None = Field(None, description="Refused: the agent decides.")


class ModelEntry(BaseModel):
    id: str
    object: Literal["model"]
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[ModelEntry]


class CompletionMessage(_Open):
    role: Literal["assistant"]
    content: str | None


class CompletionChoice(_Open):
    index: int
    message: CompletionMessage
    finish_reason: str | None


class CompletionUsage(_Open):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(_Open):
    """A non-streamed ``chat.completion`` (OpenAI's shape)."""

    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: CompletionUsage


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorAnswer(BaseModel):
    error: OpenAIErrorDetail


# -- workflow graphs -------------------------------------------------------------------------


class GraphRunCreate(_Open):
    input: Any = Field(description="The message for the start executor.")


class GraphRunResponses(_Open):
    responses: dict[str, Any] = Field(min_length=1, description="Request id -> the answer.")


class GraphRunAccepted(_Open):
    id: str
    status: str


class GraphRun(_Open):
    """A run of a workflow graph (its public fields)."""

    id: str
    object: Literal["workflow.run"]
    workflow: str
    status: str
    created_at: int
    updated_at: int
    iteration: int
    pending_requests: list[Any]
    outputs: list[Any]
    error: Any = None


class GraphRunList(_Open):
    data: list[GraphRun]
    has_more: bool


class TriggerPending(TurnSummary):
    """A trigger's run that waits for approvals or tool outputs (answer it through /chat)."""

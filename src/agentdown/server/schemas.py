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
    "ChatRequest",
    "CompletionRequest",
    "ErrorAnswer",
    "GraphRunAccepted",
    "GraphRunCreate",
    "GraphRunResponses",
    "Health",
    "HistoryAnswer",
    "ModelEntry",
    "ModelList",
    "OpenAIErrorAnswer",
    "WorkflowList",
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


class ChatRequest(_Open):
    """One of: a ``prompt``; ``approvals`` / ``tool_outputs`` for the pending turn; ``discard``."""

    # Strict, as the handler's own parser (turns.parse_turn_request) is: "true" is not true.
    model_config = ConfigDict(extra="allow", strict=True)

    prompt: str | None = Field(None, description="The user's message: a new turn of the session.")
    approvals: dict[str, bool] | None = Field(None, description="Call id -> approve (true) or deny.")
    tool_outputs: dict[str, Any] | None = Field(None, description="Call id -> the tool's result.")
    discard: bool = Field(False, description="Close the pending turn without running its calls.")


class ChatAnswer(_Open):
    """``/chat``'s answer (the Azure Functions agents runtime's fields, then agentdown's)."""

    session_id: str
    response: str | None = None
    model: str | None = None
    tool_calls: list[dict[str, Any]] = []
    status: str | None = None
    usage: dict[str, Any] | None = None


class HistoryAnswer(_Open):
    session_id: str | None = None
    messages: list[dict[str, Any]]
    truncated: bool


class WorkflowList(_Open):
    workflows: list[dict[str, Any]]


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

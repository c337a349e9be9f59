"""What each of the server's own routes takes and answers: one :class:`Op` per (method, path).

Paths are the Starlette templates the routes are registered with (the Agents API's
relative to its mount). ``tests/server/openapi`` checks that this table and the app's
routing table name exactly the same routes, so a new route without an entry here fails
the build.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from agentdown.runtime.agents_api.schemas import ErrorBody
from agentdown.server.schemas import (
    ChatAnswer,
    ChatCompletion,
    ChatRequest,
    ChatStreamRequest,
    CompletionRequest,
    ErrorAnswer,
    GraphRun,
    GraphRunAccepted,
    GraphRunCreate,
    GraphRunList,
    GraphRunResponses,
    Health,
    HistoryAnswer,
    ModelEntry,
    ModelList,
    OpenAIErrorAnswer,
    TriggerPending,
    WorkflowList,
    WorkflowView,
)

__all__ = ["CHAT", "CORE", "GRAPHS", "MCP", "OPENAI", "SSE_EVENT", "TRIGGER_PENDING", "Body", "Op", "Query"]

Body = type[BaseModel] | dict[str, Any]
"""A pydantic model, or a JSON Schema written out where no model parses the body."""
Family = Literal["core", "chat", "openai", "agents", "graphs", "mcp", "trigger"]


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


@dataclass(frozen=True, slots=True)
class Op:
    """One operation: its request body, its answer (per media type) and query parameters."""

    method: str
    path: str
    id: str
    summary: str
    request: Body | None = None
    answer: Body | None = None
    media: str = "application/json"
    status: int = 200
    query: tuple[Query, ...] = ()
    session: bool | Literal["required"] = False
    """Whether the ``x-ms-session-id`` header names the session (``"required"``: it must)."""
    streams: bool = False
    """Whether the answer may be ``text/event-stream`` (``"stream": true`` or always)."""
    request_media: str = "application/json"


_DOCUMENT: dict[str, Any] = {
    "type": "object",
    "description": "An OpenAPI 3.1 document.",
    "required": ["openapi", "info", "paths", "components"],
    "properties": {
        "openapi": {"const": "3.1.0"},
        "info": {
            "type": "object",
            "required": ["title", "version"],
            "properties": {"title": {"type": "string"}, "version": {"type": "string"}},
        },
        "paths": {"type": "object", "additionalProperties": {"type": "object"}},
        "components": {"type": "object", "additionalProperties": {"type": "object"}},
    },
}
_RPC_ANSWER: dict[str, Any] = {
    "type": "object",
    "description": "A JSON-RPC 2.0 response (the MCP SDK's): a result, or an error.",
    "required": ["jsonrpc"],
    "properties": {
        "jsonrpc": {"const": "2.0"},
        "id": {"type": ["string", "integer", "null"]},
        "result": {"type": "object"},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}},
        },
    },
}
TRIGGER_PENDING = TriggerPending
"""The 202 of an ``http_trigger`` agent whose run waits for approvals or tool outputs."""
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "description": "One server-sent event (OpenAPI 3.1: the schema of an event stream is its events').",
    "required": ["data"],
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"}},
}
_RPC: dict[str, Any] = {
    "type": "object",
    "required": ["jsonrpc", "method"],
    "properties": {
        "jsonrpc": {"const": "2.0"},
        # The SDK answers a request whose id is neither (an object, a list) as a notification:
        # 202, no answer. Documented is what a client must send to get one.
        "id": {"description": "A string or an integer: the answer's id."},
        "method": {"type": "string"},
        "params": {"type": ["object", "null"]},
    },
}

CORE = (
    Op("GET", "/healthz", "health", "Liveness: the version and the number of agents.", answer=Health),
    Op("GET", "/openapi.json", "openapi", "This document.", answer=_DOCUMENT),
)

CHAT = (
    Op("GET", "/agents/{slug}/", "chat_page", "The agent's chat page.", answer=None, media="text/html"),
    Op(
        "POST",
        "/agents/{slug}/chat",
        "chat",
        "Run one turn, answer a pending turn, or discard it.",
        ChatRequest,
        ChatAnswer,
        session=True,
    ),
    Op(
        "POST",
        "/agents/{slug}/chatstream",
        "chatstream",
        "Run one turn as server-sent events.",
        ChatStreamRequest,
        SSE_EVENT,
        media="text/event-stream",
        session=True,
    ),
    Op(
        "GET",
        "/agents/{slug}/history",
        "history",
        "The session's transcript.",
        answer=HistoryAnswer,
        session=True,
    ),
    Op(
        "GET",
        "/agents/{slug}/workflows",
        "workflows",
        "The session's workflows.",
        answer=WorkflowList,
        session=True,
    ),
    Op(
        "GET",
        "/agents/{slug}/workflow-status",
        "workflow_status",
        "One workflow of the session.",
        answer=WorkflowView,
        session="required",
        # Blank is missing: the route strips it.
        query=(Query("workflow_id", {"type": "string", "pattern": r"\S"}, required=True),),
    ),
)

OPENAI = (
    Op("GET", "/v1/models", "list_models", "The agents, as models.", answer=ModelList),
    Op("GET", "/v1/models/{model}", "get_model", "One agent, as a model.", answer=ModelEntry),
    Op(
        "POST",
        "/v1/chat/completions",
        "chat_completions",
        "Run the agent on the messages (stateless).",
        CompletionRequest,
        ChatCompletion,
        streams=True,
    ),
)


GRAPHS = (
    Op(
        "POST",
        "/workflows/{name}/runs",
        "start_graph_run",
        "Start a run of the graph.",
        GraphRunCreate,
        GraphRunAccepted,
        status=202,
    ),
    Op(
        "GET",
        "/workflows/{name}/runs",
        "list_graph_runs",
        "The caller's runs, newest first.",
        answer=GraphRunList,
    ),
    Op("GET", "/workflows/{name}/runs/{run_id}", "get_graph_run", "One run.", answer=GraphRun),
    Op(
        "POST",
        "/workflows/{name}/runs/{run_id}/responses",
        "answer_graph_run",
        "Answer the run's pending requests.",
        GraphRunResponses,
        GraphRunAccepted,
        status=202,
    ),
)

MCP = tuple(
    Op(
        "POST",
        path,
        f"mcp{suffix}",
        "MCP streamable HTTP (JSON-RPC; each agent is a tool).",
        _RPC,
        _RPC_ANSWER,
        streams=True,
    )
    for path, suffix in (("/mcp", ""), ("/runtime/webhooks/mcp", "_webhook"))
)

ERRORS: dict[str, type[BaseModel]] = {
    "core": ErrorAnswer,
    "chat": ErrorAnswer,
    "openai": OpenAIErrorAnswer,
    "agents": ErrorBody,
    "graphs": ErrorAnswer,
    "mcp": ErrorAnswer,
    "trigger": ErrorAnswer,
}
"""The error body of each family of routes."""

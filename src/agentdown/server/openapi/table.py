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

from agentdown.runtime.agents_api.runs.schemas import (
    RunCreate,
    RunObject,
    RunStepObject,
    RunUpdate,
    SubmitToolOutputs,
    ThreadAndRunCreate,
)
from agentdown.runtime.agents_api.schemas import (
    AssistantCreate,
    AssistantObject,
    AssistantUpdate,
    DeletionStatus,
    ErrorBody,
    ListBody,
    MessageCreate,
    MessageObject,
    MessageUpdate,
    ThreadCreate,
    ThreadObject,
    ThreadUpdate,
)
from agentdown.runtime.agents_api.vector_stores_schemas import (
    BatchCreate,
    StoreFileCreate,
    VectorStoreCreate,
    VectorStoreUpdate,
)
from agentdown.server.schemas import (
    ChatAnswer,
    ChatRequest,
    CompletionRequest,
    ErrorAnswer,
    GraphRunAccepted,
    GraphRunCreate,
    GraphRunResponses,
    Health,
    HistoryAnswer,
    ModelEntry,
    ModelList,
    OpenAIErrorAnswer,
    WorkflowList,
)

__all__ = ["AGENTS_API", "CHAT", "CORE", "GRAPHS", "MCP", "OPENAI", "SSE_EVENT", "Body", "Op", "Query"]

Body = type[BaseModel] | dict[str, Any]
"""A pydantic model, or a JSON Schema written out where no model parses the body."""
Family = Literal["core", "chat", "openai", "agents", "graphs", "mcp", "trigger"]


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    schema: dict[str, Any]
    description: str = ""


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
    session: bool = False
    """Whether the ``x-ms-session-id`` header names the session."""
    streams: bool = False
    """Whether the answer may be ``text/event-stream`` (``"stream": true`` or always)."""
    request_media: str = "application/json"


_OBJECT: dict[str, Any] = {"type": "object"}
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "description": "One server-sent event (OpenAPI 3.1: the schema of an event stream is its events').",
    "required": ["data"],
    "properties": {"event": {"type": "string"}, "data": {"type": "string"}, "id": {"type": "string"}},
}
_ID = {"type": "string"}
_LIST = (
    Query("limit", {"type": "integer", "minimum": 1, "maximum": 100}),
    Query("order", {"type": "string", "enum": ["asc", "desc"]}),
    Query("after", _ID, "The id after which the page starts."),
    Query("before", _ID, "The id before which the page ends."),
)
_INCLUDE = (
    Query(
        "include[]",
        {"type": "string", "enum": ["step_details.tool_calls[*].file_search.results[*].content"]},
    ),
)
_UPLOAD: dict[str, Any] = {
    "type": "object",
    "required": ["file", "purpose"],
    "properties": {
        "file": {"type": "string", "format": "binary"},
        "purpose": {"type": "string", "enum": ["assistants", "assistants_output", "vision"]},
        "filename": {"type": "string"},
    },
}
_RPC: dict[str, Any] = {
    "type": "object",
    "required": ["jsonrpc", "method"],
    "properties": {
        "jsonrpc": {"const": "2.0"},
        "id": {"type": ["string", "integer"]},
        "method": {"type": "string"},
        "params": {"type": "object"},
    },
}

CORE = (
    Op("GET", "/healthz", "health", "Liveness: the version and the number of agents.", answer=Health),
    Op("GET", "/openapi.json", "openapi", "This document.", answer=_OBJECT),
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
        ChatRequest,
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
        answer=_OBJECT,
        session=True,
        query=(Query("workflow_id", {"type": "string", "minLength": 1}),),
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
        _OBJECT,
        streams=True,
    ),
)


def _crud(
    base: str, name: str, create: Body, update: Body, answer: Body, key: str, query: tuple[Query, ...] = _LIST
) -> tuple[Op, ...]:
    one = f"{base}/{{{key}}}"
    return (
        Op("POST", base, f"create_{name}", f"Create a {name}.", create, answer),
        Op("GET", base, f"list_{name}s", f"List {name}s.", answer=ListBody, query=query),
        Op("GET", one, f"get_{name}", f"Get a {name}.", answer=answer),
        Op("POST", one, f"update_{name}", f"Update a {name}.", update, answer),
        Op("DELETE", one, f"delete_{name}", f"Delete a {name}.", answer=DeletionStatus),
    )


_RUNS = "/threads/{thread_id}/runs"
_STORE = "/vector_stores/{vector_store_id}"
AGENTS_API = (
    *_crud("/assistants", "assistant", AssistantCreate, AssistantUpdate, AssistantObject, "id"),
    Op(
        "POST",
        "/threads/runs",
        "create_thread_and_run",
        "Create a thread and run it.",
        ThreadAndRunCreate,
        RunObject,
        streams=True,
        query=_INCLUDE,
    ),
    *_crud("/threads", "thread", ThreadCreate, ThreadUpdate, ThreadObject, "thread_id"),
    Op(
        "POST",
        "/threads/{thread_id}/messages",
        "create_message",
        "Add a message.",
        MessageCreate,
        MessageObject,
    ),
    Op(
        "GET",
        "/threads/{thread_id}/messages",
        "list_messages",
        "List messages.",
        answer=ListBody,
        query=(*_LIST, Query("run_id", _ID)),
    ),
    Op(
        "GET",
        "/threads/{thread_id}/messages/{message_id}",
        "get_message",
        "Get a message.",
        answer=MessageObject,
    ),
    Op(
        "POST",
        "/threads/{thread_id}/messages/{message_id}",
        "update_message",
        "Update a message.",
        MessageUpdate,
        MessageObject,
    ),
    Op("POST", _RUNS, "create_run", "Start a run.", RunCreate, RunObject, streams=True, query=_INCLUDE),
    Op("GET", _RUNS, "list_runs", "List runs.", answer=ListBody, query=_LIST),
    Op("GET", _RUNS + "/{run_id}", "get_run", "Get a run.", answer=RunObject),
    Op("POST", _RUNS + "/{run_id}", "update_run", "Update a run's metadata.", RunUpdate, RunObject),
    Op(
        "POST",
        _RUNS + "/{run_id}/submit_tool_outputs",
        "submit_tool_outputs",
        "Answer a run's tool calls.",
        SubmitToolOutputs,
        RunObject,
        streams=True,
    ),
    Op("POST", _RUNS + "/{run_id}/cancel", "cancel_run", "Cancel a run.", answer=RunObject),
    Op(
        "GET",
        _RUNS + "/{run_id}/steps",
        "list_run_steps",
        "List a run's steps.",
        answer=ListBody,
        query=(*_LIST, *_INCLUDE),
    ),
    Op(
        "GET",
        _RUNS + "/{run_id}/steps/{step_id}",
        "get_run_step",
        "Get a run step.",
        answer=RunStepObject,
        query=_INCLUDE,
    ),
    Op(
        "POST",
        "/files",
        "upload_file",
        "Upload a file.",
        _UPLOAD,
        _OBJECT,
        request_media="multipart/form-data",
    ),
    Op(
        "GET",
        "/files",
        "list_files",
        "List files.",
        answer=_OBJECT,
        query=(Query("purpose", {"type": "string"}),),
    ),
    Op("GET", "/files/{file_id}", "get_file", "Get a file.", answer=_OBJECT),
    Op("DELETE", "/files/{file_id}", "delete_file", "Delete a file.", answer=DeletionStatus),
    Op(
        "GET",
        "/files/{file_id}/content",
        "get_file_content",
        "A file's bytes.",
        media="application/octet-stream",
        answer={"type": "string", "format": "binary"},
    ),
    Op("POST", "/vector_stores", "create_vector_store", "Create a vector store.", VectorStoreCreate, _OBJECT),
    Op("GET", "/vector_stores", "list_vector_stores", "List vector stores.", answer=ListBody, query=_LIST),
    Op("GET", _STORE, "get_vector_store", "Get a vector store.", answer=_OBJECT),
    Op("POST", _STORE, "update_vector_store", "Update a vector store.", VectorStoreUpdate, _OBJECT),
    Op("DELETE", _STORE, "delete_vector_store", "Delete a vector store.", answer=DeletionStatus),
    Op(
        "POST",
        _STORE + "/files",
        "create_vector_store_file",
        "Add a file to a vector store.",
        StoreFileCreate,
        _OBJECT,
    ),
    Op(
        "GET",
        _STORE + "/files",
        "list_vector_store_files",
        "List a vector store's files.",
        answer=ListBody,
        query=(
            *_LIST,
            Query("filter", {"type": "string", "enum": ["in_progress", "completed", "failed", "cancelled"]}),
        ),
    ),
    Op(
        "GET",
        _STORE + "/files/{file_id}",
        "get_vector_store_file",
        "Get a vector store file.",
        answer=_OBJECT,
    ),
    Op(
        "DELETE",
        _STORE + "/files/{file_id}",
        "delete_vector_store_file",
        "Remove a file from a vector store.",
        answer=DeletionStatus,
    ),
    Op(
        "POST",
        _STORE + "/file_batches",
        "create_vector_store_file_batch",
        "Add files to a vector store.",
        BatchCreate,
        _OBJECT,
    ),
    Op(
        "GET",
        _STORE + "/file_batches/{batch_id}",
        "get_vector_store_file_batch",
        "Get a file batch.",
        answer=_OBJECT,
    ),
    Op(
        "POST",
        _STORE + "/file_batches/{batch_id}/cancel",
        "cancel_vector_store_file_batch",
        "Cancel a file batch.",
        answer=_OBJECT,
    ),
    Op(
        "GET",
        _STORE + "/file_batches/{batch_id}/files",
        "list_vector_store_file_batch_files",
        "List a file batch's files.",
        answer=ListBody,
        query=(
            *_LIST,
            Query("filter", {"type": "string", "enum": ["in_progress", "completed", "failed", "cancelled"]}),
        ),
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
        "GET", "/workflows/{name}/runs", "list_graph_runs", "The caller's runs, newest first.", answer=_OBJECT
    ),
    Op("GET", "/workflows/{name}/runs/{run_id}", "get_graph_run", "One run.", answer=_OBJECT),
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
        _OBJECT,
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

"""The Agents API's entries of the operation table (:mod:`.table`), paths relative to its mount.

Every answer is the pydantic model of what the route serves (lists are typed pages,
:func:`~agentdown.runtime.agents_api.answers.list_of`), so the fuzzing of the server
checks each answer field by field.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agentdown.runtime.agents_api.answers import (
    FileList,
    FileObject,
    VectorStoreFileBatchObject,
    VectorStoreFileObject,
    VectorStoreObject,
    list_of,
)
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
from agentdown.server.openapi.table import Body, Op, Query

__all__ = ["AGENTS_API"]

_ID = {"type": "string"}
_PURPOSE = {"type": "string", "enum": ["assistants", "assistants_output", "vision"]}
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
        "purpose": _PURPOSE,
        "filename": {"type": "string"},
    },
}


def _crud(
    base: str,
    name: str,
    create: Body,
    update: Body,
    answer: type[BaseModel],
    key: str,
    query: tuple[Query, ...] = _LIST,
) -> tuple[Op, ...]:
    one = f"{base}/{{{key}}}"
    return (
        Op("POST", base, f"create_{name}", f"Create a {name}.", create, answer),
        Op("GET", base, f"list_{name}s", f"List {name}s.", answer=list_of(answer), query=query),
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
        answer=list_of(MessageObject),
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
    Op("GET", _RUNS, "list_runs", "List runs.", answer=list_of(RunObject), query=_LIST),
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
        answer=list_of(RunStepObject),
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
        FileObject,
        request_media="multipart/form-data",
    ),
    Op(
        "GET",
        "/files",
        "list_files",
        "List files.",
        answer=FileList,
        query=(Query("purpose", _PURPOSE),),
    ),
    Op("GET", "/files/{file_id}", "get_file", "Get a file.", answer=FileObject),
    Op("DELETE", "/files/{file_id}", "delete_file", "Delete a file.", answer=DeletionStatus),
    Op(
        "GET",
        "/files/{file_id}/content",
        "get_file_content",
        "A file's bytes.",
        media="application/octet-stream",
        answer={"type": "string", "format": "binary"},
    ),
    Op(
        "POST",
        "/vector_stores",
        "create_vector_store",
        "Create a vector store.",
        VectorStoreCreate,
        VectorStoreObject,
    ),
    Op(
        "GET",
        "/vector_stores",
        "list_vector_stores",
        "List vector stores.",
        answer=list_of(VectorStoreObject),
        query=_LIST,
    ),
    Op("GET", _STORE, "get_vector_store", "Get a vector store.", answer=VectorStoreObject),
    Op("POST", _STORE, "update_vector_store", "Update a vector store.", VectorStoreUpdate, VectorStoreObject),
    Op("DELETE", _STORE, "delete_vector_store", "Delete a vector store.", answer=DeletionStatus),
    Op(
        "POST",
        _STORE + "/files",
        "create_vector_store_file",
        "Add a file to a vector store.",
        StoreFileCreate,
        VectorStoreFileObject,
    ),
    Op(
        "GET",
        _STORE + "/files",
        "list_vector_store_files",
        "List a vector store's files.",
        answer=list_of(VectorStoreFileObject),
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
        answer=VectorStoreFileObject,
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
        VectorStoreFileBatchObject,
    ),
    Op(
        "GET",
        _STORE + "/file_batches/{batch_id}",
        "get_vector_store_file_batch",
        "Get a file batch.",
        answer=VectorStoreFileBatchObject,
    ),
    Op(
        "POST",
        _STORE + "/file_batches/{batch_id}/cancel",
        "cancel_vector_store_file_batch",
        "Cancel a file batch.",
        answer=VectorStoreFileBatchObject,
    ),
    Op(
        "GET",
        _STORE + "/file_batches/{batch_id}/files",
        "list_vector_store_file_batch_files",
        "List a file batch's files.",
        answer=list_of(VectorStoreFileObject),
        query=(
            *_LIST,
            Query("filter", {"type": "string", "enum": ["in_progress", "completed", "failed", "cancelled"]}),
        ),
    ),
)

"""Served bodies of files, vector stores and their files and batches, and typed list pages.

The shapes :mod:`.files`, :mod:`.vector_stores` and :mod:`.vector_stores_files` build;
``/openapi.json`` documents them, and the fuzzing of the server
(``tests/server/openapi``) checks every answer against them. Unknown fields pass (newer
code may add some); the fields listed here are always there.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, create_model

__all__ = [
    "FileCounts",
    "FileList",
    "FileObject",
    "VectorStoreFileBatchObject",
    "VectorStoreFileObject",
    "VectorStoreObject",
    "list_of",
]

_Status = Literal["in_progress", "completed", "failed", "cancelled"]
_List = Literal["list"]


class _Served(BaseModel):
    model_config = ConfigDict(extra="allow")


class FileObject(_Served):
    id: str
    object: Literal["file"]
    bytes: int
    filename: str
    created_at: int
    purpose: Literal["assistants", "assistants_output", "vision"]
    status: str


class FileList(_Served):
    object: Literal["list"]
    data: list[FileObject]


class FileCounts(_Served):
    in_progress: int
    completed: int
    failed: int
    cancelled: int
    total: int


class VectorStoreObject(_Served):
    id: str
    object: Literal["vector_store"]
    created_at: int
    name: str
    usage_bytes: int
    file_counts: FileCounts
    status: Literal["expired", "in_progress", "completed"]
    expires_after: dict[str, Any] | None = None
    expires_at: int | None = None
    last_active_at: int | None = None
    metadata: dict[str, str]


class VectorStoreFileObject(_Served):
    id: str
    object: Literal["vector_store.file"]
    usage_bytes: int
    created_at: int
    vector_store_id: str
    status: _Status
    last_error: dict[str, str] | None = None
    chunking_strategy: dict[str, Any] | None = None


class VectorStoreFileBatchObject(_Served):
    id: str
    object: Literal["vector_store.files_batch"]
    created_at: int
    vector_store_id: str
    status: _Status
    file_counts: FileCounts


@functools.cache
def list_of(item: type[BaseModel]) -> type[BaseModel]:
    """The page of a list route whose items are ``item`` (``{"object": "list", "data", ...}``)."""
    name = item.__name__.removesuffix("Object") + "List"
    model: type[BaseModel] = create_model(
        name,
        __config__=ConfigDict(extra="allow"),
        object=(_List, ...),
        data=(list[item], ...),  # type: ignore[valid-type]
        first_id=(str | None, ...),
        last_id=(str | None, ...),
        has_more=(bool, ...),
    )
    return model

"""Request bodies of vector stores, their files and file batches (strict, unknown fields tolerated).

``chunking_strategy`` is taken as a plain object here and checked by
``agentdown.knowledge.Chunking.from_api`` (its ranges are the service's), so the
400 names the field with the knowledge package's own precise message.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from agentdown.runtime.agents_api.schemas import Metadata

__all__ = [
    "MAX_FILES_PER_REQUEST",
    "BatchCreate",
    "DataSourceIn",
    "ExpiresAfter",
    "StoreConfiguration",
    "StoreFileCreate",
    "VectorStoreCreate",
    "VectorStoreUpdate",
]

MAX_FILES_PER_REQUEST = 500
"""Files (ids and data sources together) one create or batch may name, as in the service."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ExpiresAfter(_Request):
    anchor: Literal["last_active_at"]
    days: Annotated[int, Field(ge=1, le=365)]


class DataSourceIn(_Request):
    uri: Annotated[str, Field(min_length=1, max_length=2048)]
    # id_asset (an Azure ML data asset) parses, to be refused with a message saying what to do.
    type: Annotated[Literal["uri_asset", "id_asset"], WithJsonSchema({"const": "uri_asset"})]


class StoreConfiguration(_Request):
    data_sources: Annotated[list[DataSourceIn], Field(max_length=MAX_FILES_PER_REQUEST)] = []


# What knowledge.Chunking.from_api accepts, for the document. The overlap may be up to half the
# chunk size; documented is the half of the smallest, which every size takes.
_CHUNKING = WithJsonSchema(
    {
        "anyOf": [
            {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"const": "auto"}},
                "additionalProperties": False,
            },
            {
                "type": "object",
                "required": ["type", "static"],
                "properties": {
                    "type": {"const": "static"},
                    "static": {
                        "type": "object",
                        "required": ["max_chunk_size_tokens", "chunk_overlap_tokens"],
                        "properties": {
                            "max_chunk_size_tokens": {"type": "integer", "minimum": 100, "maximum": 4096},
                            "chunk_overlap_tokens": {"type": "integer", "minimum": 0, "maximum": 50},
                        },
                        "additionalProperties": False,
                    },
                },
                "additionalProperties": False,
            },
            {"type": "null"},
        ]
    }
)
Chunking = Annotated[dict[str, Any] | None, _CHUNKING]

FileIds = Annotated[list[Annotated[str, Field(max_length=128)]], Field(max_length=MAX_FILES_PER_REQUEST)]


class VectorStoreCreate(_Request):
    file_ids: FileIds | None = None
    name: Annotated[str, Field(max_length=256)] | None = None
    configuration: StoreConfiguration | None = None
    expires_after: ExpiresAfter | None = None
    chunking_strategy: Chunking = None
    metadata: Metadata | None = None


class VectorStoreUpdate(_Request):
    """Only the fields sent change."""

    name: Annotated[str, Field(max_length=256)] | None = None
    expires_after: ExpiresAfter | None = None
    metadata: Metadata | None = None


class StoreFileCreate(_Request):
    file_id: Annotated[str, Field(max_length=128)] | None = None
    data_source: DataSourceIn | None = None
    chunking_strategy: Chunking = None


class BatchCreate(_Request):
    file_ids: FileIds | None = None
    data_sources: Annotated[list[DataSourceIn], Field(max_length=MAX_FILES_PER_REQUEST)] | None = None
    chunking_strategy: Chunking = None

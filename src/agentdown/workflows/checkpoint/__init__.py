"""Workflow checkpoints: the model, its JSON codec and the storages that keep them.

``AzureBlobCheckpointStorage`` needs the ``azure`` extra; it is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .codec import SUPPORTED_TYPES, decode_value, encode_value
from .errors import (
    CheckpointEncodingError,
    CheckpointError,
    CheckpointFormatError,
    CheckpointNotFoundError,
    CheckpointStorageError,
)
from .model import FORMAT_VERSION, WorkflowCheckpoint, checkpoint_from_json, checkpoint_to_json
from .sqlite import SqliteCheckpointStorage
from .storage import (
    CHECKPOINT_ID_PATTERN,
    CheckpointStorage,
    FileCheckpointStorage,
    InMemoryCheckpointStorage,
)

if TYPE_CHECKING:
    from .azure_blob import AzureBlobCheckpointStorage

__all__ = [
    "CHECKPOINT_ID_PATTERN",
    "FORMAT_VERSION",
    "SUPPORTED_TYPES",
    "AzureBlobCheckpointStorage",
    "CheckpointEncodingError",
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointNotFoundError",
    "CheckpointStorage",
    "CheckpointStorageError",
    "FileCheckpointStorage",
    "InMemoryCheckpointStorage",
    "SqliteCheckpointStorage",
    "WorkflowCheckpoint",
    "checkpoint_from_json",
    "checkpoint_to_json",
    "decode_value",
    "encode_value",
]


def __getattr__(name: str) -> Any:
    # The Azure SDK is an optional extra and slow to import: only when asked for.
    if name == "AzureBlobCheckpointStorage":
        from .azure_blob import AzureBlobCheckpointStorage

        return AzureBlobCheckpointStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

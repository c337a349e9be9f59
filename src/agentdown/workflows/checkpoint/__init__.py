"""Workflow checkpoints: the model, its JSON codec and the storages that keep them."""

from __future__ import annotations

from .codec import SUPPORTED_TYPES, decode_value, encode_value
from .errors import CheckpointEncodingError, CheckpointError, CheckpointFormatError, CheckpointNotFoundError
from .model import FORMAT_VERSION, WorkflowCheckpoint, checkpoint_from_json, checkpoint_to_json

__all__ = [
    "FORMAT_VERSION",
    "SUPPORTED_TYPES",
    "CheckpointEncodingError",
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointNotFoundError",
    "WorkflowCheckpoint",
    "checkpoint_from_json",
    "checkpoint_to_json",
    "decode_value",
    "encode_value",
]

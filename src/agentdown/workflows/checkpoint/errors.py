"""The errors a checkpoint can raise, from saving a value to loading a stored document."""

from __future__ import annotations

from ..errors import WorkflowError

__all__ = [
    "CheckpointEncodingError",
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointNotFoundError",
    "CheckpointStorageError",
]


class CheckpointError(WorkflowError):
    """Base class of every checkpoint error."""


class CheckpointEncodingError(CheckpointError, TypeError):
    """A value in the workflow's messages or state cannot be written to a checkpoint.

    Raised when the checkpoint is saved (by every storage, in-memory included), so the
    run stops at the superstep that produced the value. The message names where the value
    sits (``$.state.report.items[3]``), its type, and the types a checkpoint can hold.
    """


class CheckpointFormatError(CheckpointError, ValueError):
    """A stored checkpoint is damaged, tampered with or written by a newer format.

    The message names the document (``where``: a file, blob or row) and the field that is
    wrong. Nothing of the document is used: a checkpoint loads completely or not at all.
    """


class CheckpointNotFoundError(CheckpointError, LookupError):
    """No checkpoint with that id exists in the storage (or the id is not a valid one)."""


class CheckpointStorageError(CheckpointError):
    """The storage itself failed (a database or blob service error); the message names it and the cause."""

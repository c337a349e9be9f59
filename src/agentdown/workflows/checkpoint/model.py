"""A workflow checkpoint and its JSON document (format 1).

The document is one JSON object: the checkpoint's fields plus ``"format": 1``. The
fields that hold workflow values (messages, state, pending requests, executor states,
metadata) go through :mod:`.codec`, so their Python types survive; everything else is
plain JSON and is checked field by field on load.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field, fields
from typing import Any
from uuid import uuid4

from .codec import decode_value, encode_value
from .errors import CheckpointEncodingError, CheckpointFormatError

__all__ = ["FORMAT_VERSION", "WorkflowCheckpoint", "checkpoint_from_json", "checkpoint_to_json"]

FORMAT_VERSION = 1
"""The document format this version writes and the newest it reads."""


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass
class WorkflowCheckpoint:
    """Everything needed to resume a workflow run at a superstep boundary."""

    workflow_name: str
    """Groups a workflow's checkpoints; storages list and find the latest by it."""
    graph_signature: str
    """Hash of the graph's topology: a checkpoint of another graph is refused on restore."""
    checkpoint_id: str = field(default_factory=lambda: uuid4().hex)
    previous_checkpoint_id: str | None = None
    """The checkpoint this one follows in the same run (the lineage, not the iteration, orders them)."""
    timestamp: str = field(default_factory=_utc_now)
    """When it was taken: ISO 8601, UTC."""
    iteration: int = 0
    """The superstep boundary it sits on; a boundary can carry more than one checkpoint."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    """Messages queued for the next superstep."""
    state: dict[str, Any] = field(default_factory=dict)
    """Committed shared state (what ``ctx.set_state`` wrote before the boundary)."""
    pending_requests: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Unanswered ``request_info`` requests by request id."""
    executor_states: dict[str, Any] = field(default_factory=dict)
    """Each executor's own saved state by executor id."""
    status: str = "IN_PROGRESS"
    """The run state when it was taken (``IN_PROGRESS``, ``IDLE_WITH_PENDING_REQUESTS``, ...)."""
    metadata: dict[str, Any] = field(default_factory=dict)


_VALUE_FIELDS = ("messages", "state", "pending_requests", "executor_states", "metadata")
_FIELD_NAMES = tuple(f.name for f in fields(WorkflowCheckpoint))


def checkpoint_to_json(cp: WorkflowCheckpoint) -> bytes:
    """The checkpoint as a UTF-8 JSON document.

    Raises :class:`~.errors.CheckpointEncodingError` naming the first value that cannot be
    stored (``$.state.report.items[3]``).
    """
    doc: dict[str, Any] = {"format": FORMAT_VERSION}
    for name in _FIELD_NAMES:
        value = getattr(cp, name)
        if name in _VALUE_FIELDS:
            shape = _shape_problem(name, value)
            if shape is not None:
                raise CheckpointEncodingError(f"$.{name}: {shape}")
            value = encode_value(value, path=f"$.{name}")
        else:
            # What load would refuse is refused here: a checkpoint that saves also loads.
            problem = _plain_problem(name, value)
            if problem is not None:
                raise CheckpointEncodingError(f"$.{name}: must be {problem}, not {value!r:.80}")
        doc[name] = value
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def checkpoint_from_json(data: bytes, *, where: str) -> WorkflowCheckpoint:
    """The checkpoint in ``data``; ``where`` (a file, blob or row) is named in every error.

    Raises :class:`~.errors.CheckpointFormatError` for a document that is not valid JSON,
    has another format version, lacks a field, has a field of the wrong type or holds a
    value :func:`~.codec.decode_value` refuses.
    """
    try:
        doc = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise CheckpointFormatError(f"{where}: not a JSON checkpoint document ({exc})") from None
    if not isinstance(doc, dict):
        raise CheckpointFormatError(f"{where}: a checkpoint document is a JSON object")
    version = doc.get("format")
    if type(version) is not int or version != FORMAT_VERSION:
        newer = type(version) is int and version > FORMAT_VERSION
        hint = " (written by a newer agentdown)" if newer else ""
        raise CheckpointFormatError(
            f"{where}: field 'format' is {version!r}, expected {FORMAT_VERSION}{hint}"
        )
    unknown = sorted(set(doc) - set(_FIELD_NAMES) - {"format"})
    if unknown:
        raise CheckpointFormatError(f"{where}: unknown field(s) {unknown}")
    values = {name: _field(doc, name, where) for name in _FIELD_NAMES}
    return WorkflowCheckpoint(**values)


def _refuse_constant(name: str) -> Any:
    # Python's json reads NaN and Infinity, which no JSON writer (ours included) emits.
    raise ValueError(f"{name} is not JSON")


def _field(doc: dict[str, Any], name: str, where: str) -> Any:
    if name not in doc:
        raise CheckpointFormatError(f"{where}: field {name!r} is missing")
    raw = doc[name]
    if name in _VALUE_FIELDS:
        try:
            value = decode_value(raw)
        except CheckpointFormatError as exc:
            raise CheckpointFormatError(f"{where}: field {name!r}: {exc}") from None
        shape = _shape_problem(name, value)
        if shape is not None:
            raise CheckpointFormatError(f"{where}: field {name!r}: {shape}")
        return value
    problem = _plain_problem(name, raw)
    if problem is not None:
        raise CheckpointFormatError(f"{where}: field {name!r} must be {problem}, not {raw!r:.80}")
    return raw


def _shape_problem(name: str, value: Any) -> str | None:
    """What is wrong with the shape of the value field ``name``, or ``None``."""
    if name == "messages":
        if type(value) is not list:
            return f"must be a list, not {type(value).__name__}"
        bad = next((i for i, m in enumerate(value) if type(m) is not dict), None)
        return None if bad is None else f"item [{bad}] must be a dict, not {type(value[bad]).__name__}"
    if type(value) is not dict:
        return f"must be a dict, not {type(value).__name__}"
    if name == "pending_requests":
        bad_key = next((k for k, v in value.items() if type(v) is not dict), None)
        if bad_key is not None:
            return f"request {bad_key!r} must be a dict, not {type(value[bad_key]).__name__}"
    return None


def _plain_problem(name: str, raw: Any) -> str | None:
    """What the plain field ``name`` must be, when ``raw`` is not that; else ``None``."""
    if name == "iteration":
        ok = type(raw) is int and raw >= 0
        expected = "a non-negative integer"
    elif name == "previous_checkpoint_id":
        ok = raw is None or (type(raw) is str and raw != "")
        expected = "null or a non-empty string"
    elif name == "timestamp":
        ok = type(raw) is str and _is_iso(raw)
        expected = "an ISO 8601 timestamp"
    else:
        ok = type(raw) is str and raw != ""
        expected = "a non-empty string"
    return None if ok else expected


def _is_iso(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True

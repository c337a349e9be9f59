"""The checkpoint document: versioned JSON that loads completely, or fails naming the document and field."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from agentdown.workflows.checkpoint import (
    FORMAT_VERSION,
    CheckpointEncodingError,
    CheckpointFormatError,
    WorkflowCheckpoint,
    checkpoint_from_json,
    checkpoint_to_json,
)

WHERE = "/var/cps/abc.json"


def document(**changes: Any) -> bytes:
    doc = json.loads(
        checkpoint_to_json(WorkflowCheckpoint("review", "sig", checkpoint_id="abc", state={"n": 1}))
    )
    for key, value in changes.items():
        if value is ...:
            del doc[key]
        else:
            doc[key] = value
    return json.dumps(doc).encode()


def test_defaults_are_a_fresh_id_and_a_utc_timestamp() -> None:
    first, second = WorkflowCheckpoint("w", "s"), WorkflowCheckpoint("w", "s")
    assert first.checkpoint_id != second.checkpoint_id
    moment = dt.datetime.fromisoformat(first.timestamp)
    assert moment.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - moment) < dt.timedelta(minutes=1)
    assert (first.iteration, first.status, first.previous_checkpoint_id) == (0, "IN_PROGRESS", None)


def test_the_document_is_versioned_utf8_json() -> None:
    cp = WorkflowCheckpoint("résumé", "sig", state={"text": "naïve"})
    raw = checkpoint_to_json(cp)
    doc = json.loads(raw.decode("utf-8"))
    assert doc["format"] == FORMAT_VERSION == 1
    assert doc["workflow_name"] == "résumé" and doc["state"] == {"text": "naïve"}
    assert checkpoint_from_json(raw, where=WHERE) == cp


def test_a_newer_format_is_refused_saying_so() -> None:
    with pytest.raises(CheckpointFormatError, match=r"abc\.json.*'format'.*newer agentdown"):
        checkpoint_from_json(document(format=2), where=WHERE)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"format": ...}, "format"),
        ({"format": "1"}, "format"),
        ({"format": True}, "format"),
        ({"workflow_name": ...}, "workflow_name"),
        ({"workflow_name": 7}, "workflow_name"),
        ({"graph_signature": ""}, "graph_signature"),
        ({"checkpoint_id": None}, "checkpoint_id"),
        ({"previous_checkpoint_id": 3}, "previous_checkpoint_id"),
        ({"timestamp": "noon"}, "timestamp"),
        ({"iteration": -1}, "iteration"),
        ({"iteration": 1.5}, "iteration"),
        ({"iteration": True}, "iteration"),
        ({"status": ["IDLE"]}, "status"),
        ({"messages": {"not": "a list"}}, "messages"),
        ({"messages": [{"ok": 1}, "not a dict"]}, "messages"),
        ({"pending_requests": {"r1": 5}}, "pending_requests"),
        ({"state": []}, "state"),
        ({"state": {"$type": "tuple", "value": [1]}}, "state"),  # decodes to a tuple, not a dict
        ({"state": {"x": {"$type": "builtins:eval", "value": "1"}}}, "state"),
        ({"pending_requests": {"$type": "os:system", "value": "id"}}, "pending_requests"),
        ({"executor_states": 1}, "executor_states"),
        ({"metadata": "m"}, "metadata"),
        ({"__reduce__": "os.system"}, "__reduce__"),
    ],
)
def test_a_tampered_document_names_where_and_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(CheckpointFormatError) as err:
        checkpoint_from_json(document(**changes), where=WHERE)
    assert WHERE in str(err.value) and field in str(err.value)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        document().replace(b'"n": 1', b'"n": NaN'),
        b"\xff\xfe\x00",
        b"[1, 2]",
        b"null",
        b'{"format": 1',
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_damaged_bytes_are_format_errors_naming_where(raw: bytes) -> None:
    with pytest.raises(CheckpointFormatError, match=r"abc\.json"):
        checkpoint_from_json(raw, where=WHERE)


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"state": {"ok": [1, {2, 3}], "bad": {"deep": [object()]}}}, r"\$\.state\.bad\.deep\[0\]"),
        ({"messages": [{"data": object()}]}, r"\$\.messages\[0\]\.data"),
        ({"pending_requests": {"r1": {"data": lambda: None}}}, r"\$\.pending_requests\.r1\.data"),
        ({"executor_states": {"writer": iter([])}}, r"\$\.executor_states\.writer"),
        ({"metadata": {"when": object()}}, r"\$\.metadata\.when"),
        ({"timestamp": "sometime"}, r"\$\.timestamp"),
        ({"iteration": -3}, r"\$\.iteration"),
        ({"state": ("not", "a dict")}, r"\$\.state"),
        ({"messages": [("source", "target")]}, r"\$\.messages.*item \[0\]"),
        ({"pending_requests": {"r1": "text"}}, r"\$\.pending_requests.*'r1'"),
    ],
)
def test_what_cannot_be_stored_fails_at_save_naming_its_path(fields: dict[str, Any], path: str) -> None:
    with pytest.raises(CheckpointEncodingError, match=path):
        checkpoint_to_json(WorkflowCheckpoint("w", "s", **fields))

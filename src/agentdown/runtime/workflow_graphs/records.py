"""The records of a durable graph run, and the jobs of its supersteps.

In the Agents-API record store (SQLite, or Azure Tables):

* ``workflow_graph_run`` under the workflow's name: the run as served (status,
  iteration, checkpoint id, pending requests, outputs, error) plus private keys: the
  caller (``_owner``), the steps left before ``max_iterations`` (``_steps_left``) and
  the superstep in flight (``_step``: its iteration, nonce, target count and the
  bitmap of targets done, which a finishing job sets by compare-and-set);
* ``workflow_graph_step`` under the run id, one per planned superstep (id: its nonce):
  the targets in delivery order and the fan-in buffers after routing;
* ``workflow_graph_result`` under ``<run>:<nonce>``, id the target's index: what the
  target produced (:meth:`~agentdown.workflows.steps.TargetResult.to_json`), written
  once (create-if-absent);
* ``workflow_graph_input`` beside it: a target's items when too large for a queue message.

A job is a JSON message ``{"v": 1, "run", "workflow", "iteration", "nonce", "index",
"target", "items" | "input": true}`` on the ``agentdown-workflow-steps`` queue.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "INPUT",
    "RESULT",
    "RUN",
    "STEP",
    "Job",
    "bit_set",
    "bits_full",
    "jsonable",
    "new_bits",
    "new_nonce",
    "result_parent",
    "served",
    "set_bit",
]

RUN = "workflow_graph_run"
STEP = "workflow_graph_step"
RESULT = "workflow_graph_result"
INPUT = "workflow_graph_input"
TERMINAL = ("IDLE", "FAILED")


def new_nonce() -> str:
    return uuid.uuid4().hex[:16]


def result_parent(run_id: str, nonce: str) -> str:
    return f"{run_id}:{nonce}"


def index_id(index: int) -> str:
    return f"{index:07d}"


# --- the bitmap of targets done ---------------------------------------------------------------


def new_bits(count: int) -> str:
    return base64.b64encode(bytes((count + 7) // 8)).decode("ascii")


def bit_set(bits: str, index: int) -> bool:
    raw = base64.b64decode(bits)
    return bool(raw[index // 8] & (1 << (index % 8)))


def set_bit(bits: str, indexes: list[int]) -> str:
    raw = bytearray(base64.b64decode(bits))
    for index in indexes:
        raw[index // 8] |= 1 << (index % 8)
    return base64.b64encode(bytes(raw)).decode("ascii")


def bits_full(bits: str, count: int) -> bool:
    raw = base64.b64decode(bits)
    return sum(bin(b).count("1") for b in raw) >= count


# --- jobs -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Job:
    run: str
    workflow: str
    iteration: int
    nonce: str
    index: int
    target: str
    items: Any = None
    """The encoded deliveries, or ``None`` when they are in an input record."""

    def to_text(self) -> str:
        doc: dict[str, Any] = {
            "v": 1,
            "run": self.run,
            "workflow": self.workflow,
            "iteration": self.iteration,
            "nonce": self.nonce,
            "index": self.index,
            "target": self.target,
        }
        if self.items is None:
            doc["input"] = True
        else:
            doc["items"] = self.items
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str | None) -> Job:
        """The job in ``text``; ``ValueError`` saying what is wrong."""
        if text is None:
            raise ValueError("a workflow step job is UTF-8 JSON text")
        doc = json.loads(text)
        if not isinstance(doc, dict) or doc.get("v") != 1:
            raise ValueError("not a workflow step job (expected a JSON object with v=1)")
        for key, kind in (("run", str), ("workflow", str), ("nonce", str), ("target", str)):
            if not isinstance(doc.get(key), kind) or not doc[key]:
                raise ValueError(f"workflow step job: {key!r} must be a non-empty string")
        for key in ("iteration", "index"):
            if type(doc.get(key)) is not int or doc[key] < 0:
                raise ValueError(f"workflow step job: {key!r} must be a non-negative integer")
        if "items" not in doc and doc.get("input") is not True:
            raise ValueError("workflow step job: it has neither items nor an input record")
        return cls(
            doc["run"],
            doc["workflow"],
            doc["iteration"],
            doc["nonce"],
            doc["index"],
            doc["target"],
            doc.get("items"),
        )


# --- what is served ---------------------------------------------------------------------------


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON for the HTTP API (dataclasses and models as objects, sets as lists)."""
    if depth > 50:
        return repr(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else repr(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, enum.Enum):
        return jsonable(value.value, depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name), depth + 1) for f in dataclasses.fields(value)}
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return jsonable(dump(mode="json"), depth + 1)
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    return str(value)


def served(body: Mapping[str, Any]) -> dict[str, Any]:
    """A run record's public part."""
    return {k: v for k, v in body.items() if not k.startswith("_")}


def now() -> int:
    return int(time.time())

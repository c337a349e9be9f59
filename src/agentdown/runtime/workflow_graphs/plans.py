"""Planning a superstep's jobs, and telling a job of the step in flight from an early or stale one."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal

from agentdown.runtime.agents_api.store import AgentsStore, Create, Record
from agentdown.runtime.workflow_graphs.records import (
    INPUT,
    STEP,
    TERMINAL,
    Job,
    index_id,
    jsonable,
    new_bits,
    new_nonce,
    result_parent,
)
from agentdown.workflows.checkpoint.codec import encode_value
from agentdown.workflows.runner import Runner
from agentdown.workflows.steps import encode_deliveries, plan_superstep
from agentdown.workflows.typing_utils import type_name

__all__ = [
    "ENSURE_DELAY",
    "INLINE_ITEMS",
    "Verdict",
    "classify",
    "coerce",
    "ensure_of",
    "ensure_text",
    "pending_of",
    "plan_step",
]

INLINE_ITEMS = 16_000
"""Encoded items larger than this (characters) go in an input record, not the queue message."""
ENSURE_DELAY = 30.0
"""Seconds before a step's safety-net message shows: by then its jobs are sent, or whoever planned it died."""

Verdict = Literal["go", "early", "stale", "resend"]


async def plan_step(
    store: AgentsStore, runner: Runner, run_id: str, name: str, by: list[Any] | None
) -> tuple[dict[str, Any], list[str]]:
    """Route what is queued into the next step; its step record written. The run's ``_step`` and the jobs.

    ``by`` (``[nonce, index]``) names the job that committed the previous step: if it dies
    before every job is sent, its redelivery sends them (:func:`classify` says ``resend``).
    """
    deliveries = await plan_superstep(runner)
    nonce = new_nonce()
    texts: list[str] = []
    inputs: list[Create] = []
    for index, (target, items) in enumerate(deliveries.items()):
        encoded = encode_deliveries(items)
        if len(json.dumps(encoded)) > INLINE_ITEMS:
            inputs.append(Create(INPUT, result_parent(run_id, nonce), index_id(index), {"items": encoded}))
            encoded = None
        texts.append(Job(run_id, name, runner.iteration, nonce, index, target, encoded).to_text())
    plan = {
        "iteration": runner.iteration,
        "targets": list(deliveries),
        "fan_in": encode_value(runner.fan_in),
        "jobs": texts,
    }
    await store.write([Create(STEP, run_id, nonce, plan), *inputs])
    step = {
        "iteration": runner.iteration,
        "nonce": nonce,
        "count": len(texts),
        "done": new_bits(len(texts)),
        "by": by,
    }
    return step, texts


def ensure_text(run_id: str, name: str, nonce: str) -> str:
    return json.dumps({"v": 1, "kind": "ensure", "run": run_id, "workflow": name, "nonce": nonce})


def ensure_of(text: str | None) -> dict[str, Any] | None:
    """The safety-net message in ``text``, or ``None`` when it is (or should be) a job."""
    if text is None or '"ensure"' not in text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return None
    if isinstance(doc, dict) and doc.get("kind") == "ensure":
        if all(isinstance(doc.get(k), str) and doc[k] for k in ("run", "workflow", "nonce")):
            return doc
        raise ValueError("a workflow ensure message names a run, a workflow and a nonce")
    return None


def classify(record: Record | None, job: Job) -> Verdict:
    """Whether the job is of the run's step in flight, of a step not yet recorded, or of none (stale)."""
    if record is None:
        return "early"
    body = record.body
    if body["status"] in TERMINAL:
        return "stale"
    step = body.get("_step")
    current = int(step["iteration"]) if step else int(body["iteration"])
    if job.iteration > current:
        return "early"
    if step and job.iteration == current and step["nonce"] == job.nonce:
        return "go" if job.index < int(step["count"]) else "stale"
    if step and not step.get("sent") and step.get("by") == [job.nonce, job.index]:
        return "resend"
    return "stale"


def pending_of(runner: Runner) -> list[dict[str, Any]]:
    """The run's unanswered requests as served."""
    return [
        {
            "request_id": p.request_id,
            "executor_id": p.source_id,
            "data": jsonable(p.data),
            "response_type": type_name(p.response_type),
        }
        for p in runner.pending.values()
    ]


def coerce(value: Any, runner: Runner, request_id: str) -> Any:
    """A JSON answer as the request's response type (a dataclass or model from an object)."""
    request = runner.pending.get(request_id)
    kind = request.response_type if request is not None else None
    if isinstance(kind, type) and isinstance(value, dict) and not isinstance(value, kind):
        try:
            validate = getattr(kind, "model_validate", None)
            if callable(validate):
                return validate(value)
            if dataclasses.is_dataclass(kind):
                return kind(**value)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"the answer to request {request_id!r} is not a {kind.__name__}: {exc}"
            ) from None
    return value

"""Taking a run's checkpoint at a superstep boundary, and putting a run back from one.

The messages, pending requests and executor states are written as plain dicts of
values the checkpoint codec stores (a value it cannot store fails the save, and with it
the run, naming the value's path). Types of requested answers are recorded by name and
looked up, never imported, on restore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentdown.workflows.checkpoint.model import WorkflowCheckpoint
from agentdown.workflows.errors import CheckpointMismatchError
from agentdown.workflows.events import WorkflowRunState
from agentdown.workflows.runner import PendingRequest, QueuedMessage, Runner
from agentdown.workflows.typing_utils import decode_type, encode_type

if TYPE_CHECKING:
    from agentdown.workflows.workflow import Workflow

__all__ = [
    "apply_snapshot",
    "check_signature",
    "checkpoint_of",
    "message_dict",
    "restore",
    "runner_from_checkpoint",
    "snapshot",
    "take_checkpoint",
]


def message_dict(m: QueuedMessage) -> dict[str, Any]:
    """A queued message as a checkpoint holds it (values not yet encoded)."""
    return _message_dict(m)


def _message_dict(m: QueuedMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"source_id": m.source_id, "target_id": m.target_id, "data": m.data}
    if m.request_id is not None:
        out["request_id"] = m.request_id
        out["request"] = m.request
    return out


async def snapshot(workflow: Workflow, runner: Runner) -> dict[str, Any]:
    """The run's queued messages, state, requests and executor states, as a checkpoint holds them."""
    saved: dict[str, Any] = {}
    for eid, executor in workflow.executors.items():
        own = await executor.on_checkpoint_save()
        if own:
            saved[eid] = own
    return {
        "iteration": runner.iteration,
        "messages": [_message_dict(m) for m in runner.queue],
        "state": dict(runner.state),
        "pending_requests": {
            rid: {"source_id": p.source_id, "data": p.data, "response_type": encode_type(p.response_type)}
            for rid, p in runner.pending.items()
        },
        "executor_states": {"executors": saved, "fan_in": runner.fan_in},
    }


async def apply_snapshot(workflow: Workflow, runner: Runner, snap: dict[str, Any], where: str) -> None:
    """Put ``runner`` back to what :func:`snapshot` (or a checkpoint) recorded; ``where`` names it in errors."""
    try:
        pending = {
            rid: PendingRequest(rid, raw["source_id"], raw["data"], decode_type(raw["response_type"]))
            for rid, raw in snap["pending_requests"].items()
        }
        queue = [
            QueuedMessage(m["source_id"], m["target_id"], m["data"], m.get("request_id"), m.get("request"))
            for m in snap["messages"]
        ]
    except (KeyError, LookupError, TypeError, AttributeError) as exc:
        raise CheckpointMismatchError(f"{where} cannot be restored here: {exc}") from exc
    unknown = {m.target_id for m in queue if m.target_id is not None} | {
        p.source_id for p in pending.values()
    }
    unknown -= workflow.executors.keys()
    if unknown:
        raise CheckpointMismatchError(f"{where} names executors this workflow lacks: {sorted(unknown)}")
    executor_states = snap["executor_states"]
    for eid, own in executor_states.get("executors", {}).items():
        if eid in workflow.executors:
            await workflow.executors[eid].on_checkpoint_restore(own)
    runner.state = dict(snap["state"])
    runner.queue = queue
    runner.pending = pending
    runner.fan_in = {
        g: {s: list(v) for s, v in b.items()} for g, b in executor_states.get("fan_in", {}).items()
    }
    runner.iteration = snap["iteration"]


async def take_checkpoint(workflow: Workflow, runner: Runner, storage: Any, previous: str | None) -> str:
    """Save the run as it stands now; returns the new checkpoint's id."""
    cp = await checkpoint_of(workflow, runner, previous=previous)
    checkpoint_id: str = await storage.save(cp)
    return checkpoint_id


async def checkpoint_of(
    workflow: Workflow, runner: Runner, *, previous: str | None = None, checkpoint_id: str | None = None
) -> WorkflowCheckpoint:
    """The checkpoint of the run as it stands now (not saved); ``checkpoint_id`` defaults to a fresh one."""
    if runner.queue:
        status = WorkflowRunState.IN_PROGRESS
    elif runner.pending:
        status = WorkflowRunState.IDLE_WITH_PENDING_REQUESTS
    else:
        status = WorkflowRunState.IDLE
    extra: dict[str, Any] = {"checkpoint_id": checkpoint_id} if checkpoint_id is not None else {}
    return WorkflowCheckpoint(
        workflow_name=workflow.name,
        graph_signature=workflow.graph_signature,
        previous_checkpoint_id=previous,
        status=status.value,
        **extra,
        **await snapshot(workflow, runner),
    )


def check_signature(workflow: Workflow, cp: WorkflowCheckpoint) -> None:
    """Refuse a checkpoint another graph took (:class:`CheckpointMismatchError`)."""
    if cp.graph_signature != workflow.graph_signature:
        raise CheckpointMismatchError(
            f"checkpoint {cp.checkpoint_id!r} was taken by another graph (workflow {cp.workflow_name!r}, "
            f"signature {cp.graph_signature[:12]}…; this workflow {workflow.name!r} has "
            f"{workflow.graph_signature[:12]}…)"
        )


async def runner_from_checkpoint(
    workflow: Workflow, cp: WorkflowCheckpoint, *, like: Runner | None = None
) -> Runner:
    """A fresh runner of ``workflow`` put back to ``cp`` (refused when another graph took it)."""
    check_signature(workflow, cp)
    runner = Runner(workflow, like=like)
    await apply_snapshot(workflow, runner, _snap(cp), f"checkpoint {cp.checkpoint_id!r}")
    return runner


def _snap(cp: WorkflowCheckpoint) -> dict[str, Any]:
    return {
        "iteration": cp.iteration,
        "messages": cp.messages,
        "state": cp.state,
        "pending_requests": cp.pending_requests,
        "executor_states": cp.executor_states,
    }


async def restore(workflow: Workflow, runner: Runner, storage: Any, checkpoint_id: str) -> str:
    """Put ``runner`` back to the checkpoint ``checkpoint_id``; refuses one of another graph."""
    cp: WorkflowCheckpoint = await storage.load(checkpoint_id)
    check_signature(workflow, cp)
    await apply_snapshot(workflow, runner, _snap(cp), f"checkpoint {checkpoint_id!r}")
    return cp.checkpoint_id

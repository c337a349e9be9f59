"""One superstep at a time, for an engine that runs a step's targets apart (in other processes).

The in-process :meth:`Runner.run_until_idle` routes a step's messages, runs every target
and commits the step in one go. A durable engine splits that in three, and this module
gives it the seams, with the same rules:

1. :func:`plan_superstep`: route what is queued into deliveries (target id -> items, in
   the order the targets were first sent to), advancing the fan-in buffers;
2. :func:`run_target`: run ONE target's items on a runner restored to the step's
   boundary, capturing what it produced (sends, outputs, events, state writes,
   requests, its own executor state, or the error) as a :class:`TargetResult`, which
   :meth:`TargetResult.to_json` turns into plain JSON through the checkpoint codec;
3. :func:`commit_superstep`: apply the results in delivery order (state: last write
   wins in that order; sends queued in that order), as the in-process run commits.

Deliveries travel as JSON too (:func:`encode_deliveries`). Decoding goes through the
checkpoint codec, so a forged document cannot construct arbitrary types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agentdown.workflows.checkpoint.codec import decode_value, encode_value
from agentdown.workflows.checkpoint.errors import CheckpointFormatError
from agentdown.workflows.checkpoint_io import message_dict
from agentdown.workflows.context import WorkflowContext
from agentdown.workflows.errors import WorkflowRunError
from agentdown.workflows.events import WorkflowErrorDetails, WorkflowEvent
from agentdown.workflows.routing import Delivery, PendingRequest, QueuedMessage
from agentdown.workflows.runner import Runner
from agentdown.workflows.typing_utils import decode_type, encode_type

__all__ = [
    "StepFailedError",
    "TargetResult",
    "commit_superstep",
    "decode_deliveries",
    "encode_deliveries",
    "plan_superstep",
    "run_target",
]


class StepFailedError(WorkflowRunError):
    """An executor of the step raised: the run fails, as it does in-process."""

    def __init__(self, details: WorkflowErrorDetails) -> None:
        super().__init__(f"executor {details.executor_id!r} failed: {details.error_type}: {details.message}")
        self.details = details


@dataclass(slots=True)
class TargetResult:
    """Everything one target's invocations of a superstep produced."""

    target_id: str
    sent: list[QueuedMessage] = field(default_factory=list)
    outputs: list[tuple[str, str, Any]] = field(default_factory=list)
    """``(kind, executor_id, data)``: kind ``output`` or ``intermediate``."""
    events: list[dict[str, Any]] = field(default_factory=list)
    """The other events, summarised (type, executor id, text of the data)."""
    writes: list[dict[str, Any]] = field(default_factory=list)
    """Each invocation's ``set_state`` writes, in order."""
    requests: list[PendingRequest] = field(default_factory=list)
    executor_state: dict[str, Any] | None = None
    """What the executor's ``on_checkpoint_save`` returned afterwards (``None``: nothing)."""
    error: WorkflowErrorDetails | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (``CheckpointEncodingError`` naming the first value that cannot be stored)."""
        values = {
            "sent": [message_dict(m) for m in self.sent],
            "outputs": [list(o) for o in self.outputs],
            "writes": self.writes,
            "requests": [
                {"request_id": p.request_id, "source_id": p.source_id, "data": p.data} for p in self.requests
            ],
            "executor_state": self.executor_state,
        }
        doc: dict[str, Any] = {
            "target_id": self.target_id,
            "values": encode_value(values, path=f"$.{self.target_id}"),
            "response_types": [encode_type(p.response_type) for p in self.requests],
            "events": self.events,
        }
        if self.error is not None:
            e = self.error
            doc["error"] = {
                "error_type": e.error_type,
                "message": e.message,
                "executor_id": e.executor_id,
                "traceback": e.traceback,
            }
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> TargetResult:
        """The result :meth:`to_json` wrote (:class:`CheckpointFormatError` for anything else)."""
        try:
            values = decode_value(doc["values"])
            types = [decode_type(t) for t in doc["response_types"]]
            requests = [
                PendingRequest(r["request_id"], r["source_id"], r["data"], t)
                for r, t in zip(values["requests"], types, strict=True)
            ]
            error = doc.get("error")
            return cls(
                target_id=str(doc["target_id"]),
                sent=[_message(m) for m in values["sent"]],
                outputs=[(str(k), str(e), d) for k, e, d in values["outputs"]],
                events=list(doc["events"]),
                writes=list(values["writes"]),
                requests=requests,
                executor_state=values["executor_state"],
                error=None if error is None else WorkflowErrorDetails(**error),
            )
        except CheckpointFormatError:
            raise
        except (KeyError, LookupError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointFormatError(f"not a step result: {type(exc).__name__}: {exc}") from None


def _message(m: dict[str, Any]) -> QueuedMessage:
    return QueuedMessage(m["source_id"], m["target_id"], m["data"], m.get("request_id"), m.get("request"))


def encode_deliveries(items: list[Delivery]) -> Any:
    """One target's items as plain JSON."""
    return encode_value([{"message": message_dict(d.message), "sources": d.sources} for d in items])


def decode_deliveries(data: Any) -> list[Delivery]:
    """The items :func:`encode_deliveries` wrote."""
    try:
        return [Delivery(_message(d["message"]), list(d["sources"])) for d in decode_value(data)]
    except CheckpointFormatError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointFormatError(f"not a step's deliveries: {type(exc).__name__}: {exc}") from None


async def plan_superstep(runner: Runner) -> dict[str, list[Delivery]]:
    """Start the next superstep: its deliveries by target, in the order targets were first sent to.

    Takes the queue, advances ``iteration`` and the fan-in buffers; routing errors (a
    condition that raised, a message nobody takes) are raised as in-process.
    """
    batch, runner.queue = runner.queue, []
    runner.iteration += 1
    return await runner.route(batch)


def _summary(event: WorkflowEvent) -> dict[str, Any]:
    out: dict[str, Any] = {"type": event.type}
    if event.executor_id is not None:
        out["executor_id"] = event.executor_id
    if event.data is not None and event.type not in ("executor_invoked", "executor_completed"):
        out["data"] = repr(event.data)[:2000]
    return out


async def run_target(runner: Runner, target_id: str, items: list[Delivery]) -> TargetResult:
    """Run ``target_id``'s items of a step on ``runner`` (restored to the step's boundary).

    The runner is used up: its queue, pending requests and event sink are this call's.
    An exception of the executor is captured in ``error`` (and stops its later items),
    as it would fail the in-process run.
    """
    result = TargetResult(target_id)
    known = set(runner.pending)

    def sink(event: WorkflowEvent) -> None:
        if event.type in ("output", "intermediate"):
            result.outputs.append((event.type, event.executor_id or target_id, event.data))
        elif event.type != "request_info":
            result.events.append(_summary(event))

    runner.sink = sink
    runner.queue = []
    contexts: list[WorkflowContext[Any, Any]] = []
    try:
        await runner._run_target(target_id, items, contexts)
        executor = runner.executors[target_id]
        result.executor_state = (await executor.on_checkpoint_save()) or None
    except Exception as exc:
        result.error = WorkflowErrorDetails.from_exception(exc, target_id)
    result.sent = list(runner.queue)
    result.writes = [ctx._writes for ctx in contexts if ctx._writes]
    result.requests = [p for rid, p in runner.pending.items() if rid not in known]
    return result


async def commit_superstep(runner: Runner, results: list[TargetResult]) -> list[tuple[str, str, Any]]:
    """Apply a step's results, in delivery order, to ``runner`` (at the step's boundary); the outputs.

    Raises :class:`StepFailedError` for the first result that failed (nothing applied).
    """
    for r in results:
        if r.error is not None:
            raise StepFailedError(r.error)
    for r in results:
        for writes in r.writes:
            runner.state.update(writes)
        runner.queue.extend(r.sent)
        for p in r.requests:
            if p.request_id in runner.pending:
                raise WorkflowRunError(f"request id {p.request_id!r} is already pending")
            runner.pending[p.request_id] = p
        if r.executor_state is not None:
            await runner.executors[r.target_id].on_checkpoint_restore(r.executor_state)
    return [o for r in results for o in r.outputs]

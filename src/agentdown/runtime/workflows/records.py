"""A workflow run as one record of the Agents-API store, changed only by compare-and-set steps.

The record (kind ``workflow``, top-level, id = the workflow id) holds the scheduler's
:class:`~agentdown.workflows.planned.PlanState` with who owns the run (agent slug,
session id, owner digest), the ``runs`` markers of executions started, and an
*outbox*: the jobs a step asked for. A step writes its new state and its jobs in one
ETag-checked replace, then sends the jobs and removes them from the outbox. A worker
that dies between the two leaves them in the outbox; the job that caused the step
comes back (it is deleted only after the flush) and any handler flushes the outbox
first, so no step's jobs are ever lost. Sending a job twice is harmless: jobs are
idempotent against the state.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from agentdown.runtime.agents_api.store import AgentsStore, ETagMismatchError, Record
from agentdown.workflows.planned import Finish, PlanState, RunSubAgent, RunTool, StartTimer
from agentdown.workflows.planned.state import Action

__all__ = [
    "KIND",
    "Step",
    "StepOutcome",
    "WorkflowRecord",
    "apply_step",
    "jobs_for",
    "new_body",
    "notification_text",
    "utcnow",
]

KIND = "workflow"

Step = Callable[[PlanState, dict[str, Any]], "tuple[PlanState, list[Action]] | None"]
"""A step: the state and the (copied, writable) body → the new state and its actions, or ``None`` for no change."""


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class WorkflowRecord:
    """A read view of a stored workflow."""

    record: Record

    @property
    def body(self) -> dict[str, Any]:
        return self.record.body

    @property
    def state(self) -> PlanState:
        return PlanState.model_validate(self.record.body["state"])

    @property
    def workflow_id(self) -> str:
        return self.record.id

    @property
    def agent(self) -> str:
        return str(self.record.body.get("agent", ""))

    @property
    def session_id(self) -> str:
        return str(self.record.body.get("session_id", ""))


@dataclass(slots=True)
class StepOutcome:
    record: Record | None
    jobs: list[dict[str, Any]] = field(default_factory=list)
    finished: Finish | None = None


def notification_text(workflow_id: str, status: str) -> str:
    """The ``<workflow-notification>`` message the other runtime's chat UI posts when a workflow ends."""
    return (
        "<workflow-notification>\n"
        f"  <workflow-id>{workflow_id}</workflow-id>\n"
        f"  <status>{status}</status>\n"
        f"  <summary>Workflow {workflow_id} finished with status {status}.</summary>\n"
        "</workflow-notification>\n\n"
        "Call `get_workflow_status` to retrieve the final result."
    )


def jobs_for(workflow_id: str, actions: Iterable[Action]) -> list[dict[str, Any]]:
    """The queue jobs that carry out ``actions`` (a ``Finish`` needs none: the record says it)."""
    jobs: list[dict[str, Any]] = []
    for action in actions:
        base = {"job_id": uuid.uuid4().hex, "workflow_id": workflow_id, "key": action_key(action)}
        if isinstance(action, RunTool | RunSubAgent):
            jobs.append({**base, "kind": "run", "attempt": action.attempt})
        elif isinstance(action, StartTimer):
            jobs.append({**base, "kind": "timer", "due": action.due.isoformat()})
    return jobs


def action_key(action: Action) -> str:
    return "" if isinstance(action, Finish) else action.task_key


def _finish_changes(body: dict[str, Any], finish: Finish, workflow_id: str) -> None:
    body["ended_at"] = time.time()
    body["runtime_status"] = finish.status
    body["notification"] = notification_text(workflow_id, finish.status)


def new_body(
    state: PlanState, actions: list[Action], *, agent: str, session_id: str, owner: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The first body of a run ``start`` produced, and the jobs in its outbox."""
    jobs = jobs_for(state.workflow_id, actions)
    body: dict[str, Any] = {
        "workflow_id": state.workflow_id,
        "agent": agent,
        "session_id": session_id,
        "owner": owner,
        "created_at": time.time(),
        "runtime_status": state.runtime_status,
        "ended_at": None,
        "notification": None,
        "runs": {},
        "outbox": jobs,
        "state": state.model_dump(mode="json"),
    }
    for action in actions:
        if isinstance(action, Finish):
            _finish_changes(body, action, state.workflow_id)
    return body, jobs


async def apply_step(
    store: AgentsStore,
    workflow_id: str,
    step: Step,
    *,
    attempts: int = 50,
) -> StepOutcome:
    """Apply ``step`` to the stored state at its ETag, retrying on conflicts; the record and new jobs.

    The step runs again on each retry against the fresh state (it is pure), so the jobs
    returned are those of the write that won.
    """
    for attempt in range(attempts):
        record = await store.get(KIND, "", workflow_id)
        if record is None:
            return StepOutcome(None)
        body = json.loads(json.dumps(record.body))  # a private copy the step may change
        state = PlanState.model_validate(body["state"])
        before = json.dumps(body, sort_keys=True)
        changed = step(state, body)
        if changed is not None and changed[0] is state and not changed[1]:
            changed = None  # the scheduler ignored the event (a replay, a stale timer)
        if changed is None and json.dumps(body, sort_keys=True) == before:
            return StepOutcome(record)
        finished: Finish | None = None
        jobs: list[dict[str, Any]] = []
        if changed is not None:
            new_state, actions = changed
            body["state"] = new_state.model_dump(mode="json")
            body["runtime_status"] = new_state.runtime_status
            jobs = jobs_for(workflow_id, actions)
            body["outbox"] = [*body.get("outbox", []), *jobs]
            for action in actions:
                if isinstance(action, Finish):
                    finished = action
                    _finish_changes(body, action, workflow_id)
        try:
            written = await store.replace(record, body)
        except ETagMismatchError:
            await asyncio.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.1)))
            continue
        return StepOutcome(written, jobs, finished)
    raise ETagMismatchError(f"workflow {workflow_id}: too many concurrent writers ({attempts} attempts)")


async def remove_from_outbox(store: AgentsStore, workflow_id: str, job_ids: set[str]) -> None:
    """Drop sent jobs from the outbox (another writer's new jobs stay)."""

    def change(state: PlanState, body: dict[str, Any]) -> None:
        body["outbox"] = [j for j in body.get("outbox", []) if j.get("job_id") not in job_ids]
        return None

    if job_ids:
        await apply_step(store, workflow_id, change)

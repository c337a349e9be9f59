"""The durable runner of planned workflows: records in the store, steps as jobs on a queue.

Every scheduler action becomes a job on ``agentdown-workflows`` (:mod:`.records` keeps
them in the record's outbox until sent): ``run`` jobs execute one attempt of a tool or
sub-agent task, ``timer`` jobs are messages sent with a visibility delay (a ``wait``
never holds a worker; a delay beyond the queue's limit re-arms when it fires). Any
number of processes (``serve``, ``agentdown worker``) consume the queue.

Delivery is at least once; effects are guarded so a finished step is never redone:

* a new workflow's first jobs are backed by a delayed *kick* job sent before the record
  is created, so a process that dies right after ``start_workflow`` loses nothing;
* a job for an execution that is no longer running (finished, cancelled, an older
  attempt) or of an ended workflow is dropped;
* before a tool or sub-agent runs, a ``started`` marker is written (compare-and-set)
  with a lease the running worker renews; a second delivery while the lease is live
  is put back; the result and the scheduler's next step are one write;
* a job that comes back with the marker ``started`` and its lease run out means the
  worker died mid-call: the call is *not* run again blindly; that attempt fails with
  "interrupted", and the task's ``retry`` policy decides (a task with retries runs
  again, so a tool may then have run twice: give such tools idempotent effects).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from datetime import datetime, timedelta
from typing import Any

from agentdown import telemetry
from agentdown.app.catalog import AgentCatalog
from agentdown.runtime.agents_api.store import AgentsStore, ETagMismatchError, Record
from agentdown.runtime.queues.base import (
    MessageQueue,
    QueueMessage,
    QueueMessageLostError,
    move_to_poison,
)
from agentdown.runtime.workflows import records as r
from agentdown.runtime.workflows.execute import run_subagent, run_tool
from agentdown.runtime.workflows.settings import MAX_DELAY_SECONDS, WorkflowSettings
from agentdown.workflows.planned import (
    Plan,
    PlanState,
    TaskFailure,
    cancel,
    on_result,
    on_timer,
    start,
    terminate,
)
from agentdown.workflows.planned.durations import parse_datetime
from agentdown.workflows.planned.ownership import new_workflow_id
from agentdown.workflows.planned.plan import MAX_ACTIVE_WORKFLOWS_PER_SESSION
from agentdown.workflows.planned.state import Action

__all__ = ["INTERRUPTED", "MAX_DELIVERIES", "ActiveLimitError", "WorkflowService"]

logger = logging.getLogger("agentdown.workflows")

MAX_DELIVERIES = 20
"""Deliveries of one job before it goes to ``<queue>-poison`` (a run job ends long before: see the marker)."""
INTERRUPTED = "interrupted: the worker running this attempt stopped before it finished"


class ActiveLimitError(Exception):
    """The session already has the most running workflows it may have."""

    def __init__(self, active: int) -> None:
        super().__init__("too many active workflows for this session")
        self.active = active


class WorkflowService:
    """Starts, steps and stops the workflows of one app's catalog; shares the queue with every worker."""

    def __init__(
        self,
        catalog: AgentCatalog,
        store: AgentsStore,
        queue: MessageQueue,
        settings: WorkflowSettings | None = None,
        poison_queue: MessageQueue | None = None,
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.queue = queue
        self.settings = settings or WorkflowSettings()
        self.poison = poison_queue
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._consumer: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, *, consume: bool = True) -> None:
        await self.queue.create()
        if self.poison is not None:
            await self.poison.create()
        if consume and self._consumer is None:
            self._consumer = asyncio.create_task(self._consume(), name="agentdown-workflows-consumer")

    @property
    def consuming(self) -> bool:
        return self._consumer is not None

    async def aclose(self, *, drain: float = 0.0) -> None:
        """Stop taking jobs; give those in progress ``drain`` seconds, then cancel them.

        A cancelled call's job comes back to another worker, which reports that attempt
        interrupted (the retry policy decides), so a graceful stop should drain.
        """
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(BaseException):
                await self._consumer
            self._consumer = None
        if self._tasks and drain > 0:
            await asyncio.wait(list(self._tasks), timeout=drain)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    # --- what the tools and routes call -------------------------------------------------------

    async def start_workflow(self, agent: str, session_id: str, owner: str | None, plan: Plan) -> str:
        """Store a new run of ``plan`` for the session and queue its first jobs; its workflow id."""
        active = await self.count_active(agent, session_id)
        if active >= MAX_ACTIVE_WORKFLOWS_PER_SESSION:
            raise ActiveLimitError(active)
        workflow_id = new_workflow_id(session_id)
        state, actions = start(plan, r.utcnow(), workflow_id)
        body, jobs = r.new_body(state, actions, agent=agent, session_id=session_id, owner=owner)
        if trace := telemetry.inject():
            body["_trace"] = trace  # every step's span joins the starting turn's trace
        # Sent before the record exists: if this process dies before the first jobs are sent,
        # the kick comes back after a lease and sends the outbox (with no record, it is dropped).
        kick = {"job_id": "", "workflow_id": workflow_id, "kind": "kick", "key": ""}
        await self.queue.send(json.dumps(kick), visibility_delay=self.settings.lease_seconds, time_to_live=-1)
        await self.store.create(r.KIND, "", workflow_id, body)
        try:
            await self._flush(workflow_id, jobs)
        except Exception as exc:  # the run exists: the kick sends its jobs, so the id is still the answer
            logger.warning("workflow %s: sending its first jobs failed (%s); the kick will", workflow_id, exc)
        logger.info("workflow %s started by agent %s", workflow_id, agent)
        return workflow_id

    async def get(self, workflow_id: str) -> r.WorkflowRecord | None:
        record = await self.store.get(r.KIND, "", workflow_id)
        return r.WorkflowRecord(record) if record is not None else None

    async def session_workflows(self, agent: str, session_id: str) -> list[r.WorkflowRecord]:
        """The session's workflows with ``agent``, newest update first."""
        return await self.all_workflows(where={"agent": agent, "session_id": session_id})

    async def all_workflows(self, where: dict[str, Any] | None = None) -> list[r.WorkflowRecord]:
        found: list[r.WorkflowRecord] = []
        after: str | None = None
        while True:
            page = await self.store.list(r.KIND, "", limit=100, order="asc", after=after, where=where)
            found += [r.WorkflowRecord(rec) for rec in page.records]
            if not page.has_more or not page.records:
                break
            after = page.records[-1].id
        found.sort(key=lambda w: str(w.body["state"].get("last_updated_time", "")), reverse=True)
        return found

    async def count_active(self, agent: str, session_id: str) -> int:
        where = {"agent": agent, "session_id": session_id, "ended_at": None}
        return len(await self.all_workflows(where=where))

    async def cancel(self, workflow_id: str, reason: str, *, hard: bool = False) -> r.WorkflowRecord | None:
        """Cancel (cooperatively) or terminate the run; ``None`` when there is none."""

        def step(state: PlanState, body: dict[str, Any]) -> tuple[PlanState, list[Action]]:
            return (terminate if hard else cancel)(state, r.utcnow(), reason)

        outcome = await r.apply_step(self.store, workflow_id, step)
        return r.WorkflowRecord(outcome.record) if outcome.record is not None else None

    # --- the consumer -------------------------------------------------------------------------

    async def _consume(self) -> None:
        settings = self.settings
        while True:
            free = settings.concurrency - len(self._tasks)
            messages: list[QueueMessage] = []
            if free > 0:
                try:
                    messages = await self.queue.receive(min(free, 32), settings.lease_seconds)
                except Exception as exc:
                    logger.warning("workflows queue %s: %s", self.queue.name, exc)
            for message in messages:
                task = asyncio.create_task(self._handle(message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if not messages:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), settings.poll_seconds)

    async def _handle(self, message: QueueMessage) -> None:
        if message.dequeue_count > MAX_DELIVERIES:
            # A job that fails every time (a broken record, a store that refuses it) stops looping.
            logger.error(
                "workflows queue: job %s failed %d times; moved to the poison queue",
                message.id,
                MAX_DELIVERIES,
            )
            with contextlib.suppress(QueueMessageLostError):
                if self.poison is not None:
                    await move_to_poison(self.queue, self.poison, message)
                else:
                    await self.queue.delete(message)
            return
        try:
            await self._handle_job(message)
        except Exception as exc:
            # The job stays on the queue and comes back after its visibility timeout.
            logger.warning(
                "workflows queue: job %s failed (%s: %s); it will be retried",
                message.id,
                type(exc).__name__,
                exc,
            )

    async def handle_delivered(self, message: QueueMessage) -> None:
        """One job a host delivered (Azure Functions): :meth:`_handle_job`, raising on failure.

        The host counts the deliveries and poisons after its ``maxDequeueCount``, so the
        loop's own ``MAX_DELIVERIES`` check is not made here.
        """
        await self._handle_job(message)

    async def _handle_job(self, message: QueueMessage) -> None:
        try:
            job = json.loads(message.text or "")
            workflow_id, kind = str(job["workflow_id"]), str(job["kind"])
            key = str(job["key"])
        except (ValueError, KeyError, TypeError):
            logger.warning(
                "workflows queue: dropping a message that is not a workflow job: %.100r", message.text
            )
            await self._delete(message)
            return
        record = await self.store.get(r.KIND, "", workflow_id)
        if record is None:
            await self._delete(message)
            return
        await self._flush_outbox(record)  # a step whose worker died before sending its jobs
        if kind == "timer":
            await self._timer(message, record, key, str(job.get("due", "")))
        elif kind == "run":
            await self._run(message, workflow_id, key, int(job.get("attempt", 0)))
        else:  # a kick: the outbox is sent
            await self._delete(message)

    async def _timer(self, message: QueueMessage, record: Record, key: str, due_text: str) -> None:
        state = PlanState.model_validate(record.body["state"])
        unit = state.units.get(key)
        now = r.utcnow()
        try:
            due = parse_datetime(due_text)
        except ValueError:
            due = now
        if not state.finished and unit is not None and unit.timer_due is not None and unit.timer_due == due:
            if due > now:
                # Not due yet: a delay capped by the queue's limit, or a clock ahead of ours. Re-arm.
                await self._send_timer(record.id, key, due)
                await self._delete(message)
                return
            outcome = await r.apply_step(self.store, record.id, lambda s, body: on_timer(s, key, r.utcnow()))
            await self._after_step(outcome)
        await self._delete(message)

    async def _run(self, message: QueueMessage, workflow_id: str, key: str, attempt: int) -> None:
        claimed = await self._claim(workflow_id, key, attempt)
        if claimed == "stale":
            await self._delete(message)
            return
        if claimed == "busy":
            # Another worker runs it (a duplicate job): come back after a lease, when it has finished or died.
            with contextlib.suppress(QueueMessageLostError):
                await self.queue.update_visibility(message, self.settings.lease_seconds)
            return
        if not isinstance(claimed, Record):  # "interrupted"
            outcome = await self._report(workflow_id, key, attempt, TaskFailure(INTERRUPTED))
            await self._after_step(outcome)
            await self._delete(message)
            return
        record = claimed
        state = PlanState.model_validate(record.body["state"])
        unit = state.units[key]
        task = state.plan.task(unit.task_id)
        agent = str(record.body.get("agent", ""))
        keeper = asyncio.create_task(self._keep_alive(message, workflow_id, key, attempt))
        try:
            with telemetry.span(
                f"workflow_step {task.agent if task.type == 'sub_agent' else task.tool}",
                {
                    "agentdown.workflow.id": workflow_id,
                    "agentdown.workflow.step": key,
                    "agentdown.workflow.step.type": task.type,
                    "agentdown.workflow.attempt": attempt,
                    "gen_ai.agent.name": agent,
                },
                parent=telemetry.extract(record.body.get("_trace")),
            ):
                if task.type == "sub_agent":
                    result = await run_subagent(self.catalog, task.agent or "", str(unit.arguments))
                else:
                    result = await run_tool(self.catalog, agent, task.tool or "", dict(unit.arguments or {}))
        finally:
            keeper.cancel()
            with contextlib.suppress(BaseException):
                message = await keeper
        outcome = await self._report(workflow_id, key, attempt, result)
        await self._after_step(outcome)
        await self._delete(message)

    async def _claim(self, workflow_id: str, key: str, attempt: int) -> Record | str:
        """Mark the execution started by this worker: the record, or ``stale`` / ``busy`` / ``interrupted``."""
        for _ in range(50):
            record = await self.store.get(r.KIND, "", workflow_id)
            if record is None:
                return "stale"
            state = PlanState.model_validate(record.body["state"])
            unit = state.units.get(key)
            if state.finished or unit is None or unit.status != "running" or unit.attempts != attempt:
                return "stale"
            marker = (record.body.get("runs") or {}).get(key)
            if marker and marker.get("attempt") == attempt:
                if float(marker.get("until", 0)) > time.time():
                    return "busy"
                return "interrupted"
            body = dict(record.body)
            body["runs"] = {**(record.body.get("runs") or {}), key: self._marker(attempt)}
            try:
                return await self.store.replace(record, body)
            except ETagMismatchError:
                await asyncio.sleep(0.005)
        raise ETagMismatchError(f"workflow {workflow_id}: could not mark {key} started")

    def _marker(self, attempt: int) -> dict[str, Any]:
        return {
            "attempt": attempt,
            "status": "started",
            "by": self.owner,
            "until": time.time() + self.settings.lease_seconds,
        }

    async def _report(self, workflow_id: str, key: str, attempt: int, outcome: Any) -> r.StepOutcome:
        def step(state: PlanState, body: dict[str, Any]) -> tuple[PlanState, list[Action]]:
            marker = (body.get("runs") or {}).get(key)
            if marker and marker.get("attempt") == attempt:
                body["runs"][key] = {**marker, "status": "finished", "until": 0}
            return on_result(state, key, outcome, r.utcnow(), attempt=attempt)

        return await r.apply_step(self.store, workflow_id, step)

    async def _keep_alive(
        self, message: QueueMessage, workflow_id: str, key: str, attempt: int
    ) -> QueueMessage:
        """Keep the job hidden and the started marker's lease live while the call runs."""
        while True:
            try:
                await asyncio.sleep(self.settings.lease_seconds / 3)
                message = await self.queue.update_visibility(message, self.settings.lease_seconds)

                def renew(state: PlanState, body: dict[str, Any]) -> None:
                    marker = (body.get("runs") or {}).get(key)
                    if marker and marker.get("attempt") == attempt and marker.get("by") == self.owner:
                        body["runs"][key] = {**marker, "until": time.time() + self.settings.lease_seconds}

                await r.apply_step(self.store, workflow_id, renew)
                telemetry.count_lease_renewal("workflow_step")
            except asyncio.CancelledError:
                return message
            except Exception as exc:  # the lease runs out; a redelivery reports the attempt interrupted
                logger.warning("workflow %s: renewing %s failed: %s", workflow_id, key, exc)

    # --- sending jobs -------------------------------------------------------------------------

    async def _after_step(self, outcome: r.StepOutcome) -> None:
        if outcome.record is not None and outcome.jobs:
            await self._flush(outcome.record.id, outcome.jobs)
        if outcome.finished is not None and outcome.record is not None:
            logger.info("workflow %s ended %s", outcome.record.id, outcome.finished.status)

    async def _flush_outbox(self, record: Record) -> None:
        jobs = list(record.body.get("outbox") or [])
        if jobs:
            await self._flush(record.id, jobs)

    async def _flush(self, workflow_id: str, jobs: list[dict[str, Any]]) -> None:
        for job in jobs:
            if job["kind"] == "timer":
                await self._send_timer(workflow_id, job["key"], parse_datetime(job["due"]))
            else:
                await self.queue.send(json.dumps(job), time_to_live=-1)
        self._wake.set()
        await r.remove_from_outbox(self.store, workflow_id, {j["job_id"] for j in jobs})

    async def _send_timer(self, workflow_id: str, key: str, due: datetime) -> None:
        delay = max(0.0, (due - r.utcnow()) / timedelta(seconds=1))
        job = {"job_id": "", "workflow_id": workflow_id, "kind": "timer", "key": key, "due": due.isoformat()}
        await self.queue.send(
            json.dumps(job), visibility_delay=min(delay, MAX_DELAY_SECONDS), time_to_live=-1
        )

    async def _delete(self, message: QueueMessage) -> None:
        with contextlib.suppress(QueueMessageLostError):
            await self.queue.delete(message)

"""The durable graph engine: runs start and resume here, and every superstep's jobs are executed here.

Per superstep, one job per target. Each job runs its target on a runner restored from
the step's boundary checkpoint and writes its result once (create-if-absent: a
redelivered job whose result exists runs nothing), then sets its bit in the run
record's ``_step`` by compare-and-set. The job that sees every bit set commits the
step: results applied in delivery order, the next checkpoint saved, the next step
planned (its step record holds its jobs), the run record moved on (conditional on the
step's nonce: of two commits of one step, one wins), and only then the jobs sent. A
crash before that write leaves the run as it was and the committing job on the queue:
it comes back and commits again. A crash after it leaves the step's jobs unsent: the
committing job comes back and sends them (``resend``), as the delayed ``ensure``
message does for the first step of a start or a resume.

A next step of one target (a chain) is run at once by the committing job, under its
own message (still held and renewed), rather than through the queue.

A target invocation is at least once: a worker killed mid-target (or one whose job
outlived its visibility) leaves no result, and the job runs again elsewhere. Once a
result is written the target never runs again for that step.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, Literal

from agentdown import telemetry
from agentdown.app.workflow_graphs import WorkflowGraph
from agentdown.runtime.agents_api.ids import new_record_id
from agentdown.runtime.agents_api.store import AgentsStore, Record, RecordExistsError, mutate
from agentdown.runtime.queues.base import MessageQueue
from agentdown.runtime.workflow_graphs.boundaries import Boundaries
from agentdown.runtime.workflow_graphs.plans import (
    ENSURE_DELAY,
    classify,
    coerce,
    ensure_of,
    ensure_text,
    pending_of,
    plan_step,
)
from agentdown.runtime.workflow_graphs.records import (
    INPUT,
    RESULT,
    RUN,
    STEP,
    Job,
    bit_set,
    bits_full,
    index_id,
    jsonable,
    now,
    result_parent,
    set_bit,
)
from agentdown.workflows.checkpoint.codec import decode_value
from agentdown.workflows.checkpoint.errors import (
    CheckpointEncodingError,
    CheckpointError,
    CheckpointStorageError,
)
from agentdown.workflows.errors import WorkflowError
from agentdown.workflows.events import WorkflowErrorDetails
from agentdown.workflows.routing import QueuedMessage
from agentdown.workflows.runner import Runner
from agentdown.workflows.steps import (
    TargetResult,
    commit_superstep,
    decode_deliveries,
    run_target,
)

__all__ = ["GraphEngine", "Outcome", "RunError"]

logger = logging.getLogger("agentdown.workflow_graphs")

Outcome = Literal["done", "early"]
"""What became of a job: finished with (delete it), or arrived before its step (look again soon)."""

_CACHE = 32


class RunError(Exception):
    """A request the engine refuses: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, code: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class GraphEngine:
    """Starts, resumes and steps the durable runs of an app's graphs."""

    def __init__(
        self,
        store: AgentsStore,
        checkpoints: Any,
        queue: MessageQueue,
        graphs: Mapping[str, WorkflowGraph],
        *,
        on_sent: Callable[[], None] | None = None,
    ) -> None:
        self.store = store
        self.checkpoints = checkpoints
        self.queue = queue
        self.graphs = graphs
        self.on_sent = on_sent or (lambda: None)
        self.boundaries = Boundaries(checkpoints)

    # --- runs -------------------------------------------------------------------------------

    def graph(self, name: str) -> WorkflowGraph:
        graph = self.graphs.get(name)
        if graph is None:
            raise RunError(
                404, f"no workflow {name!r} here (known: {', '.join(self.graphs) or 'none'})", "not_found"
            )
        return graph

    async def start(self, name: str, message: Any, owner: str) -> dict[str, Any]:
        """A new run of ``name`` with ``message`` as input; its record body."""
        workflow = self.graph(name).build()
        runner = Runner(workflow)
        start = workflow.start_executor_id
        if message is None or not workflow.executors[start].can_handle(message):
            accepted = ", ".join(
                getattr(t, "__name__", str(t)) for t in workflow.executors[start].input_types
            )
            raise RunError(
                400,
                f"the start executor {start!r} takes no {type(message).__name__} input (it accepts {accepted})",
                "invalid_input",
            )
        run_id = new_record_id("wfrun")
        runner.queue.append(QueuedMessage(None, start, message))
        cp = await self.boundaries.save(workflow, runner, run_id, None)
        body: dict[str, Any] = {
            "id": run_id,
            "object": "workflow.run",
            "workflow": name,
            "status": "IN_PROGRESS",
            "created_at": now(),
            "updated_at": now(),
            "iteration": 0,
            "checkpoint_id": cp.checkpoint_id,
            "pending_requests": [],
            "outputs": [],
            "error": None,
            "_owner": owner,
            "_steps_left": workflow.max_iterations,
        }
        if trace := telemetry.inject():
            body["_trace"] = trace  # every step's span joins the starting request's trace
        step, texts = await plan_step(self.store, runner, run_id, name, None)
        body["_step"] = step
        await self.queue.send(ensure_text(run_id, name, step["nonce"]), visibility_delay=ENSURE_DELAY)
        await self.store.create(RUN, name, run_id, body)
        await self._send(texts)
        await self._sent(name, run_id, step["nonce"])
        return body

    async def get(self, name: str, run_id: str, owner: str) -> Record:
        """The run, if the caller owns it; else a 404 (as for a run that does not exist)."""
        self.graph(name)
        record = await self.store.get(RUN, name, run_id)
        if record is None or record.body.get("_owner", "") != owner:
            raise RunError(404, f"no run {run_id!r} of workflow {name!r}", "not_found")
        return record

    async def respond(self, name: str, run_id: str, owner: str, responses: dict[str, Any]) -> dict[str, Any]:
        """Answer pending requests; the run goes on. Refuses the whole set if one answer is wrong."""
        from agentdown.workflows.errors import WorkflowRequestError

        record = await self.get(name, run_id, owner)
        body = record.body
        if body["status"] != "IDLE_WITH_PENDING_REQUESTS":
            raise RunError(409, f"run {run_id!r} is {body['status']}, not waiting for answers", "conflict")
        workflow = self.graph(name).build()
        runner = await self.boundaries.runner(workflow, str(body["checkpoint_id"]))
        try:
            answers = {rid: coerce(value, runner, rid) for rid, value in responses.items()}
            runner.accept_responses(answers)
        except (WorkflowRequestError, ValueError) as exc:
            raise RunError(400, str(exc), "invalid_response") from None
        cp = await self.boundaries.save(workflow, runner, run_id, str(body["checkpoint_id"]))
        step, texts = await plan_step(self.store, runner, run_id, name, None)
        expected = body["checkpoint_id"]
        await self.queue.send(ensure_text(run_id, name, step["nonce"]), visibility_delay=ENSURE_DELAY)

        def change(current: dict[str, Any]) -> dict[str, Any] | None:
            if current["checkpoint_id"] != expected or current["status"] != "IDLE_WITH_PENDING_REQUESTS":
                return None
            return {
                **current,
                "status": "IN_PROGRESS",
                "checkpoint_id": cp.checkpoint_id,
                "pending_requests": pending_of(runner),
                "updated_at": now(),
                "_steps_left": workflow.max_iterations,
                "_step": step,
            }

        written = await mutate(self.store, RUN, name, run_id, change)
        if written is None or written.body.get("_step", {}) != step:
            raise RunError(
                409, f"run {run_id!r} was answered or changed meanwhile; read it again", "conflict"
            )
        await self._send(texts)
        await self._sent(name, run_id, step["nonce"])
        return written.body

    async def _send(self, texts: list[str]) -> None:
        for text in texts:
            await self.queue.send(text)
        self.on_sent()

    async def _sent(self, name: str, run_id: str, nonce: str) -> None:
        """Record that a step's jobs are all sent (its ensure message then has nothing to do)."""

        def change(body: dict[str, Any]) -> dict[str, Any] | None:
            step = body.get("_step")
            if not step or step["nonce"] != nonce or step.get("sent"):
                return None
            return {**body, "_step": {**step, "sent": True}}

        await mutate(self.store, RUN, name, run_id, change)

    async def _ensure(self, doc: dict[str, Any]) -> None:
        """A step's safety net: send its jobs when whoever planned it died before sending them all."""
        record = await self.store.get(RUN, str(doc["workflow"]), str(doc["run"]))
        step = None if record is None else record.body.get("_step")
        if not step or step["nonce"] != doc["nonce"] or step.get("sent"):
            return
        plan = await self.store.get(STEP, str(doc["run"]), str(doc["nonce"]))
        if plan is not None:
            await self._send(list(plan.body["jobs"]))
            await self._sent(str(doc["workflow"]), str(doc["run"]), str(doc["nonce"]))

    # --- jobs -------------------------------------------------------------------------------

    async def handle(self, text: str | None) -> Outcome:
        """Execute one step job (see the module docstring); ``ValueError`` for a message that is no job."""
        ensure = ensure_of(text)
        if ensure is not None:
            await self._ensure(ensure)
            return "done"
        job = Job.parse(text)
        record = await self.store.get(RUN, job.workflow, job.run)
        verdict = classify(record, job)
        if verdict == "resend":
            # This job committed its step and died before it had sent all of the next one's jobs.
            assert record is not None
            await self._ensure(
                {"workflow": job.workflow, "run": job.run, "nonce": record.body["_step"]["nonce"]}
            )
            return "done"
        if verdict != "go":
            return "early" if verdict == "early" else "done"
        assert record is not None
        anchor = [job.nonce, job.index]
        following = await self._step(job, record, anchor)
        # A next step of one target runs here at once, under this job's message (still held and
        # renewed): if this worker dies, the message comes back and sends that step's job (resend).
        while following is not None:
            job = Job.parse(following)
            record = await self.store.get(RUN, job.workflow, job.run)
            if classify(record, job) != "go":
                break
            assert record is not None
            following = await self._step(job, record, anchor)
        return "done"

    async def _step(self, job: Job, record: Record, anchor: list[Any]) -> str | None:
        """Run the job's target (unless its result exists), mark it done, commit the step if it was the last.

        Returns the job of a next step of one target, left for the caller to run inline.
        """
        parent = result_parent(job.run, job.nonce)
        if await self.store.get(RESULT, parent, index_id(job.index)) is None:
            with telemetry.span(
                f"workflow_step {job.workflow}.{job.target}",
                {
                    "agentdown.workflow.name": job.workflow,
                    "agentdown.workflow.run.id": job.run,
                    "agentdown.workflow.step": job.target,
                    "agentdown.workflow.iteration": job.iteration,
                },
                parent=telemetry.extract(record.body.get("_trace")),
            ) as span:
                doc = await self._execute(job, record)
                if span is not None and doc.get("error"):
                    span.set_attribute("error.type", str(doc["error"].get("type") or "WorkflowError"))
            with contextlib.suppress(RecordExistsError):  # a duplicate finished first: its result stands
                await self.store.create(RESULT, parent, index_id(job.index), doc)
        marked = await self._mark(job)
        if marked is not None and bits_full(marked.body["_step"]["done"], marked.body["_step"]["count"]):
            return await self._commit(marked, anchor)
        return None

    async def _execute(self, job: Job, record: Record) -> dict[str, Any]:
        workflow = self.graph(job.workflow).build()
        try:
            runner = await self.boundaries.runner(workflow, str(record.body["checkpoint_id"]))
            if job.items is not None:
                items = decode_deliveries(job.items)
            else:
                stored = await self.store.get(INPUT, result_parent(job.run, job.nonce), index_id(job.index))
                if stored is None:
                    raise CheckpointError(f"run {job.run}: the input of target {job.target!r} is missing")
                items = decode_deliveries(stored.body["items"])
        except CheckpointStorageError:
            raise
        except WorkflowError as exc:  # a forged or foreign checkpoint or input: the run fails, saying why
            result = TargetResult(job.target, error=WorkflowErrorDetails.from_exception(exc, job.target))
        else:
            if job.target not in workflow.executors:
                error = WorkflowErrorDetails("KeyError", f"no executor {job.target!r}", job.target)
                result = TargetResult(job.target, error=error)
            else:
                result = await run_target(runner, job.target, items)
        try:
            doc = result.to_json()
        except CheckpointEncodingError as exc:
            doc = TargetResult(
                job.target, error=WorkflowErrorDetails.from_exception(exc, job.target)
            ).to_json()
        doc["iteration"] = job.iteration
        return doc

    async def _mark(self, job: Job) -> Record | None:
        def change(body: dict[str, Any]) -> dict[str, Any] | None:
            step = body.get("_step")
            if not step or step["nonce"] != job.nonce or bit_set(step["done"], job.index):
                return None
            return {**body, "_step": {**step, "done": set_bit(step["done"], [job.index])}}

        record = await mutate(self.store, RUN, job.workflow, job.run, change)
        if record is None or (record.body.get("_step") or {}).get("nonce") != job.nonce:
            return None
        return record

    async def _commit(self, record: Record, anchor: list[Any]) -> str | None:
        body = record.body
        name, run_id, step = body["workflow"], body["id"], body["_step"]
        nonce = step["nonce"]
        try:
            workflow = self.graph(name).build()
            plan = await self.store.get(STEP, run_id, nonce)
            if plan is None:
                raise CheckpointError(f"run {run_id}: the plan of superstep {step['iteration']} is missing")
            runner = await self.boundaries.runner(workflow, str(body["checkpoint_id"]))
            runner.queue = []
            runner.fan_in = decode_value(plan.body["fan_in"])
            runner.iteration = int(step["iteration"])
            results = [TargetResult.from_json(r.body) for r in await self._results(run_id, nonce)]
            if [r.target_id for r in results] != plan.body["targets"]:
                raise CheckpointError(
                    f"run {run_id}: the results of superstep {step['iteration']} do not match its plan"
                )
            outputs = await commit_superstep(runner, results)
            cp = await self.boundaries.save(workflow, runner, run_id, str(body["checkpoint_id"]))
            left = int(body["_steps_left"]) - 1
            update: dict[str, Any] = {
                "iteration": runner.iteration,
                "checkpoint_id": cp.checkpoint_id,
                "outputs": [*body["outputs"], *(jsonable(d) for kind, _, d in outputs if kind == "output")],
                "pending_requests": pending_of(runner),
                "_steps_left": left,
            }
            texts: list[str] = []
            if runner.queue and left <= 0:
                # As in-process: the step is committed, then the run fails for want of iterations.
                message = (
                    f"the workflow did not finish within max_iterations={workflow.max_iterations} supersteps "
                    f"({len(runner.queue)} message(s) still queued)"
                )
                logger.warning("workflow run %s of %s failed: %s", run_id, name, message)
                update["_step"] = None
                update["status"] = "FAILED"
                update["error"] = {
                    "type": "WorkflowConvergenceError",
                    "message": message,
                    "executor_id": None,
                }
            elif runner.queue:
                update["_step"], texts = await plan_step(self.store, runner, run_id, name, anchor)
            else:
                update["_step"] = None
                update["status"] = "IDLE_WITH_PENDING_REQUESTS" if runner.pending else "IDLE"
        except CheckpointStorageError:
            raise  # the storage is down: the job comes back and commits then
        except WorkflowError as exc:  # checkpoint errors included: a forged or foreign document
            await self._fail(name, run_id, nonce, exc)
            return None
        if await self._advance(name, run_id, nonce, update) and texts:
            if len(texts) == 1:
                return texts[0]
            await self._send(texts)
            await self._sent(name, run_id, update["_step"]["nonce"])
        return None

    async def _advance(self, name: str, run_id: str, nonce: str, update: dict[str, Any]) -> bool:
        """Move the run on from the step ``nonce``; whether this write did (another commit may have)."""

        def change(current: dict[str, Any]) -> dict[str, Any] | None:
            if (current.get("_step") or {}).get("nonce") != nonce:
                return None  # another commit of this step won
            return {**current, **update, "updated_at": now()}

        written = await mutate(self.store, RUN, name, run_id, change)
        return written is not None and all(written.body.get(k) == v for k, v in update.items())

    async def _fail(self, name: str, run_id: str, nonce: str, exc: BaseException) -> None:
        logger.warning("workflow run %s of %s failed: %s: %s", run_id, name, type(exc).__name__, exc)
        details = getattr(exc, "details", None)
        error = {
            "type": details.error_type if details else type(exc).__name__,
            "message": details.message if details else str(exc),
            "executor_id": details.executor_id if details else None,
        }
        await self._advance(name, run_id, nonce, {"status": "FAILED", "error": error, "_step": None})

    # --- helpers ----------------------------------------------------------------------------

    async def _results(self, run_id: str, nonce: str) -> list[Record]:
        out: list[Record] = []
        after: str | None = None
        while True:
            page = await self.store.list(
                RESULT, result_parent(run_id, nonce), limit=100, order="asc", after=after
            )
            out.extend(page.records)
            if not page.has_more or not page.records:
                return sorted(out, key=lambda r: r.id)
            after = page.records[-1].id

"""Runs as durable jobs: create, stream, submit tool outputs, cancel, expire; execute from a queue.

A run is a record plus a job on the ``agentdown-runs`` queue (the embedded SQLite
queue, or Azure Storage queues when ``AzureWebJobsStorage`` names an account), so
``agentdown serve`` and any number of ``agentdown worker`` processes share them.
The consumer receives a job, takes the run's lease (:mod:`.lease`), executes it and
deletes the job only when the run is paused or ended; a worker that dies leaves the
job, which reappears after its visibility timeout for the next worker.

A streamed run is executed by the process that streams it (the client reads the
model's tokens as they come), with a delayed job as its safety net: if that process
dies, the job reappears and another worker finishes the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from agentdown import telemetry
from agentdown.models.env import positive_int, positive_seconds
from agentdown.runtime.agents_api.assistants import check_tool_resources
from agentdown.runtime.agents_api.attachments import check_message_files, index_attachments
from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.errors import ApiProblem, bad_request, conflict, not_found
from agentdown.runtime.agents_api.ids import PREFIXES, new_record_id
from agentdown.runtime.agents_api.messages import new_message
from agentdown.runtime.agents_api.objects import now, thread_object
from agentdown.runtime.agents_api.runs.executor import execute_run
from agentdown.runtime.agents_api.runs.lease import Lease, LeaseLost, acquire
from agentdown.runtime.agents_api.runs.plan import RunPlan, plan_run, resolve_assistant
from agentdown.runtime.agents_api.runs.records import close_step, new_run
from agentdown.runtime.agents_api.runs.schemas import (
    TERMINAL,
    RunCreate,
    SubmitToolOutputs,
    ThreadAndRunCreate,
)
from agentdown.runtime.agents_api.schemas import ThreadCreate
from agentdown.runtime.agents_api.store import (
    AgentsStore,
    Create,
    ETagMismatchError,
    Record,
    Replace,
    StoreUnavailableError,
    Write,
    mutate,
    public,
)
from agentdown.runtime.queues.base import MessageQueue, QueueMessage, QueueMessageLostError
from agentdown.runtime.queues.consumer import JobLoop

__all__ = ["RUNS_QUEUE", "Frames", "RunService", "RunSettings", "busy_run"]

logger = logging.getLogger("agentdown.agents_api")

RUNS_QUEUE = "agentdown-runs"
_ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
_DONE = object()

Frames = AsyncIterator[list[tuple[str, dict[str, Any]]]]
"""A run's stream: batches of ``(event, body)`` frames, each batch what was ready at once."""


@dataclass(frozen=True, slots=True)
class RunSettings:
    lease_seconds: float = 30.0
    """How long a worker holds a run without renewing (``AGENTDOWN_RUN_LEASE_SECONDS``)."""
    expires_seconds: float = 600.0
    """A run not ended by then, waiting for tool outputs, expires (``AGENTDOWN_RUN_EXPIRES_SECONDS``)."""
    concurrency: int = 16
    """Runs one process executes at once (``AGENTDOWN_RUN_CONCURRENCY``)."""
    poll_seconds: float = 1.0
    """How often an idle consumer asks the queue (``AGENTDOWN_RUN_POLL_SECONDS``)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RunSettings:
        env = os.environ if environ is None else environ
        defaults = cls()

        return cls(
            lease_seconds=positive_seconds(env, "AGENTDOWN_RUN_LEASE_SECONDS", defaults.lease_seconds),
            expires_seconds=positive_seconds(env, "AGENTDOWN_RUN_EXPIRES_SECONDS", defaults.expires_seconds),
            concurrency=positive_int(env, "AGENTDOWN_RUN_CONCURRENCY") or defaults.concurrency,
            poll_seconds=positive_seconds(env, "AGENTDOWN_RUN_POLL_SECONDS", defaults.poll_seconds),
        )


async def busy_run(store: AgentsStore, thread: Record) -> str | None:
    """The id of the thread's active run (one not ended, and not past ``expires_at`` while waiting)."""
    active = thread.body.get("_active_run")
    if not active:
        return None
    run = await store.get("run", thread.id, str(active))
    if run is None or run.body.get("status") not in _ACTIVE or _expire_due(run.body):
        return None
    return str(active)


def _orphaned(body: Mapping[str, Any], lease_seconds: float) -> bool:
    """An unfinished run nobody executes: its lease ran out (or, queued, it never had one for long)."""
    if body.get("status") not in ("queued", "in_progress", "cancelling"):
        return False
    lease = body.get("_lease")
    if lease:
        return float(lease.get("until", 0)) < time.time()
    return float(body.get("created_at") or 0) + lease_seconds < time.time()


def _expire_due(body: Mapping[str, Any]) -> bool:
    if body.get("status") not in ("requires_action", "queued"):
        return False
    return float(body.get("expires_at") or 0) <= time.time()


class RunService:
    """Creates and executes the runs of one process; shares the queue with every other worker."""

    def __init__(self, api: AgentsApi, queue: MessageQueue, settings: RunSettings | None = None) -> None:
        self.api = api
        self.queue = queue
        self.settings = settings or RunSettings.from_env()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._jobs = JobLoop(
            queue,
            self._handle_job,
            label="runs",
            concurrency=self.settings.concurrency,
            visibility_seconds=self.settings.lease_seconds,
            poll_seconds=self.settings.poll_seconds,
        )
        self._cancels: dict[str, asyncio.Event] = {}
        self._requeued: dict[str, float] = {}
        self._plans: dict[str, RunPlan] = {}
        api.runs = self

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, *, consume: bool = True) -> None:
        await self.queue.create()
        if consume:
            self._jobs.start("agentdown-runs-consumer")

    async def aclose(self) -> None:
        await self._jobs.aclose()

    async def handle_delivered(self, message: QueueMessage) -> None:
        """Execute the run job a host delivered (Azure Functions); see :meth:`JobLoop.handle_delivered`."""
        await self._jobs.handle_delivered(message)

    # --- creating runs ------------------------------------------------------------------------

    async def create(
        self, thread_id: str, request: RunCreate, *, thread: Record | None = None
    ) -> dict[str, Any]:
        """A queued run of ``thread_id``: executed here when this process has room, else by a worker."""
        lease = self._local_owner()
        record = await self._new_run(thread_id, request, thread=thread, lease_owner=lease)
        self._dispatch(record)
        return public(record.body)

    async def create_thread_and_run(self, request: ThreadAndRunCreate, owner: str | None) -> dict[str, Any]:
        record, _ = await self._new_thread_and_run(request, owner, self._local_owner())
        self._dispatch(record)
        return public(record.body)

    async def stream(self, thread_id: str, request: RunCreate, *, thread: Record | None = None) -> Frames:
        """Create the run and execute it here, yielding its stream frames."""
        record = await self._new_run(thread_id, request, thread=thread, lease_owner=self.owner)
        return self._stream(
            Lease(self.api.store, record, self.owner, self.settings.lease_seconds), created=True
        )

    async def stream_thread_and_run(self, request: ThreadAndRunCreate, owner: str | None) -> Frames:
        record, thread = await self._new_thread_and_run(request, owner, self.owner)
        lease = Lease(self.api.store, record, self.owner, self.settings.lease_seconds)
        return self._stream(lease, created=True, thread=public(thread))

    def _local_owner(self) -> str | None:
        """This process's lease owner when it executes new runs itself (it consumes, and has room)."""
        if not self._jobs.running or self._jobs.free <= 0:
            return None
        return self.owner

    def _dispatch(self, record: Record) -> None:
        """Start a run created with this process's lease, or put it on the queue."""
        if (record.body.get("_lease") or {}).get("owner") == self.owner:
            lease = Lease(self.api.store, record, self.owner, self.settings.lease_seconds)
            self._spawn(self._execute_started(lease, None))
        else:
            self._spawn(self._enqueue(record.body))

    def _spawn(self, work: Any) -> None:
        self._jobs.spawn(work)

    async def _new_thread_and_run(
        self, request: ThreadAndRunCreate, owner: str | None, lease_owner: str | None
    ) -> tuple[Record, dict[str, Any]]:
        spec = request.thread or ThreadCreate()
        check_tool_resources(spec.tool_resources, "thread.tool_resources")
        thread = thread_object(spec.metadata, spec.tool_resources)
        thread["_owner"] = owner or ""
        messages = [
            new_message(thread["id"], m, f"thread.messages[{i}]") for i, m in enumerate(spec.messages or [])
        ]
        await check_message_files(
            self.api, [(f"thread.messages[{i}]", m) for i, m in enumerate(messages)], thread["_owner"]
        )
        run_request = RunCreate.model_validate(request.model_dump(exclude={"thread"}))
        body = await self._run_body(thread["id"], run_request, lease_owner, thread)
        thread["_active_run"] = body["id"]  # a new thread: nothing else can be running on it
        body["_owner"] = thread["_owner"]  # whose it is, read with the run: no thread read per runs.get
        ops: list[Write] = [Create("thread", "", thread["id"], thread)]
        ops += [Create("message", thread["id"], m["id"], m) for m in messages]
        written = await self.api.store.write([*ops, Create("run", thread["id"], body["id"], body)])
        if await index_attachments(self.api, thread["id"], thread["_owner"], messages) is not None:
            refreshed = await self.api.store.get("thread", "", thread["id"])
            thread = dict(refreshed.body) if refreshed is not None else thread
        plan = self._plans.get(body["id"])
        if plan is not None:
            plan.thread_messages = messages
        return written[-1], thread

    async def _run_body(
        self, thread_id: str, request: RunCreate, lease_owner: str | None, thread: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The new run's body; refuses unknown agents and tools that do not run here, before any write."""
        assistant = await resolve_assistant(self.api, request.assistant_id)
        fields = request.model_dump(exclude={"assistant_id", "additional_messages"}, exclude_none=True)
        check_tool_resources(fields.get("tool_resources"))
        run_id = new_record_id(PREFIXES["run"])
        expires_at = int(time.time() + self.settings.expires_seconds)
        plan = await plan_run(
            self.api,
            assistant,
            fields,
            run_id=run_id,
            deadline=expires_at,
            owner=str(thread.get("_owner", "")),
            thread=thread,
        )
        body = new_run(
            thread_id,
            assistant.id,
            model=plan.model,
            instructions=plan.instructions,
            tools=plan.tools,
            truncation=plan.truncation,
            fields=fields,
            expires_at=expires_at,
            run_id=run_id,
        )
        if lease_owner is not None:
            # Executed here next: leased and in progress from the start (one write fewer), planned once.
            body["_lease"] = {"owner": lease_owner, "until": time.time() + self.settings.lease_seconds}
            body.update(status="in_progress", started_at=body["created_at"])
            self._plans[body["id"]] = plan
        return body

    async def _new_run(
        self, thread_id: str, request: RunCreate, *, thread: Record | None, lease_owner: str | None
    ) -> Record:
        store = self.api.store
        thread = thread or await store.get("thread", "", thread_id)
        if thread is None:
            raise not_found("thread", thread_id)
        body = await self._run_body(thread_id, request, lease_owner, thread.body)
        body["_owner"] = thread.body.get("_owner", "")
        messages = [
            new_message(thread_id, m, f"additional_messages[{i}]")
            for i, m in enumerate(request.additional_messages or [])
        ]
        owner = str(thread.body.get("_owner", ""))
        await check_message_files(
            self.api, [(f"additional_messages[{i}]", m) for i, m in enumerate(messages)], owner
        )
        record = await self._claim_and_create(thread, body, messages)
        await index_attachments(self.api, thread_id, owner, messages)
        return record

    async def _claim_and_create(
        self, thread: Record, body: dict[str, Any], messages: list[dict[str, Any]]
    ) -> Record:
        """Make the new run the thread's one active run and write it with its messages; 409 while another is active.

        The thread names its last run; whether that one is still active is read from the
        run itself, so a run that ended (or a creation that failed half-way) frees the
        thread without another write. The thread is written first, at its ETag: of two
        runs created at once, one wins and the other reads the winner as active.
        """
        store = self.api.store
        for attempt in range(20):
            active = await busy_run(store, thread)
            if active is not None:
                raise conflict(
                    f"thread {thread.id!r} already has an active run {active!r}; wait for it to end or cancel it",
                    "thread_busy",
                )
            ops: list[Write] = [Replace(thread, {**thread.body, "_active_run": body["id"]})]
            ops += [Create("message", thread.id, m["id"], m) for m in messages]
            try:
                written = await store.write([*ops, Create("run", thread.id, body["id"], body)])
                return written[-1]
            except ETagMismatchError:
                fresh = await store.get("thread", "", thread.id)
                if fresh is None:
                    raise not_found("thread", thread.id) from None
                thread = fresh
                await asyncio.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.1)))
        raise conflict(f"thread {thread.id!r} is being changed by many writers at once; retry", "thread_busy")

    # --- reading ------------------------------------------------------------------------------

    async def get(self, thread_id: str, run_id: str) -> dict[str, Any]:
        return await self.view(await self._record(thread_id, run_id))

    async def view(self, record: Record) -> dict[str, Any]:
        """What ``runs.get`` answers for a run already read (expired or requeued first if due)."""
        return public(await self._refresh(record))

    async def _record(self, thread_id: str, run_id: str) -> Record:
        record = await self.api.store.get("run", thread_id, run_id)
        if record is None:
            raise not_found("run", run_id)
        return record

    async def _refresh(self, record: Record) -> dict[str, Any]:
        """The run's body, expired first if it waited for tool outputs past ``expires_at``.

        A run whose executor stopped renewing its lease (its process died) is put back on
        the queue here, so a client polling it brings it to a worker even when nothing else
        would: a run executed where it was created has no job on the queue until it has
        taken a while (see :meth:`_execute_started`).
        """
        if _orphaned(record.body, self.settings.lease_seconds) and self._may_requeue(record.id):
            await self._enqueue(record.body)
        if not _expire_due(record.body):
            return record.body

        def change(body: dict[str, Any]) -> dict[str, Any] | None:
            if not _expire_due(body):
                return None
            body.update(status="expired", required_action=None, expired_at=now())
            body.pop("_state", None)
            return body

        updated = await mutate(self.api.store, "run", record.parent, record.id, change)
        body = updated.body if updated is not None else record.body
        if body.get("status") == "expired":
            await self._close_steps(record.id, "expired")
        return body

    async def _close_steps(self, run_id: str, status: str) -> None:
        page = await self.api.store.list("step", run_id, limit=100, where={"status": "in_progress"})
        for step in page.records:
            body = close_step(step.body, status, f"Not run: the run {status}.", now())
            with contextlib.suppress(Exception):
                await self.api.store.replace(step, body)

    # --- tool outputs, cancel -----------------------------------------------------------------

    async def submit_tool_outputs(
        self, thread_id: str, run_id: str, request: SubmitToolOutputs
    ) -> dict[str, Any] | Frames:
        record = await self._record(thread_id, run_id)
        body = await self._refresh(record)
        if body.get("status") != "requires_action":
            raise bad_request(
                f"run {run_id!r} is {body.get('status')}, not requires_action: it takes no tool outputs now",
                code="run_not_waiting",
            )
        pending = [c["id"] for c in body["required_action"]["submit_tool_outputs"]["tool_calls"]]
        given = {o.tool_call_id: o.output or "" for o in request.tool_outputs}
        unknown = sorted(set(given) - set(pending))
        missing = [c for c in pending if c not in given]
        if unknown or missing:
            raise bad_request(
                f"tool_outputs must answer exactly the pending calls {pending}"
                + (f"; unknown: {unknown}" if unknown else "")
                + (f"; missing: {missing}" if missing else ""),
                "tool_outputs",
            )
        await self._record_outputs(run_id, given)
        owner = self.owner if request.stream else self._local_owner()

        def change(run: dict[str, Any]) -> dict[str, Any] | None:
            if run.get("status") != "requires_action" or run.get("_tool_outputs") is not None:
                raise conflict(f"run {run_id!r} already got its tool outputs", "run_not_waiting")
            run.update(status="queued", required_action=None, _tool_outputs=given)
            if owner is not None:
                run["_lease"] = {"owner": owner, "until": time.time() + self.settings.lease_seconds}
            return run

        updated = await mutate(self.api.store, "run", thread_id, run_id, change)
        assert updated is not None
        if request.stream:
            return self._stream(
                Lease(self.api.store, updated, self.owner, self.settings.lease_seconds), created=False
            )
        self._dispatch(updated)
        return public(updated.body)

    async def _record_outputs(self, run_id: str, outputs: Mapping[str, str]) -> None:
        """Write the submitted outputs into the waiting step, so a takeover finds them there."""
        page = await self.api.store.list("step", run_id, limit=5, where={"status": "in_progress"})
        for step in page.records:
            if step.body["type"] != "tool_calls":
                continue
            body = dict(step.body)
            for call in body["step_details"]["tool_calls"]:
                if call["id"] in outputs:
                    call["function"]["output"] = outputs[call["id"]]
            await self.api.store.replace(step, body)

    async def cancel(self, thread_id: str, run_id: str) -> dict[str, Any]:
        record = await self._record(thread_id, run_id)
        body = await self._refresh(record)
        if body.get("status") in TERMINAL:
            raise bad_request(f"run {run_id!r} already ended ({body['status']})", code="run_ended")
        local = self._cancels.get(run_id)
        if local is not None:
            local.set()

        def change(run: dict[str, Any]) -> dict[str, Any] | None:
            if run.get("status") in TERMINAL:
                return None
            if run.get("_lease") and float(run["_lease"].get("until", 0)) > time.time():
                run.update(status="cancelling", _cancel=True)  # the executor stops at its next safe point
            else:
                run.update(status="cancelled", cancelled_at=now(), required_action=None, _cancel=True)
                run.pop("_state", None)
            return run

        updated = await mutate(self.api.store, "run", thread_id, run_id, change)
        assert updated is not None
        if updated.body.get("status") == "cancelled":
            await self._close_steps(run_id, "cancelled")
        return public(updated.body)

    # --- execution ----------------------------------------------------------------------------

    async def _enqueue(self, body: Mapping[str, Any], delay: float = 0.0) -> None:
        job = json.dumps({"thread_id": body["thread_id"], "run_id": body["id"]})
        await self.queue.send(job, visibility_delay=delay)
        self._jobs.wake()

    def _may_requeue(self, run_id: str) -> bool:
        now_ = time.monotonic()
        if now_ - self._requeued.get(run_id, -1e9) < self.settings.lease_seconds:
            return False
        self._requeued[run_id] = now_
        return True

    def _stream(self, lease: Lease, *, created: bool, thread: dict[str, Any] | None = None) -> Frames:
        frames: asyncio.Queue[Any] = asyncio.Queue()

        async def emit(event: str, payload: dict[str, Any]) -> None:
            frames.put_nowait((event, payload))

        async def work() -> None:
            try:
                if thread is not None:
                    await emit("thread.created", thread)
                if created:
                    # Stored in progress already (leased at creation); the stream shows each status in turn.
                    queued = {**public(lease.body), "status": "queued"}
                    await emit("thread.run.created", queued)
                    await emit("thread.run.queued", queued)
                await self._execute_started(lease, emit)
            except ApiProblem as exc:
                frames.put_nowait(("error", exc.body()["error"]))
            except Exception as exc:
                logger.exception("streamed run %s failed", lease.body.get("id"))
                frames.put_nowait(("error", {"code": "server_error", "message": type(exc).__name__}))
            finally:
                frames.put_nowait(_DONE)

        self._spawn(work())

        async def reader() -> AsyncIterator[list[tuple[str, dict[str, Any]]]]:
            # Whatever is ready goes out as one batch (one socket write for a burst of events);
            # the run goes on if the client goes away: it is a persisted run, readable with runs.get.
            while True:
                batch = [await frames.get()]
                while not frames.empty():
                    batch.append(frames.get_nowait())
                done = batch[-1] is _DONE
                if done:
                    batch.pop()
                if batch:
                    yield batch
                if done:
                    return

        return reader()

    async def _execute_started(self, lease: Lease, emit: Any) -> None:
        """Execute a run this process leased when it created it (or took up for tool outputs).

        Such a run has no job on the queue, which saves the queue a write and a read for
        every short run. One that takes longer than half a lease gets its job then: if this
        process dies after that, the job brings the run to another worker; if it dies
        before, the run's lease expires and the next ``runs.get`` requeues it (:meth:`_refresh`).
        """
        loop = asyncio.get_running_loop()
        backup = loop.call_later(
            self.settings.lease_seconds / 2, lambda: self._spawn(self._enqueue(lease.body))
        )
        try:
            body = lease.body
            if body.get("status") != "in_progress":
                body = await lease.update(status="in_progress", started_at=body.get("started_at") or now())
            if emit is not None:
                await emit("thread.run.in_progress", public(body))
            await self._execute(lease, emit)
        except StoreUnavailableError:
            # Left as it was, for a worker to continue once storage is back: its job, after a lease.
            backup.cancel()
            with contextlib.suppress(Exception):
                await self._enqueue(lease.body, delay=self.settings.lease_seconds)
            raise
        finally:
            backup.cancel()

    async def _execute(self, lease: Lease, emit: Any = None) -> dict[str, Any] | None:
        run_id = str(lease.body["id"])
        cancel = self._cancels.setdefault(run_id, asyncio.Event())
        keeper = asyncio.create_task(lease.keep_alive())
        body = lease.body
        try:
            with telemetry.span(
                "agents_api.run",
                {
                    "agentdown.run.id": run_id,
                    "gen_ai.conversation.id": body.get("thread_id"),
                    "gen_ai.agent.id": body.get("assistant_id"),
                },
                parent=telemetry.extract(body.get("_trace")),
            ) as span:
                final = await execute_run(
                    self.api, lease, emit=emit, cancel=cancel, plan=self._plans.pop(run_id, None)
                )
                if span is not None:
                    span.set_attribute("agentdown.run.status", str(final.get("status")))
            telemetry.count_run("agents_api", str(final.get("status")))
            return final
        except LeaseLost as exc:
            logger.warning("run %s: %s; this worker stops", run_id, exc)
            return None
        finally:
            keeper.cancel()
            with contextlib.suppress(BaseException):
                await keeper
            self._cancels.pop(run_id, None)
            self._plans.pop(run_id, None)

    async def _handle_job(self, message: QueueMessage) -> None:
        try:
            job = json.loads(message.text or "")
            thread_id, run_id = str(job["thread_id"]), str(job["run_id"])
        except (ValueError, KeyError, TypeError):
            logger.warning("runs queue: dropping a message that is not a run job: %.100r", message.text)
            await self._delete(message)
            return
        async with self._slots:
            lease = await acquire(self.api.store, thread_id, run_id, self.owner, self.settings.lease_seconds)
            if lease is None:
                record = await self.api.store.get("run", thread_id, run_id)
                if (
                    record is None
                    or record.body.get("status") in TERMINAL
                    or record.body.get("status") == "requires_action"
                ):
                    await self._delete(message)
                else:
                    # Held by a live worker: the job comes back after a lease. Hidden again explicitly,
                    # as a host that received it for us (Azure Functions) would otherwise delete it.
                    with contextlib.suppress(QueueMessageLostError):
                        await self.queue.update_visibility(message, self.settings.lease_seconds)
                return
            visibility = asyncio.create_task(self._keep_hidden(message))
            try:
                await self._execute(lease)
            finally:
                visibility.cancel()
                with contextlib.suppress(BaseException):
                    message = await visibility
            await self._delete(message)

    async def _keep_hidden(self, message: QueueMessage) -> QueueMessage:
        while True:
            try:
                await asyncio.sleep(self.settings.lease_seconds / 3)
                message = await self.queue.update_visibility(message, self.settings.lease_seconds)
            except asyncio.CancelledError:
                return message

    async def _delete(self, message: QueueMessage) -> None:
        with contextlib.suppress(QueueMessageLostError):
            await self.queue.delete(message)

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
import socket
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from agentdown.exceptions import ConfigurationError
from agentdown.models.env import positive_int
from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.errors import ApiProblem, bad_request, conflict, not_found
from agentdown.runtime.agents_api.objects import message_object, now, text_block, thread_object
from agentdown.runtime.agents_api.runs.executor import execute_run
from agentdown.runtime.agents_api.runs.lease import Lease, LeaseLost, acquire
from agentdown.runtime.agents_api.runs.plan import plan_run, resolve_assistant
from agentdown.runtime.agents_api.runs.records import new_run
from agentdown.runtime.agents_api.runs.schemas import (
    TERMINAL,
    RunCreate,
    SubmitToolOutputs,
    ThreadAndRunCreate,
)
from agentdown.runtime.agents_api.store import AgentsStore, Record, mutate, public
from agentdown.runtime.queues.base import MessageQueue, QueueMessage, QueueMessageLostError

__all__ = ["RUNS_QUEUE", "RunService", "RunSettings", "busy_run"]

logger = logging.getLogger("agentdown.agents_api")

RUNS_QUEUE = "agentdown-runs"
_ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
_DONE = object()


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

        def number(name: str, default: float) -> float:
            raw = (env.get(name) or "").strip()
            if not raw:
                return default
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if not value > 0 or value == float("inf"):
                raise ConfigurationError(f"{name} must be a number of seconds > 0, got {raw!r}")
            return value

        return cls(
            lease_seconds=number("AGENTDOWN_RUN_LEASE_SECONDS", defaults.lease_seconds),
            expires_seconds=number("AGENTDOWN_RUN_EXPIRES_SECONDS", defaults.expires_seconds),
            concurrency=positive_int(env, "AGENTDOWN_RUN_CONCURRENCY") or defaults.concurrency,
            poll_seconds=number("AGENTDOWN_RUN_POLL_SECONDS", defaults.poll_seconds),
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
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cancels: dict[str, asyncio.Event] = {}
        self._consumer: asyncio.Task[None] | None = None
        api.runs = self

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self, *, consume: bool = True) -> None:
        await self.queue.create()
        if consume:
            self._consumer = asyncio.create_task(self._consume(), name="agentdown-runs-consumer")

    async def aclose(self) -> None:
        tasks = [*self._tasks, *([self._consumer] if self._consumer else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    # --- creating runs ------------------------------------------------------------------------

    async def create(self, thread_id: str, request: RunCreate) -> dict[str, Any]:
        """A queued run of ``thread_id`` (the job is on the queue)."""
        record = await self._new_run(thread_id, request)
        await self._enqueue(record.body)
        return public(record.body)

    async def create_thread_and_run(self, request: ThreadAndRunCreate, owner: str | None) -> dict[str, Any]:
        thread = request.thread or {}
        thread_id = await self._new_thread(thread, owner)
        run = RunCreate.model_validate(request.model_dump(exclude={"thread"}))
        return await self.create(thread_id, run)

    async def stream(self, thread_id: str, request: RunCreate) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """Create the run and execute it here, yielding its stream frames."""
        record = await self._new_run(thread_id, request)
        return self._stream(record.body, created=True)

    async def stream_thread_and_run(
        self, request: ThreadAndRunCreate, owner: str | None
    ) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        thread_id = await self._new_thread(request.thread or {}, owner)
        record = await self._new_run(
            thread_id, RunCreate.model_validate(request.model_dump(exclude={"thread"}))
        )
        thread = await self.api.store.get("thread", "", thread_id)
        frames = self._stream(record.body, created=True)

        async def with_thread() -> AsyncIterator[tuple[str, dict[str, Any]]]:
            if thread is not None:
                yield "thread.created", public(thread.body)
            async for frame in frames:
                yield frame

        return with_thread()

    async def _new_thread(self, thread: Mapping[str, Any], owner: str | None) -> str:
        body = thread_object(thread.get("metadata"), thread.get("tool_resources"))
        if owner is not None:
            body["_owner"] = owner
        await self.api.store.create("thread", "", body["id"], body)
        for index, message in enumerate(thread.get("messages") or []):
            await self._add_message(body["id"], message, f"thread.messages[{index}]")
        return str(body["id"])

    async def _add_message(self, thread_id: str, message: Any, where: str) -> None:
        if not isinstance(message, Mapping):
            raise bad_request(f"{where} must be a message object", where)
        role = message.get("role", "user")
        if role not in ("user", "assistant"):
            raise bad_request(f'{where}.role must be "user" or "assistant", got {role!r}', f"{where}.role")
        content = message.get("content")
        blocks: list[dict[str, Any]]
        if isinstance(content, str):
            blocks = [text_block(content)]
        elif isinstance(content, list):
            blocks = []
            for i, block in enumerate(content):
                if isinstance(block, Mapping) and block.get("type") == "text":
                    text = block.get("text")
                    blocks.append(
                        text_block(text if isinstance(text, str) else str((text or {}).get("value", "")))
                    )
                elif isinstance(block, Mapping) and block.get("type") == "image_url":
                    blocks.append({"type": "image_url", "image_url": dict(block["image_url"])})
                else:
                    raise bad_request(
                        f"{where}.content[{i}]: expected a text or image_url block", f"{where}.content[{i}]"
                    )
        else:
            raise bad_request(f"{where}.content must be a string or a list of blocks", f"{where}.content")
        body = message_object(
            thread_id,
            role,
            blocks,
            attachments=message.get("attachments") or [],
            metadata=message.get("metadata"),
        )
        await self.api.store.create("message", thread_id, body["id"], body)

    async def _new_run(self, thread_id: str, request: RunCreate) -> Record:
        store = self.api.store
        if await store.get("thread", "", thread_id) is None:
            raise not_found("thread", thread_id)
        assistant = await resolve_assistant(self.api, request.assistant_id)
        fields = request.model_dump(exclude={"assistant_id", "additional_messages"}, exclude_none=True)
        plan = await plan_run(
            self.api, assistant, fields
        )  # refuses bad tools, unknown agents: before any write
        body = new_run(
            thread_id,
            assistant.id,
            model=plan.model,
            instructions=plan.instructions,
            tools=plan.tools,
            truncation=plan.truncation,
            fields=fields,
            expires_in=self.settings.expires_seconds,
        )
        await self._claim_thread(thread_id, body["id"])
        try:
            for index, message in enumerate(request.additional_messages or []):
                await self._add_message(thread_id, message, f"additional_messages[{index}]")
            return await store.create("run", thread_id, body["id"], body)
        except BaseException:
            await self._free_thread(thread_id, body["id"])
            raise

    async def _claim_thread(self, thread_id: str, run_id: str) -> None:
        """Make ``run_id`` the thread's one active run; 409 while another is active."""
        store = self.api.store

        async def change(thread: dict[str, Any]) -> dict[str, Any] | None:
            active = thread.get("_active_run")
            if active and active != run_id:
                other = await store.get("run", thread_id, active)
                if other is not None and other.body.get("status") in _ACTIVE and not _expire_due(other.body):
                    raise conflict(
                        f"thread {thread_id!r} already has an active run {active!r} "
                        f"(status {other.body['status']}); wait for it to end or cancel it",
                        "thread_busy",
                    )
            thread["_active_run"] = run_id
            return thread

        if await mutate(store, "thread", "", thread_id, change) is None:
            raise not_found("thread", thread_id)

    async def _free_thread(self, thread_id: str, run_id: str) -> None:
        def change(thread: dict[str, Any]) -> dict[str, Any] | None:
            if thread.get("_active_run") != run_id:
                return None
            thread.pop("_active_run", None)
            return thread

        with contextlib.suppress(Exception):
            await mutate(self.api.store, "thread", "", thread_id, change)

    # --- reading ------------------------------------------------------------------------------

    async def get(self, thread_id: str, run_id: str) -> dict[str, Any]:
        record = await self._record(thread_id, run_id)
        return public(await self._refresh(record))

    async def _record(self, thread_id: str, run_id: str) -> Record:
        record = await self.api.store.get("run", thread_id, run_id)
        if record is None:
            raise not_found("run", run_id)
        return record

    async def _refresh(self, record: Record) -> dict[str, Any]:
        """The run's body, expired first if it waited for tool outputs past ``expires_at``."""
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
            await self._free_thread(record.parent, record.id)
        return body

    async def _close_steps(self, run_id: str, status: str) -> None:
        page = await self.api.store.list("step", run_id, limit=100, where={"status": "in_progress"})
        for step in page.records:
            body = dict(step.body)
            if body["type"] == "tool_calls":
                for call in body["step_details"]["tool_calls"]:
                    if call["function"].get("output") is None:
                        call["function"]["output"] = f"Not run: the run {status}."
            body.update(status=status, **{f"{status}_at": now()})
            with contextlib.suppress(Exception):
                await self.api.store.replace(step, body)

    # --- tool outputs, cancel -----------------------------------------------------------------

    async def submit_tool_outputs(
        self, thread_id: str, run_id: str, request: SubmitToolOutputs
    ) -> dict[str, Any] | AsyncIterator[tuple[str, dict[str, Any]]]:
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

        def change(run: dict[str, Any]) -> dict[str, Any] | None:
            if run.get("status") != "requires_action" or run.get("_tool_outputs") is not None:
                raise conflict(f"run {run_id!r} already got its tool outputs", "run_not_waiting")
            run.update(status="queued", required_action=None, _tool_outputs=given)
            return run

        updated = await mutate(self.api.store, "run", thread_id, run_id, change)
        assert updated is not None
        if request.stream:
            return self._stream(updated.body, created=False)
        await self._enqueue(updated.body)
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
            await self._free_thread(thread_id, run_id)
        return public(updated.body)

    # --- execution ----------------------------------------------------------------------------

    async def _enqueue(self, body: Mapping[str, Any], delay: float = 0.0) -> None:
        job = json.dumps({"thread_id": body["thread_id"], "run_id": body["id"]})
        await self.queue.send(job, visibility_delay=delay)
        self._wake.set()

    def _stream(self, body: Mapping[str, Any], *, created: bool) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        frames: asyncio.Queue[Any] = asyncio.Queue()

        async def emit(event: str, payload: dict[str, Any]) -> None:
            frames.put_nowait((event, payload))

        async def work() -> None:
            try:
                # The safety net: if this process dies mid-run, the job brings the run to another worker.
                await self._enqueue(body, delay=self.settings.lease_seconds * 2)
                if created:
                    await emit("thread.run.created", public(body))
                    await emit("thread.run.queued", public(body))
                lease = await acquire(
                    self.api.store,
                    str(body["thread_id"]),
                    str(body["id"]),
                    self.owner,
                    self.settings.lease_seconds,
                )
                if lease is not None:
                    await emit("thread.run.in_progress", public(lease.body))
                    await self._execute(lease, emit)
            except ApiProblem as exc:
                frames.put_nowait(("error", exc.body()["error"]))
            except Exception as exc:
                logger.exception("streamed run %s failed", body.get("id"))
                frames.put_nowait(("error", {"code": "server_error", "message": type(exc).__name__}))
            finally:
                frames.put_nowait(_DONE)

        task = asyncio.create_task(work())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

        async def reader() -> AsyncIterator[tuple[str, dict[str, Any]]]:
            # The run goes on if the client goes away: it is a persisted run, readable with runs.get.
            while True:
                item = await frames.get()
                if item is _DONE:
                    return
                yield item

        return reader()

    async def _execute(self, lease: Lease, emit: Any = None) -> dict[str, Any] | None:
        run_id = str(lease.body["id"])
        cancel = self._cancels.setdefault(run_id, asyncio.Event())
        keeper = asyncio.create_task(lease.keep_alive())
        try:
            body = await execute_run(self.api, lease, emit=emit, cancel=cancel)
        except LeaseLost as exc:
            logger.warning("run %s: %s; this worker stops", run_id, exc)
            return None
        finally:
            keeper.cancel()
            with contextlib.suppress(BaseException):
                await keeper
            self._cancels.pop(run_id, None)
        if body.get("status") in TERMINAL:
            await self._free_thread(str(body["thread_id"]), run_id)
        return body

    async def _consume(self) -> None:
        settings = self.settings
        while True:
            free = settings.concurrency - (len(self._tasks))
            messages: list[QueueMessage] = []
            if free > 0:
                try:
                    messages = await self.queue.receive(min(free, 32), settings.lease_seconds)
                except Exception as exc:
                    logger.warning("runs queue %s: %s", self.queue.name, exc)
            for message in messages:
                task = asyncio.create_task(self._handle(message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if not messages:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), settings.poll_seconds)

    async def _handle(self, message: QueueMessage) -> None:
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
                return  # held by a live worker: the job comes back after its visibility timeout
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

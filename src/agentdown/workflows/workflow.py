"""``Workflow``: a built graph that runs, streams, pauses for answers and resumes from checkpoints."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine, Generator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, overload

from agentdown.workflows.checkpoint_io import restore, take_checkpoint
from agentdown.workflows.edges import EdgeGroup
from agentdown.workflows.errors import WorkflowAlreadyRunningError, WorkflowRunError
from agentdown.workflows.events import (
    WorkflowErrorDetails,
    WorkflowEvent,
    WorkflowRunResult,
    WorkflowRunState,
)
from agentdown.workflows.executor import Executor
from agentdown.workflows.runner import QueuedMessage, Runner

__all__ = ["OutputSelection", "Workflow", "WorkflowRunStream"]

_DONE = object()

_Body = Callable[[Callable[[WorkflowEvent], None], int], Coroutine[Any, Any, None]]
"""A run's work: given where its events go and its generation number."""


class _Owner:
    """What a non-streamed run is owned by while its coroutine runs (it is weak-referenced)."""

    __slots__ = ("__weakref__",)


def _ignore(event: WorkflowEvent) -> None:
    """The event sink between runs."""


@dataclass(frozen=True, slots=True)
class OutputSelection:
    """Which executors' ``yield_output`` calls become ``output`` or ``intermediate`` events."""

    output_from: frozenset[str] | str | None = None
    intermediate_from: frozenset[str] | str | None = None

    def classify(self, executor_id: str) -> Literal["output", "intermediate"] | None:
        if self.output_from is None and self.intermediate_from is None:
            return "output"
        if self.output_from == "all" or (
            isinstance(self.output_from, frozenset) and executor_id in self.output_from
        ):
            return "output"
        if self.intermediate_from in ("all", "all_other") or (
            isinstance(self.intermediate_from, frozenset) and executor_id in self.intermediate_from
        ):
            return "intermediate"
        return None


class Workflow:
    """A checked graph of executors; build it with :class:`WorkflowBuilder`.

    State, pending requests and fan-in buffers live on the object between runs, as in
    Agent Framework: answer a paused run with ``run(responses=...)`` on the same object,
    or restore it anywhere with ``run(checkpoint_id=..., checkpoint_storage=...)``.
    One run at a time per object.
    """

    def __init__(
        self,
        *,
        start_executor_id: str,
        executors: dict[str, Executor],
        edge_groups: list[EdgeGroup],
        max_iterations: int,
        name: str,
        description: str | None,
        checkpoint_storage: Any,
        signature: str,
        outputs: OutputSelection,
    ) -> None:
        self.name = name
        """Names the workflow's checkpoints; defaults to ``workflow-`` plus the start of the graph signature."""
        self.description = description
        self.start_executor_id = start_executor_id
        """The executor that receives ``run``'s message."""
        self.executors = executors
        """Every executor by id, in the order they were added."""
        self.edge_groups = edge_groups
        """The edges, grouped as they were added (``WorkflowViz`` draws these)."""
        self.max_iterations = max_iterations
        """Most supersteps one ``run`` call may take before it fails."""
        self.checkpoint_storage = checkpoint_storage
        """Where checkpoints go when ``run`` is not given a storage; ``None``: none are taken."""
        self.graph_signature = signature
        """See :func:`graph_signature`; checkpoints record it and restoring compares it."""
        self.outputs = outputs
        """Which executors' yields are outputs, intermediate outputs, or not emitted."""
        self._runner = Runner(self)
        self._owner: weakref.ref[object] | None = None
        self._task: asyncio.Future[None] | None = None
        self._generation = 0
        self._last_checkpoint_id: str | None = None

    def __repr__(self) -> str:
        return f"Workflow(name={self.name!r}, start={self.start_executor_id!r}, executors={list(self.executors)})"

    @property
    def pending_requests(self) -> dict[str, Any]:
        """Unanswered requests: request id -> the request data."""
        return {rid: p.data for rid, p in self._runner.pending.items()}

    @overload
    def run(
        self,
        message: Any = None,
        *,
        stream: Literal[False] = False,
        responses: Mapping[str, Any] | None = None,
        checkpoint_id: str | None = None,
        checkpoint_storage: Any = None,
        include_status_events: bool = False,
    ) -> Coroutine[Any, Any, WorkflowRunResult]: ...
    @overload
    def run(
        self,
        message: Any = None,
        *,
        stream: Literal[True],
        responses: Mapping[str, Any] | None = None,
        checkpoint_id: str | None = None,
        checkpoint_storage: Any = None,
        include_status_events: bool = False,
    ) -> WorkflowRunStream: ...
    def run(
        self,
        message: Any = None,
        *,
        stream: bool = False,
        responses: Mapping[str, Any] | None = None,
        checkpoint_id: str | None = None,
        checkpoint_storage: Any = None,
        include_status_events: bool = False,
    ) -> Coroutine[Any, Any, WorkflowRunResult] | WorkflowRunStream:
        """Run with ``message``, answer pending requests (``responses``), or restore a checkpoint.

        ``await workflow.run(x)`` returns a :class:`WorkflowRunResult` and raises what
        failed the run (after its ``failed`` event); ``workflow.run(x, stream=True)`` is an
        async iterator of events. ``checkpoint_id`` may be combined with ``responses``.
        """
        if message is not None and (responses is not None or checkpoint_id is not None):
            raise WorkflowRunError("run takes a message, or responses and/or a checkpoint_id, not both")
        if message is None and responses is None and checkpoint_id is None:
            raise WorkflowRunError("run needs a message, responses or a checkpoint_id")
        storage = checkpoint_storage if checkpoint_storage is not None else self.checkpoint_storage
        if checkpoint_id is not None and storage is None:
            raise WorkflowRunError(
                "restoring a checkpoint needs a storage: pass checkpoint_storage= or build with one"
            )

        def body(sink: Callable[[WorkflowEvent], None], generation: int) -> Coroutine[Any, Any, None]:
            answers = dict(responses) if responses else None
            return self._execute(sink, generation, message, answers, checkpoint_id, storage)

        if stream:
            return WorkflowRunStream(self, body)
        return self._collect(body, include_status_events)

    async def _collect(self, body: _Body, with_status: bool) -> WorkflowRunResult:
        owner = _Owner()
        generation = self._claim(owner)
        events: list[WorkflowEvent] = []
        statuses: list[WorkflowEvent] = []

        def sink(event: WorkflowEvent) -> None:
            if event.type == "status":
                statuses.append(event)
                if not with_status:
                    return
            events.append(event)

        try:
            await body(sink, generation)
        finally:
            self._release(generation)
        return WorkflowRunResult(events, statuses)

    def _claim(self, owner: object) -> int:
        """Make ``owner`` the one run of this object; returns the run's generation number.

        A run belongs to whoever awaits it, or to the stream the caller still holds. A
        stream dropped before its end no longer holds it: its run is cancelled here so
        the new one can start at once (the old run's clean-up then leaves the new one alone).
        """
        if self._owner is not None and self._owner() is not None:
            raise WorkflowAlreadyRunningError(
                f"workflow {self.name!r} is already running; a Workflow object runs one run at a time "
                "(finish or aclose() a stream you left early, or build another Workflow for a concurrent run)"
            )
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._generation += 1
        self._owner = weakref.ref(owner)
        self._task = None
        return self._generation

    def _adopt(self, task: asyncio.Future[None], generation: int) -> None:
        if generation == self._generation:
            self._task = task

    def _release(self, generation: int) -> None:
        if generation == self._generation:
            self._owner = None
            self._task = None

    async def _execute(
        self,
        sink: Callable[[WorkflowEvent], None],
        generation: int,
        message: Any,
        responses: dict[str, Any] | None,
        checkpoint_id: str | None,
        storage: Any,
    ) -> None:
        runner = self._runner
        runner.sink = sink
        saw_request = False

        def watch(event: WorkflowEvent) -> None:
            nonlocal saw_request
            sink(event)
            if event.type == "request_info" and not saw_request:
                saw_request = True
                sink(WorkflowEvent("status", state=WorkflowRunState.IN_PROGRESS_PENDING_REQUESTS))

        async def checkpoint() -> None:
            if storage is not None:
                self._last_checkpoint_id = await take_checkpoint(
                    self, runner, storage, self._last_checkpoint_id
                )

        sink(WorkflowEvent("started"))
        sink(WorkflowEvent("status", state=WorkflowRunState.IN_PROGRESS))
        try:
            runner.sink = watch
            if checkpoint_id is not None:
                self._last_checkpoint_id = await restore(self, runner, storage, checkpoint_id)
                if not responses:
                    # The caller learns what is still to be answered from this run's events.
                    for request in runner.pending.values():
                        watch(
                            _request_event(
                                request.request_id, request.source_id, request.data, request.response_type
                            )
                        )
            if message is not None:
                if runner.pending:
                    sink(
                        WorkflowEvent.warning(
                            f"a new run started while {len(runner.pending)} request(s) are unanswered; "
                            "they stay pending"
                        )
                    )
                runner.iteration = 0  # superstep numbers count from 1 in each fresh run, as in MAF
                self._last_checkpoint_id = None  # and its checkpoints start a new lineage
                start = self.executors[self.start_executor_id]
                if not start.can_handle(message):
                    raise runner.unhandled(self.start_executor_id, message, None)
                runner.queue.append(QueuedMessage(None, self.start_executor_id, message))
                await checkpoint()
            if responses:
                runner.accept_responses(responses)
                await checkpoint()
            await runner.run_until_idle(self.max_iterations, checkpoint)
        except asyncio.CancelledError:
            if generation == self._generation:
                runner.discard_in_flight()
            sink(WorkflowEvent("status", state=WorkflowRunState.CANCELLED))
            raise
        except Exception as exc:
            if generation == self._generation:
                runner.discard_in_flight()
            sink(WorkflowEvent("failed", details=WorkflowErrorDetails.from_exception(exc)))
            sink(WorkflowEvent("status", state=WorkflowRunState.FAILED))
            raise
        finally:
            if generation == self._generation:
                runner.sink = _ignore
        final = WorkflowRunState.IDLE_WITH_PENDING_REQUESTS if runner.pending else WorkflowRunState.IDLE
        sink(WorkflowEvent("status", state=final))


def _request_event(request_id: str, source_id: str, data: Any, response_type: Any) -> WorkflowEvent:
    return WorkflowEvent(
        "request_info",
        data,
        executor_id=source_id,
        request_id=request_id,
        source_executor_id=source_id,
        request_type=type(data),
        response_type=response_type,
    )


class WorkflowRunStream:
    """The events of a streamed run as they happen: ``async for event in workflow.run(x, stream=True)``.

    What failed the run is raised by the iteration, after the ``failed`` event. Leaving
    the loop early and dropping the stream cancels the run (its state is ``CANCELLED``);
    ``await stream.aclose()`` does so at once. ``await stream.get_final_response()``
    returns every event as a :class:`WorkflowRunResult`.
    """

    def __init__(self, workflow: Workflow, body: _Body) -> None:
        self._workflow = workflow
        self._body = body
        self._events: list[WorkflowEvent] = []
        self._iterator: AsyncGenerator[WorkflowEvent, None] | None = None

    def __aiter__(self) -> AsyncIterator[WorkflowEvent]:
        if self._iterator is None:
            generation = self._workflow._claim(self)
            # The generator must not refer to this stream: dropping the stream is what frees the workflow.
            self._iterator = _iterate(self._workflow, self._body, self._events, generation)
        return self._iterator

    def __await__(self) -> Generator[Any, None, WorkflowRunStream]:
        """``stream = await workflow.run(x, stream=True)`` works too (Agent Framework allows it)."""

        async def itself() -> WorkflowRunStream:
            return self

        return itself().__await__()

    async def aclose(self) -> None:
        """Stop the run now if it is still going (its state becomes ``CANCELLED``)."""
        if self._iterator is not None:
            await self._iterator.aclose()

    async def get_final_response(self) -> WorkflowRunResult:
        """Consume what is left of the stream; every event of the run, status events included."""
        async for _ in self:
            pass
        return WorkflowRunResult(list(self._events), [e for e in self._events if e.type == "status"])


async def _iterate(
    workflow: Workflow, body: _Body, events: list[WorkflowEvent], generation: int
) -> AsyncGenerator[WorkflowEvent, None]:
    queue: asyncio.Queue[Any] = asyncio.Queue()
    task = asyncio.ensure_future(body(queue.put_nowait, generation))
    task.add_done_callback(lambda _: queue.put_nowait(_DONE))
    workflow._adopt(task, generation)
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            events.append(item)
            yield item
        task.result()
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        workflow._release(generation)

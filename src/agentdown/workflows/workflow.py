"""``Workflow``: a built graph that runs, streams, pauses for answers and resumes from checkpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
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
        self.executors = executors
        """Every executor by id, in the order they were added."""
        self.edge_groups = edge_groups
        self.max_iterations = max_iterations
        self.checkpoint_storage = checkpoint_storage
        """Where checkpoints go when ``run`` is not given a storage; ``None``: none are taken."""
        self.graph_signature = signature
        self.outputs = outputs
        self._runner = Runner(self)
        self._running = False
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

        def body(sink: Callable[[WorkflowEvent], None]) -> Coroutine[Any, Any, None]:
            return self._execute(
                sink, message, dict(responses) if responses else None, checkpoint_id, storage
            )

        if stream:
            return WorkflowRunStream(self, body)
        return self._collect(body, include_status_events)

    async def _collect(
        self, body: Callable[[Callable[[WorkflowEvent], None]], Coroutine[Any, Any, None]], with_status: bool
    ) -> WorkflowRunResult:
        self._claim()
        events: list[WorkflowEvent] = []
        statuses: list[WorkflowEvent] = []

        def sink(event: WorkflowEvent) -> None:
            if event.type == "status":
                statuses.append(event)
                if not with_status:
                    return
            events.append(event)

        try:
            await body(sink)
        finally:
            self._running = False
        return WorkflowRunResult(events, statuses)

    def _claim(self) -> None:
        if self._running:
            raise WorkflowAlreadyRunningError(
                f"workflow {self.name!r} is already running; a Workflow object runs one run at a time "
                "(build another from the same builder code for a concurrent run)"
            )
        self._running = True

    async def _execute(
        self,
        sink: Callable[[WorkflowEvent], None],
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
                    raise runner._unhandled(self.start_executor_id, message, None)
                runner.queue.append(QueuedMessage(None, self.start_executor_id, message))
                await checkpoint()
            if responses:
                runner.accept_responses(responses)
                await checkpoint()
            await runner.run_until_idle(self.max_iterations, checkpoint)
        except asyncio.CancelledError:
            runner.discard_in_flight()
            sink(WorkflowEvent("status", state=WorkflowRunState.CANCELLED))
            raise
        except Exception as exc:
            runner.discard_in_flight()
            sink(WorkflowEvent("failed", details=WorkflowErrorDetails.from_exception(exc)))
            sink(WorkflowEvent("status", state=WorkflowRunState.FAILED))
            raise
        finally:
            runner.sink = lambda event: None
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

    Leaving the loop early cancels the run (its state is ``CANCELLED``). What failed the
    run is raised by the iteration, after the ``failed`` event. ``await
    stream.get_final_response()`` returns every event as a :class:`WorkflowRunResult`.
    """

    def __init__(
        self, workflow: Workflow, body: Callable[[Callable[[WorkflowEvent], None]], Coroutine[Any, Any, None]]
    ) -> None:
        self._workflow = workflow
        self._body = body
        self._events: list[WorkflowEvent] = []
        self._iterator: AsyncIterator[WorkflowEvent] | None = None

    def __aiter__(self) -> AsyncIterator[WorkflowEvent]:
        if self._iterator is None:
            self._iterator = self._iterate()
        return self._iterator

    async def _iterate(self) -> AsyncIterator[WorkflowEvent]:
        self._workflow._claim()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        task = asyncio.ensure_future(self._body(queue.put_nowait))
        task.add_done_callback(lambda _: queue.put_nowait(_DONE))
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                self._events.append(item)
                yield item
            task.result()
        finally:
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            self._workflow._running = False

    async def get_final_response(self) -> WorkflowRunResult:
        """Consume what is left of the stream; every event of the run, status events included."""
        async for _ in self:
            pass
        return WorkflowRunResult(list(self._events), [e for e in self._events if e.type == "status"])

"""The superstep engine (Pregel): deliver a step's messages concurrently, queue their sends for the next.

Within a step, each target executor handles its messages one at a time in the order they
were sent, and different targets run concurrently; state written in a step is committed
when every executor of the step has finished, so a step's executors never see each
other's writes.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from agentdown.workflows.context import WorkflowContext
from agentdown.workflows.errors import (
    HandlerSignatureError,
    WorkflowConvergenceError,
    WorkflowRequestError,
    WorkflowRunError,
)
from agentdown.workflows.events import WorkflowErrorDetails, WorkflowEvent
from agentdown.workflows.executor import Executor
from agentdown.workflows.routing import Delivery, PendingRequest, QueuedMessage, Router
from agentdown.workflows.typing_utils import is_compatible, is_instance_of, type_name

if TYPE_CHECKING:
    from agentdown.workflows.workflow import Workflow

__all__ = ["PendingRequest", "QueuedMessage", "Runner"]

_OUTBOX: contextvars.ContextVar[tuple[Runner, list[QueuedMessage]] | None] = contextvars.ContextVar(
    "agentdown_workflow_outbox", default=None
)
"""Within one target's task of a concurrent superstep: where its sends go (see ``_run_concurrently``)."""


class Runner(Router):
    """The run-time state of one ``Workflow``: queued messages, shared state, requests, fan-in buffers."""

    def __init__(self, workflow: Workflow, *, like: Runner | None = None) -> None:
        """A runner of ``workflow`` with nothing queued; ``like`` (a runner of the same workflow)
        lends its edge tables, so a fresh runner per step costs nothing per edge."""
        self.workflow = workflow
        self.executors = workflow.executors
        if like is not None and like.workflow is workflow:
            self.outgoing = like.outgoing
            self.fan_in_sources = like.fan_in_sources
            self.targets_of = like.targets_of
        else:
            self.outgoing = {}
            for group in workflow.edge_groups:
                for source in group.source_ids:
                    self.outgoing.setdefault(source, []).append(group)
            self.fan_in_sources = {g.id: g.source_ids for g in workflow.edge_groups if g.kind == "fan_in"}
            self.targets_of = {}
            for group in workflow.edge_groups:
                for edge in group.edges:
                    self.targets_of.setdefault(edge.source_id, set()).add(edge.target_id)
        self.state: dict[str, Any] = {}
        """Committed shared state (what ``ctx.set_state`` wrote in finished supersteps)."""
        self.queue: list[QueuedMessage] = []
        """Messages for the next superstep, in the order they were sent."""
        self.pending: dict[str, PendingRequest] = {}
        self.fan_in: dict[str, dict[str, list[Any]]] = {}
        """Fan-in group id -> source id -> what it sent, until every source of the group has sent."""
        self.iteration = 0
        """Supersteps run so far, over every run of this workflow object (checkpoints record it)."""
        self.sink: Callable[[WorkflowEvent], None] = lambda event: None

    # --- the context's side -------------------------------------------------------------

    def emit(self, event: WorkflowEvent) -> None:
        self.sink(event)

    def enqueue(self, source_id: str, data: Any, target_id: str | None) -> None:
        box = _OUTBOX.get()
        if box is not None and box[0] is self:
            box[1].append(QueuedMessage(source_id, target_id, data))
        else:
            self.queue.append(QueuedMessage(source_id, target_id, data))

    def has_edges(self, executor_id: str) -> bool:
        return executor_id in self.outgoing

    def read_state(self, key: str, default: Any) -> Any:
        if key not in self.state:
            return default
        return copy.deepcopy(self.state[key])

    def yield_output(self, executor_id: str, data: Any) -> None:
        kind = self.workflow.outputs.classify(executor_id)
        if kind is not None:
            self.sink(WorkflowEvent(kind, data, executor_id=executor_id))

    def add_request(self, executor_id: str, data: Any, response_type: Any, request_id: str | None) -> str:
        executor = self.executors[executor_id]
        answerable = any(
            any(is_instance_of(data, t) for t in spec.request_types)
            and any(is_compatible(response_type, t) for t in spec.response_types)
            for spec in executor.response_handlers
        ) or any(is_compatible(response_type, t) for t in executor.input_types)
        if not answerable:
            raise HandlerSignatureError(
                f"executor {executor_id!r} asks for a {type_name(response_type)} answer but has no "
                "@response_handler (or handler) that takes it"
            )
        rid = request_id or uuid.uuid4().hex
        if rid in self.pending:
            raise WorkflowRunError(f"request id {rid!r} is already pending")
        self.pending[rid] = PendingRequest(rid, executor_id, data, response_type)
        self.sink(
            WorkflowEvent(
                "request_info",
                data,
                executor_id=executor_id,
                request_id=rid,
                source_executor_id=executor_id,
                request_type=type(data),
                response_type=response_type,
            )
        )
        return rid

    def discard_in_flight(self) -> None:
        """Forget what a failed or cancelled run left queued, so the next run starts clean.

        Committed state and pending requests stay; to go back to where the run was, restore
        one of its checkpoints.
        """
        self.queue.clear()
        self.fan_in.clear()

    # --- answers --------------------------------------------------------------------------

    def accept_responses(self, responses: dict[str, Any]) -> None:
        """Queue answers to pending requests; refuses the whole set if any is wrong."""
        for rid, value in responses.items():
            request = self.pending.get(rid)
            if request is None:
                known = ", ".join(repr(r) for r in self.pending) or "none"
                raise WorkflowRequestError(f"no pending request has the id {rid!r} (pending: {known})")
            if not is_instance_of(value, request.response_type):
                raise WorkflowRequestError(
                    f"the answer to request {rid!r} must be a {type_name(request.response_type)}, "
                    f"got a {type_name(type(value))}"
                )
        for rid, value in responses.items():
            request = self.pending.pop(rid)
            self.queue.append(QueuedMessage(None, request.source_id, value, rid, request.data))

    # --- supersteps -----------------------------------------------------------------------

    async def run_until_idle(self, max_iterations: int, after_step: Callable[[], Any]) -> None:
        """Run supersteps until nothing is queued; ``after_step`` (awaited) takes the checkpoint."""
        steps = 0
        while self.queue:
            if steps >= max_iterations:
                raise WorkflowConvergenceError(
                    f"the workflow did not finish within max_iterations={max_iterations} supersteps "
                    f"({len(self.queue)} message(s) still queued)"
                )
            steps += 1
            self.iteration += 1
            self.sink(WorkflowEvent("superstep_started", iteration=self.iteration))
            batch, self.queue = self.queue, []
            deliveries = await self.route(batch)
            contexts: list[WorkflowContext[Any, Any]] = []
            if len(deliveries) == 1:
                for target_id, items in deliveries.items():
                    await self._run_target(target_id, items, contexts)
            elif deliveries:
                await self._run_concurrently(deliveries, contexts)
            for ctx in contexts:
                if ctx._writes:
                    self.state.update(ctx._writes)
            self.sink(WorkflowEvent("superstep_completed", iteration=self.iteration))
            await after_step()

    async def _run_concurrently(
        self, deliveries: dict[str, list[Delivery]], contexts: list[WorkflowContext[Any, Any]]
    ) -> None:
        per_target: dict[str, list[WorkflowContext[Any, Any]]] = {t: [] for t in deliveries}
        sent: dict[str, list[QueuedMessage]] = {t: [] for t in deliveries}
        try:
            async with asyncio.TaskGroup() as tg:
                for target_id, items in deliveries.items():
                    tg.create_task(self._run_boxed(target_id, items, per_target[target_id], sent[target_id]))
        except BaseExceptionGroup as group:
            first = group.exceptions[0]
            raise first from None
        # Commit in the order targets were first sent to, so "last write wins" is deterministic,
        # and queue their sends in that order too (not in the order the tasks happened to send):
        # the durable runner, which runs each target apart, commits in exactly this order.
        for target_id, ctxs in per_target.items():
            contexts.extend(ctxs)
            self.queue.extend(sent[target_id])

    async def _run_boxed(
        self,
        target_id: str,
        items: list[Delivery],
        contexts: list[WorkflowContext[Any, Any]],
        outbox: list[QueuedMessage],
    ) -> None:
        _OUTBOX.set((self, outbox))  # this task's own context: other targets' tasks do not see it
        await self._run_target(target_id, items, contexts)

    async def _run_target(
        self, target_id: str, items: list[Delivery], contexts: list[WorkflowContext[Any, Any]]
    ) -> None:
        executor = self.executors[target_id]
        for item in items:
            ctx: WorkflowContext[Any, Any] = WorkflowContext(self, target_id, item.sources)
            contexts.append(ctx)
            await self._invoke(executor, item.message, ctx)

    async def _invoke(
        self, executor: Executor, message: QueuedMessage, ctx: WorkflowContext[Any, Any]
    ) -> None:
        eid = executor.id
        self.sink(WorkflowEvent("executor_invoked", message.data, executor_id=eid))
        try:
            if message.request_id is not None:
                ctx._answering = message.request_id
                spec = executor.find_response_handler(message.request, message.data)
                if spec is not None:
                    result = await spec.call(message.request, message.data, ctx)
                else:
                    result = await executor.execute(message.data, ctx)
            else:
                result = await executor.execute(message.data, ctx)
        except Exception as exc:
            self.sink(
                WorkflowEvent(
                    "executor_failed",
                    details=WorkflowErrorDetails.from_exception(exc, eid),
                    executor_id=eid,
                )
            )
            raise
        if result is not None:
            if eid in self.outgoing:
                self.enqueue(eid, result, None)
            else:
                self.yield_output(eid, result)
        self.sink(WorkflowEvent("executor_completed", result, executor_id=eid))

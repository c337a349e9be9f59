"""The superstep engine (Pregel): deliver a step's messages concurrently, queue their sends for the next.

Within a step, each target executor handles its messages one at a time in the order they
were sent, and different targets run concurrently; state written in a step is committed
when every executor of the step has finished, so a step's executors never see each
other's writes.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentdown.workflows.context import WorkflowContext
from agentdown.workflows.edges import Case, EdgeGroup, call_maybe_async
from agentdown.workflows.errors import (
    HandlerSignatureError,
    UnhandledMessageError,
    WorkflowConvergenceError,
    WorkflowRequestError,
    WorkflowRunError,
)
from agentdown.workflows.events import WorkflowErrorDetails, WorkflowEvent
from agentdown.workflows.executor import Executor
from agentdown.workflows.typing_utils import is_compatible, is_instance_of, type_name

if TYPE_CHECKING:
    from agentdown.workflows.workflow import Workflow

__all__ = ["PendingRequest", "QueuedMessage", "Runner"]


@dataclass(slots=True)
class QueuedMessage:
    """A message waiting for the next superstep; ``source_id`` is ``None`` for the input and for answers."""

    source_id: str | None
    target_id: str | None
    data: Any
    request_id: str | None = None
    """Set for the answer to a ``request_info``: the answer goes to the requesting executor."""
    request: Any = None
    """The original request data, for the ``@response_handler``."""


@dataclass(slots=True)
class PendingRequest:
    """A ``request_info`` awaiting its answer."""

    request_id: str
    source_id: str
    data: Any
    response_type: Any


@dataclass(slots=True)
class _Delivery:
    message: QueuedMessage
    sources: list[str] = field(default_factory=list)


class Runner:
    """The run-time state of one ``Workflow``: queued messages, shared state, requests, fan-in buffers."""

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self.executors = workflow.executors
        self.outgoing: dict[str, list[EdgeGroup]] = {}
        for group in workflow.edge_groups:
            for source in group.source_ids:
                self.outgoing.setdefault(source, []).append(group)
        self.fan_in_sources = {g.id: g.source_ids for g in workflow.edge_groups if g.kind == "fan_in"}
        self.targets_of: dict[str, set[str]] = {}
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
            deliveries = await self._route(batch)
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
        self, deliveries: dict[str, list[_Delivery]], contexts: list[WorkflowContext[Any, Any]]
    ) -> None:
        per_target: dict[str, list[WorkflowContext[Any, Any]]] = {t: [] for t in deliveries}
        try:
            async with asyncio.TaskGroup() as tg:
                for target_id, items in deliveries.items():
                    tg.create_task(self._run_target(target_id, items, per_target[target_id]))
        except BaseExceptionGroup as group:
            first = group.exceptions[0]
            raise first from None
        # Commit in the order targets were first sent to, so "last write wins" is deterministic.
        for ctxs in per_target.values():
            contexts.extend(ctxs)

    async def _run_target(
        self, target_id: str, items: list[_Delivery], contexts: list[WorkflowContext[Any, Any]]
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

    # --- routing --------------------------------------------------------------------------

    def _unhandled(self, target_id: str, data: Any, source: str | None) -> UnhandledMessageError:
        target = self.executors[target_id]
        origin = f" from {source!r}" if source else ""
        accepted = ", ".join(type_name(t) for t in target.input_types) or "nothing"
        exc = UnhandledMessageError(
            f"executor {target_id!r} has no handler for a {type_name(type(data))} message{origin} "
            f"(it accepts {accepted})"
        )
        self.sink(WorkflowEvent("error", exc, executor_id=target_id))
        return exc

    async def _route(self, batch: list[QueuedMessage]) -> dict[str, list[_Delivery]]:
        deliveries: dict[str, list[_Delivery]] = {}

        def deliver(target_id: str, message: QueuedMessage, sources: list[str]) -> None:
            deliveries.setdefault(target_id, []).append(_Delivery(message, sources))

        for msg in batch:
            if msg.source_id is None:
                assert msg.target_id is not None
                executor = self.executors[msg.target_id]
                answered = msg.request_id is not None and executor.find_response_handler(
                    msg.request, msg.data
                )
                if not answered and not executor.can_handle(msg.data):
                    raise self._unhandled(msg.target_id, msg.data, None)
                deliver(msg.target_id, msg, [])
                continue
            groups = self.outgoing.get(msg.source_id)
            if groups is None:
                self.sink(
                    WorkflowEvent.warning(
                        f"executor {msg.source_id!r} sent a {type_name(type(msg.data))} message but has no "
                        "outgoing edges; nothing received it"
                    )
                )
                continue
            if msg.target_id is not None and msg.target_id not in self.targets_of[msg.source_id]:
                raise WorkflowRunError(
                    f"executor {msg.source_id!r} sent a message to {msg.target_id!r}, but has no edge to it"
                )
            # Like Agent Framework, a target that cannot take the type is passed over (a source may
            # send each type to the edge whose target takes it); unlike it, a message that no
            # chosen target takes fails the run instead of vanishing.
            taken, refused = 0, []
            for group in groups:
                count, refusing = await self._route_group(group, msg, deliver)
                taken += count
                refused += refusing
            if not taken and refused:
                raise self._unhandled(refused[0], msg.data, msg.source_id)
        return deliveries

    async def _route_group(
        self, group: EdgeGroup, msg: QueuedMessage, deliver: Callable[[str, QueuedMessage, list[str]], None]
    ) -> tuple[int, list[str]]:
        """Deliver ``msg`` through ``group``: (how many targets took it, the chosen ones that could not)."""
        source_id = msg.source_id
        assert source_id is not None
        wanted = msg.target_id
        data = msg.data
        kind = group.kind
        if kind == "fan_in":
            target_id = group.edges[0].target_id
            if wanted is not None and wanted != target_id:
                return 0, []
            if not self.executors[target_id].can_handle([data]):
                return 0, [target_id]
            buffers = self.fan_in.setdefault(group.id, {})
            buffers.setdefault(source_id, []).append(data)
            sources = self.fan_in_sources[group.id]
            # Only sources that sent have a buffer, so a full count means everyone has sent.
            if len(buffers) == len(sources):
                combined = [item for s in sources for item in buffers[s]]
                self.fan_in.pop(group.id)
                deliver(target_id, QueuedMessage(source_id, target_id, combined), sources)
            return 1, []
        chosen: list[str] = []
        if kind == "fan_out":
            chosen = group.target_ids
        elif kind == "single":
            edge = group.edges[0]
            if edge.condition is None or await _judge(edge.condition, data, edge.source_id, edge.target_id):
                chosen = [edge.target_id]
        elif kind == "switch_case":
            chosen = [await self._switch(group, data)]
        else:
            chosen = await self._select(group, data)
        delivered, refused = 0, []
        for target_id in chosen:
            if wanted is not None and target_id != wanted:
                continue
            if self.executors[target_id].can_handle(data):
                deliver(target_id, msg, [source_id])
                delivered += 1
            else:
                refused.append(target_id)
        return delivered, refused

    async def _switch(self, group: EdgeGroup, data: Any) -> str:
        default: str | None = None
        for case, edge in zip(group.cases, group.edges, strict=True):
            if isinstance(case, Case):
                if await _judge(case.condition, data, edge.source_id, edge.target_id):
                    return edge.target_id
            else:
                default = edge.target_id
        assert default is not None  # validation guarantees one Default
        return default

    async def _select(self, group: EdgeGroup, data: Any) -> list[str]:
        assert group.selection_func is not None
        targets = group.target_ids
        try:
            picked = await call_maybe_async(group.selection_func, data, list(targets))
        except Exception as exc:
            raise WorkflowRunError(
                f"the selection function of {group.edges[0].source_id!r} raised {type(exc).__name__}: {exc}"
            ) from exc
        if isinstance(picked, str) or not all(isinstance(p, str) for p in picked):
            raise WorkflowRunError(
                f"the selection function of {group.edges[0].source_id!r} must return a list of target ids, "
                f"got {picked!r}"
            )
        unknown = [p for p in picked if p not in targets]
        if unknown:
            raise WorkflowRunError(
                f"the selection function of {group.edges[0].source_id!r} chose {unknown}, which are not among "
                f"its targets {targets}"
            )
        return list(dict.fromkeys(picked))


async def _judge(condition: Any, data: Any, source_id: str, target_id: str) -> bool:
    """An edge condition's verdict; its exception fails the run naming the edge."""
    try:
        return bool(await call_maybe_async(condition, data))
    except Exception as exc:
        raise WorkflowRunError(
            f"the condition of the edge {source_id!r} -> {target_id!r} raised {type(exc).__name__}: {exc}"
        ) from exc

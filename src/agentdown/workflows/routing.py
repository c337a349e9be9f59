"""Routing: which executors receive a message, through which edge group, and whether they can take it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentdown.workflows.edges import Case, EdgeGroup, call_maybe_async
from agentdown.workflows.errors import UnhandledMessageError, WorkflowRunError
from agentdown.workflows.events import WorkflowEvent
from agentdown.workflows.executor import Executor
from agentdown.workflows.typing_utils import type_name

__all__ = ["Delivery", "PendingRequest", "QueuedMessage", "Router"]


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
class Delivery:
    """A message as one target receives it, with who sent it (every source, for a fan-in)."""

    message: QueuedMessage
    sources: list[str] = field(default_factory=list)


class Router:
    """The routing half of the runner: turns a superstep's queued messages into deliveries per target."""

    executors: dict[str, Executor]
    outgoing: dict[str, list[EdgeGroup]]
    targets_of: dict[str, set[str]]
    fan_in: dict[str, dict[str, list[Any]]]
    fan_in_sources: dict[str, list[str]]
    sink: Callable[[WorkflowEvent], None]

    def unhandled(self, target_id: str, data: Any, source: str | None) -> UnhandledMessageError:
        """The error for a message ``target_id`` cannot take, after emitting it as an ``error`` event."""
        target = self.executors[target_id]
        origin = f" from {source!r}" if source else ""
        accepted = ", ".join(type_name(t) for t in target.input_types) or "nothing"
        exc = UnhandledMessageError(
            f"executor {target_id!r} has no handler for a {type_name(type(data))} message{origin} "
            f"(it accepts {accepted})"
        )
        self.sink(WorkflowEvent("error", exc, executor_id=target_id))
        return exc

    async def route(self, batch: list[QueuedMessage]) -> dict[str, list[Delivery]]:
        deliveries: dict[str, list[Delivery]] = {}

        def deliver(target_id: str, message: QueuedMessage, sources: list[str]) -> None:
            deliveries.setdefault(target_id, []).append(Delivery(message, sources))

        for msg in batch:
            if msg.source_id is None:
                assert msg.target_id is not None
                executor = self.executors[msg.target_id]
                answered = msg.request_id is not None and executor.find_response_handler(
                    msg.request, msg.data
                )
                if not answered and not executor.can_handle(msg.data):
                    raise self.unhandled(msg.target_id, msg.data, None)
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
                raise self.unhandled(refused[0], msg.data, msg.source_id)
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

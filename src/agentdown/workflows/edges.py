"""Edges and edge groups: how a message sent by one executor picks the executors that receive it."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Case", "Default", "Edge", "EdgeGroup", "EdgeKind", "call_maybe_async"]

EdgeKind = Literal["single", "fan_out", "fan_in", "switch_case", "multi_selection"]
Condition = Callable[[Any], "bool | Awaitable[bool]"]
SelectionFunc = Callable[[Any, list[str]], "Sequence[str] | Awaitable[Sequence[str]]"]


@dataclass(frozen=True, slots=True)
class Edge:
    """One source → target connection; a message crosses it when ``condition(message)`` is true."""

    source_id: str
    target_id: str
    condition: Condition | None = None
    """Sync or async ``(message) -> bool``; ``None`` always passes. For a switch case: the case's condition."""


@dataclass(slots=True)
class EdgeGroup:
    """Edges added together, routed together (``WorkflowViz`` draws them from these attributes)."""

    id: str
    kind: EdgeKind
    edges: list[Edge]
    selection_func: SelectionFunc | None = None
    """``multi_selection`` only: ``(message, target_ids) -> the target ids to deliver to``."""
    cases: list[Case | Default] = field(default_factory=list)
    """``switch_case`` only: the cases, in the order they are tried."""

    @property
    def source_ids(self) -> list[str]:
        return list(dict.fromkeys(e.source_id for e in self.edges))

    @property
    def target_ids(self) -> list[str]:
        return list(dict.fromkeys(e.target_id for e in self.edges))


@dataclass(frozen=True, slots=True)
class Case:
    """A switch case: messages for which ``condition`` is true go to ``target`` (first true case wins)."""

    condition: Condition
    target: Any
    """An executor or an agent."""


@dataclass(frozen=True, slots=True)
class Default:
    """The switch case taken when no ``Case`` condition is true; a switch has exactly one."""

    target: Any


async def call_maybe_async(func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)``, awaited when it returns an awaitable (conditions may be sync or async)."""
    result = func(*args)
    if inspect.isawaitable(result):
        return await result
    return result

"""Toolsets: sources whose tools are only known at run time (MCP servers, for one)."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from agentdown.tools.protocol import Tool

__all__ = ["Toolset", "is_toolset", "split_toolsets"]


@runtime_checkable
class Toolset(Protocol):
    """Lists its tools asynchronously, when a run starts.

    Implementations cache the list themselves (fetching is lazy and may fail: an
    exception fails the runs of the agents that use this toolset and no others).
    """

    name: str

    async def list_tools(self) -> Sequence[Tool]: ...


def is_toolset(obj: object) -> bool:
    return inspect.iscoroutinefunction(getattr(obj, "list_tools", None)) and isinstance(
        getattr(obj, "name", None), str
    )


def split_toolsets(items: object) -> tuple[list[object], list[Toolset]]:
    """Separate run-time toolsets from everything else (one level of nesting, like ``normalize_tools``)."""
    if items is None:
        return [], []
    flat: list[object] = []
    if isinstance(items, list | tuple):
        for item in items:
            flat.extend(item if isinstance(item, list | tuple) else [item])
    else:
        flat.append(items)
    others: list[object] = []
    toolsets: list[Toolset] = []
    for item in flat:
        if is_toolset(item):
            toolsets.append(item)  # type: ignore[arg-type]
        else:
            others.append(item)
    return others, toolsets

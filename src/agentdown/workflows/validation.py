"""Build-time checks of a workflow graph; each problem is its own exception naming the executors."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from agentdown.workflows.edges import Default, EdgeGroup
from agentdown.workflows.errors import (
    DuplicateExecutorIdError,
    EdgeDuplicationError,
    StartExecutorNotInGraphError,
    SwitchCaseDefaultError,
    TypeCompatibilityError,
    UnreachableExecutorError,
)
from agentdown.workflows.executor import Executor
from agentdown.workflows.typing_utils import is_compatible, type_name

__all__ = ["validate_graph"]


def validate_graph(
    start_id: str,
    executors: Mapping[str, Executor],
    groups: Sequence[EdgeGroup],
    duplicate_ids: Sequence[str],
) -> None:
    """Raise the first problem found, in the order a user would want to fix them."""
    if duplicate_ids:
        names = ", ".join(repr(i) for i in dict.fromkeys(duplicate_ids))
        raise DuplicateExecutorIdError(
            f"more than one executor (or agent) is named {names}; executor ids must be unique in a workflow"
        )
    for group in groups:
        if group.kind == "switch_case":
            defaults = [c for c in group.cases if isinstance(c, Default)]
            if len(defaults) != 1:
                raise SwitchCaseDefaultError(
                    f"the switch-case edge group from {group.edges[0].source_id!r} has {len(defaults)} Default "
                    "cases; it needs exactly one"
                )
    _check_duplicates(groups)
    _check_connectivity(start_id, executors, groups)
    for group in groups:
        _check_types(group, executors)


def _check_duplicates(groups: Sequence[EdgeGroup]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for group in groups:
        # Two cases of one switch may lead to the same target: that is a choice, not a duplicate.
        pairs = dict.fromkeys((e.source_id, e.target_id) for e in group.edges)
        if group.kind != "switch_case" and len(pairs) != len(group.edges):
            pair = next(
                p for p in pairs if sum(1 for e in group.edges if (e.source_id, e.target_id) == p) > 1
            )
            raise EdgeDuplicationError(f"the edge {pair[0]!r} -> {pair[1]!r} is added twice")
        for pair in pairs:
            if pair in seen:
                raise EdgeDuplicationError(
                    f"the edge {pair[0]!r} -> {pair[1]!r} is added twice ({seen[pair]} and {group.kind} edges)"
                )
            seen[pair] = group.kind


def _check_connectivity(
    start_id: str, executors: Mapping[str, Executor], groups: Sequence[EdgeGroup]
) -> None:
    if not groups:
        return
    connected = {e.source_id for g in groups for e in g.edges} | {
        e.target_id for g in groups for e in g.edges
    }
    if start_id not in connected:
        raise StartExecutorNotInGraphError(
            f"the start executor {start_id!r} has no edge; the edges connect {sorted(connected)}"
        )
    adjacency: dict[str, set[str]] = {}
    for group in groups:
        for edge in group.edges:
            adjacency.setdefault(edge.source_id, set()).add(edge.target_id)
    reached = {start_id}
    todo = deque([start_id])
    while todo:
        for nxt in adjacency.get(todo.popleft(), ()):
            if nxt not in reached:
                reached.add(nxt)
                todo.append(nxt)
    unreachable = [eid for eid in executors if eid not in reached]
    if unreachable:
        raise UnreachableExecutorError(
            f"no path from the start executor {start_id!r} reaches {', '.join(repr(u) for u in unreachable)}"
        )


def _names(types: Sequence[Any]) -> str:
    return ", ".join(type_name(t) for t in types) or "nothing"


def _check_types(group: EdgeGroup, executors: Mapping[str, Executor]) -> None:
    for edge in group.edges:
        source, target = executors[edge.source_id], executors[edge.target_id]
        sent = source.output_types
        accepted = target.input_types
        if not accepted:
            raise TypeCompatibilityError(
                f"executor {target.id!r} has no handler, so the edge from {source.id!r} cannot deliver"
            )
        if not sent:
            # Nothing declared (e.g. an unannotated context): only the run can tell.
            continue
        if group.kind == "fan_in":
            if not any(is_compatible(list[s], a) for s in sent for a in accepted):  # type: ignore[valid-type]
                raise TypeCompatibilityError(
                    f"fan-in target {target.id!r} must accept a list of what {source.id!r} sends "
                    f"(list[{_names(sent)}]); it accepts {_names(accepted)}"
                )
        elif not any(is_compatible(s, a) for s in sent for a in accepted):
            raise TypeCompatibilityError(
                f"executor {source.id!r} sends {_names(sent)} but {target.id!r} accepts {_names(accepted)}"
            )

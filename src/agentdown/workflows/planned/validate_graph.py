"""Graph checks of a plan's ``depends_on`` edges, iterative so a long chain cannot exhaust the stack."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["cycle_in", "upstream_closures"]


def cycle_in(deps: Mapping[str, Sequence[str]]) -> list[str] | None:
    """One cycle as ``[a, b, c, a]`` (``a`` depends on ``b`` ...), searched in id order; ``None`` if acyclic."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    for root in sorted(deps):
        if state.get(root):
            continue
        path: list[str] = [root]
        state[root] = 1
        stack: list[list[str]] = [sorted(deps[root], reverse=True)]
        while stack:
            if not stack[-1]:
                stack.pop()
                state[path.pop()] = 2
                continue
            nxt = stack[-1].pop()
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(sorted(deps[nxt], reverse=True))
    return None


def upstream_closures(deps: Mapping[str, Sequence[str]]) -> dict[str, set[str]]:
    """Every task's transitive dependencies (the graph must be acyclic)."""
    done: dict[str, set[str]] = {}
    for root in deps:
        stack = [root]
        while stack:
            node = stack[-1]
            if node in done:
                stack.pop()
                continue
            missing = [d for d in deps[node] if d not in done]
            if missing:
                stack.extend(missing)
                continue
            acc: set[str] = set()
            for d in deps[node]:
                acc.add(d)
                acc |= done[d]
            done[node] = acc
            stack.pop()
    return done

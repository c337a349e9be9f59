"""Checks that need every agent at once: subagent references and cycles, capability names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping

from agentdown.app.capabilities import SKILL_TOOL_NAMES
from agentdown.app.config import AppConfig
from agentdown.app.diagnostics import Problems
from agentdown.app.discovery import DiscoveredTool
from agentdown.app.spec import AgentSpec, Selection

__all__ = ["check_links", "delegate_tool_name"]


def delegate_tool_name(slug: str) -> str:
    """The tool a coordinator calls to delegate to ``slug`` (as in the Azure Functions runtime)."""
    return f"delegate_{slug}"


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_links(
    specs: Mapping[str, AgentSpec],
    slugs: set[str],
    tools: list[DiscoveredTool],
    mcp_servers: Iterable[str],
    skills: Iterable[str],
    config: AppConfig,
    problems: Problems,
) -> None:
    """Unknown / cyclic subagents, unreachable agents, unknown capability names.

    ``slugs`` holds every agent file's slug, including files that failed to load (whose
    own problems are reported already): references to them are not "unknown".
    """
    tool_names = {t.name for t in tools}
    servers, skill_names = set(mcp_servers), set(skills)
    referenced: set[str] = set()
    for spec in specs.values():
        if spec.workflows is not None:
            # Workflow subagents are run by the workflow's sub_agent tasks, not as chat tools;
            # an unknown one fails as it would there.
            for ref in spec.workflows.subagents:
                referenced.add(ref.agent)
                if ref.agent not in slugs:
                    problems.add(
                        spec.file,
                        ref.line,
                        f"workflows.subagents: unknown agent '{ref.agent}'{_suggest(ref.agent, slugs)}",
                    )
        for ref in spec.subagents:
            referenced.add(ref.agent)
            if ref.agent not in slugs:
                known = ", ".join(sorted(slugs)) or "none"
                problems.add(
                    spec.file,
                    ref.line,
                    f"subagents: unknown agent '{ref.agent}'{_suggest(ref.agent, slugs)}; "
                    f"expected the slug of an agent file of this app ({known})",
                )
            elif ref.agent in specs and (name := delegate_tool_name(ref.agent)) in tool_names:
                tool = next(t for t in tools if t.name == name)
                problems.add(
                    spec.file,
                    ref.line,
                    f"subagents: delegating to '{ref.agent}' adds a tool '{name}', but tools/ has one "
                    f"too ({tool.file.name}:{tool.line}); rename that tool",
                )
        _check_selection(spec, "tools", tool_names, problems, inherited=config.tools_exclude)
        _check_selection(spec, "mcp", servers, problems)
        _check_selection(spec, "skills", skill_names, problems)
    if skill_names:
        for tool in tools:
            if tool.name in SKILL_TOOL_NAMES:
                problems.add(
                    tool.file,
                    tool.line,
                    f"the tool name '{tool.name}' is taken by the skills/ tools (load_skill, "
                    "read_skill_resource); rename this tool",
                )
    for spec in specs.values():
        triggered = spec.trigger is not None or spec.functions_trigger is not None
        if not triggered and not spec.builtin_endpoints.any and spec.slug not in referenced:
            problems.warn(
                spec.file,
                1,
                "the agent has no trigger, no builtin_endpoints and no agent delegates to it: only "
                "`agentdown run` and the Agents API can reach it (add `builtin_endpoints: true` or a trigger)",
            )
    if config.file is not None:
        for name in config.tools_exclude:
            if name not in tool_names:
                problems.warn(
                    config.file,
                    config.lines.get("tools", 1),
                    f"tools.exclude: no tool named '{name}' in tools/{_suggest(name, tool_names)}",
                )
    _check_cycles(specs, problems)


def _check_selection(
    spec: AgentSpec, key: str, known: set[str], problems: Problems, inherited: tuple[str, ...] = ()
) -> None:
    """Unknown names: an error in an include list (agentdown's own key), a warning in an exclude list
    (excluding what does not exist changes nothing; the newest Azure Functions runtime warns too)."""
    selection: Selection = getattr(spec, key)
    line = spec.line_of(key)
    what = {"tools": "tool in tools/", "mcp": "MCP server in mcp.json", "skills": "skill in skills/"}[key]
    for name in selection.include or ():
        if name not in known:
            problems.add(spec.file, line, f"{key}.include: no {what} named '{name}'{_suggest(name, known)}")
    for name in selection.exclude:
        if name in known or name in inherited:
            continue
        problems.warn(spec.file, line, f"{key}.exclude: no {what} named '{name}'{_suggest(name, known)}")


def _check_cycles(specs: Mapping[str, AgentSpec], problems: Problems) -> None:
    """Report each delegation cycle once, at the subagents entry that closes it in its first agent."""
    edges = {slug: [r.agent for r in spec.subagents if r.agent in specs] for slug, spec in specs.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    reported: set[frozenset[str]] = set()

    def visit(slug: str, path: list[str]) -> None:
        state[slug] = 1
        path.append(slug)
        for nxt in edges[slug]:
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt) :]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    start = min(cycle)
                    i = cycle.index(start)
                    ordered = cycle[i:] + cycle[:i]
                    nxt_of_start = ordered[1] if len(ordered) > 1 else start
                    spec = specs[start]
                    line = next(r.line for r in spec.subagents if r.agent == nxt_of_start)
                    chain = " -> ".join([*ordered, start])
                    problems.add(
                        spec.file,
                        line,
                        f"subagents: delegation cycle {chain}; an agent must not be able to delegate back "
                        "to itself (remove one of these subagents entries)",
                    )
            elif nxt not in state:
                visit(nxt, path)
        path.pop()
        state[slug] = 2

    for slug in sorted(specs):
        if slug not in state:
            visit(slug, [])

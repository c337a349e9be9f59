"""Validation of a plan before anything runs: every problem found, each naming task, field and expectation.

What the Azure Functions agents runtime rejects is rejected here with the same key
phrases in the messages (``duplicate task id``, ``not workflow-safe``, ``dependency
cycle``, ``not an upstream dependency``, ...), so a model that learnt to correct its
plans there corrects them here. Unlike there, all problems are reported at once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from agentdown.exceptions import AgentdownError

from . import plan as p
from .durations import parse_datetime, parse_duration
from .expressions import ConditionSyntaxError, parse_condition
from .references import ReferenceSyntaxError, format_path, references_in, walk_strings
from .validate_graph import cycle_in, upstream_closures

__all__ = ["MAX_PLAN_CHARACTERS", "PlanError", "PlanPolicy", "PlanValidationError", "validate_plan"]

MAX_PLAN_CHARACTERS = 256_000
"""Characters of text a plan may carry in all (its strings and keys)."""


@dataclass(frozen=True, slots=True)
class PlanError:
    """One problem with a plan."""

    task: str | None
    """The task's id (or ``tasks[3]`` when it has none); ``None`` for the plan as a whole."""
    field: str | None
    """The field at fault, e.g. ``depends_on`` or ``args.query``."""
    message: str
    """What is wrong and what was expected."""

    def __str__(self) -> str:
        return f"task {self.task!r}: {self.message}" if self.task is not None else self.message


class PlanValidationError(AgentdownError, ValueError):
    """The plan was rejected; ``start_workflow`` answers the model with every error so it can resubmit."""

    def __init__(self, errors: list[PlanError]) -> None:
        self.errors = errors
        lines = [str(e) for e in errors]
        super().__init__(lines[0] if len(lines) == 1 else f"{len(lines)} problems: " + "; ".join(lines))


@dataclass(frozen=True)
class PlanPolicy:
    """What one workflow owner's plans may use (immutable: it is decided when the agent is built)."""

    allowed_tools: frozenset[str]
    """Workflow tool names: the agent's ``@workflow_tool`` tools minus ``workflows.exclude``."""
    allowed_subagents: frozenset[str] = frozenset()
    """Specialist slugs granted by ``workflows.subagents``."""
    extensions: bool = True
    """Accept agentdown's task fields (``when``, ``for_each``, ``retry``, ...); off = the other runtime's plans only."""


@dataclass
class _Checker:
    policy: PlanPolicy
    now: datetime
    errors: list[PlanError] = field(default_factory=list)

    def add(self, task: str | None, fld: str | None, message: str) -> None:
        self.errors.append(PlanError(task, fld, message))

    def duration(self, tid: str, fld: str, text: str, cap: timedelta) -> timedelta | None:
        try:
            delta = parse_duration(text)
        except ValueError as exc:
            self.add(tid, fld, f"invalid {fld} {text!r}: {exc}")
            return None
        if delta <= timedelta(0):
            self.add(tid, fld, f"{fld} must be positive")
        elif delta > cap:
            self.add(tid, fld, f"{fld} {text!r} exceeds the maximum of {cap}")
        return delta


def _size_problem(raw: Any) -> str | None:
    total = 0
    try:
        for path, text in walk_strings(raw):
            total += len(text) + sum(len(s) for s in path if isinstance(s, str))
            if total > MAX_PLAN_CHARACTERS:
                return f"the plan carries more than {MAX_PLAN_CHARACTERS} characters of text"
    except ReferenceSyntaxError as exc:
        return f"the plan is too deeply nested: {exc}"
    return None


def _parse_tasks(raw: Mapping[str, Any], c: _Checker) -> list[p.PlanTask]:
    items = raw.get("tasks")
    if not isinstance(items, list) or not items:
        c.add(None, "tasks", "plan does not match schema: 'tasks' must be a non-empty list of task objects")
        return []
    if len(items) > p.MAX_NODES:
        c.add(
            None,
            "tasks",
            f"plan has {len(items)} tasks but the per-plan limit is {p.MAX_NODES}; split the work or use fewer nodes",
        )
        if len(items) > 4 * p.MAX_NODES:  # not worth reading further
            return []
    tasks: list[p.PlanTask] = []
    for i, item in enumerate(items):
        label = (
            item.get("id") if isinstance(item, Mapping) and isinstance(item.get("id"), str) else f"tasks[{i}]"
        )
        if not isinstance(item, Mapping):
            c.add(label, None, "plan does not match schema: a task must be an object")
            continue
        if not c.policy.extensions:
            for name in p.EXTENSION_FIELDS:
                if name in item:
                    c.add(
                        label, name, f"plan does not match schema: {name!r}: extra inputs are not permitted"
                    )
        try:
            tasks.append(p.PlanTask.model_validate(dict(item)))
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(part) for part in err["loc"]) or "<task>"
                c.add(label, loc, f"plan does not match schema: {loc}: {err['msg']}")
    return tasks


def _check_kind(t: p.PlanTask, c: _Checker) -> None:
    given = t.model_fields_set
    if t.type not in p.TASK_TYPES:
        c.add(t.id, "type", f"type {t.type!r} is not supported. Supported types: {sorted(p.TASK_TYPES)}")
        return
    if t.type != p.SUB_AGENT and ("agent" in given or "task" in given):
        c.add(t.id, "agent", "'agent' and 'task' are only valid on type=sub_agent tasks")
    if t.type != p.WAIT and (t.duration is not None or t.until is not None):
        c.add(t.id, "duration", "'duration' and 'until' are only valid on type=wait tasks")
    if t.type == p.TOOL:
        if not t.tool:
            c.add(t.id, "tool", "'tool' field is required for type=tool tasks")
        elif t.tool in p.RESERVED_TOOL_NAMES:
            c.add(
                t.id,
                "tool",
                f"tool {t.tool!r} is not workflow-safe: workflow-management tools cannot run inside a workflow",
            )
        elif t.tool not in c.policy.allowed_tools:
            c.add(
                t.id,
                "tool",
                f"tool {t.tool!r} is not workflow-safe. Allowed tools: {sorted(c.policy.allowed_tools)}",
            )
    elif t.type == p.WAIT:
        if t.tool is not None:
            c.add(t.id, "tool", "'tool' is not valid on type=wait tasks")
        if t.args:
            c.add(t.id, "args", "'args' is not valid on type=wait tasks (use 'duration' or 'until' instead)")
        if (t.duration is None) == (t.until is None):
            c.add(
                t.id,
                "duration",
                "type=wait tasks must specify exactly one of 'duration' (ISO-8601 like 'PT30S') or 'until' (ISO-8601 datetime); not both, not neither",
            )
        elif t.duration is not None:
            c.duration(t.id, "duration", t.duration, p.MAX_WAIT_DURATION)
        elif t.until is not None:
            try:
                until = parse_datetime(t.until)
            except ValueError as exc:
                c.add(t.id, "until", f"invalid until {t.until!r}: {exc}")
            else:  # a past moment is fine: the timer fires at once
                if until > c.now + p.MAX_WAIT_DURATION:
                    c.add(
                        t.id, "until", f"until {t.until!r} is more than {p.MAX_WAIT_DURATION} in the future"
                    )
    else:
        if not t.agent or not t.agent.strip():
            c.add(t.id, "agent", "'agent' field is required and must be non-empty for type=sub_agent tasks")
        elif t.agent not in c.policy.allowed_subagents:
            c.add(
                t.id,
                "agent",
                f"Sub Agent {t.agent!r} is not authorized for this workflow owner. Allowed Sub Agents: {sorted(c.policy.allowed_subagents)}",
            )
        if not t.task or not t.task.strip():
            c.add(t.id, "task", "'task' field is required and must be non-empty for type=sub_agent tasks")
        for name in ("tool", "args", "duration", "until"):
            if name in given:
                c.add(t.id, name, f"{name!r} is not valid on type=sub_agent tasks")


def _check_extensions(t: p.PlanTask, c: _Checker) -> None:
    given = t.model_fields_set
    runs = t.type in (p.TOOL, p.SUB_AGENT)
    for name in ("for_each", "max_parallelism", "retry", "timeout", "continue_on_error"):
        if name in given and not runs:
            c.add(t.id, name, f"{name!r} is only valid on type=tool and type=sub_agent tasks")
    if t.max_parallelism is not None:
        if t.for_each is None:
            c.add(t.id, "max_parallelism", "'max_parallelism' is only valid with 'for_each'")
        if not 1 <= t.max_parallelism <= p.MAX_PARALLELISM:
            c.add(t.id, "max_parallelism", f"max_parallelism must be between 1 and {p.MAX_PARALLELISM}")
    if t.timeout is not None and runs:
        c.duration(t.id, "timeout", t.timeout, p.MAX_TASK_TIMEOUT)
    if t.retry is not None and runs:
        if t.retry.max_attempts > p.MAX_ATTEMPTS:
            c.add(
                t.id,
                "retry.max_attempts",
                f"retry.max_attempts {t.retry.max_attempts} exceeds the maximum of {p.MAX_ATTEMPTS}",
            )
        c.duration(t.id, "retry.first_interval", t.retry.first_interval, p.MAX_TASK_TIMEOUT)
        c.duration(t.id, "retry.max_interval", t.retry.max_interval, p.MAX_TASK_TIMEOUT)


def _check_references(t: p.PlanTask, upstream: set[str], known: Collection[str], c: _Checker) -> None:
    def check_node(ref_node: str | None, text: str, where: str) -> None:
        if ref_node is None:
            return
        if ref_node not in known:
            c.add(t.id, where, f"template references unknown task {ref_node!r} at {where}")
        elif ref_node not in upstream:
            c.add(
                t.id,
                where,
                f"template references {ref_node!r} which is not an upstream dependency. Add it to depends_on or remove the reference.",
            )

    root, value = ("task", t.task) if t.type == p.SUB_AGENT else ("args", t.args)
    for path, text in walk_strings(value):
        where = format_path(root, path) if path else root
        try:
            refs = references_in(text)
        except ReferenceSyntaxError as exc:
            c.add(t.id, where, f"{exc} at {where}")
            continue
        for ref in refs:
            if ref.node is None and t.for_each is None:
                c.add(t.id, where, f"{ref.text} at {where} is only valid in a for_each task")
            check_node(ref.node, ref.text, where)
    if t.for_each is not None:
        try:
            refs = references_in(t.for_each)
        except ReferenceSyntaxError as exc:
            c.add(t.id, "for_each", str(exc))
        else:
            if len(refs) != 1 or refs[0].text != t.for_each.strip() or refs[0].node is None:
                c.add(
                    t.id,
                    "for_each",
                    f"for_each must be one reference to an upstream list such as '${{node_id.result.items}}', not {t.for_each!r}",
                )
            else:
                check_node(refs[0].node, refs[0].text, "for_each")
    if t.when is not None:
        try:
            condition = parse_condition(t.when)
        except ConditionSyntaxError as exc:
            c.add(t.id, "when", f"invalid when {t.when[:80]!r}: {exc}")
        else:
            for ref in condition.references:
                if ref.node is None:
                    c.add(
                        t.id,
                        "when",
                        f"{ref.text} is not available in 'when' (it is decided once, before any element runs)",
                    )
                check_node(ref.node, ref.text, "when")


def validate_plan(raw: object, policy: PlanPolicy, *, now: datetime | None = None) -> p.Plan:
    """The plan ``raw`` describes, checked against ``policy``; ``PlanValidationError`` lists every problem."""
    c = _Checker(policy, now or datetime.now(UTC))
    if not isinstance(raw, Mapping):
        raise PlanValidationError(
            [PlanError(None, None, "plan does not match schema: a plan is an object with a 'tasks' list")]
        )
    problem = _size_problem(raw)
    if problem is not None:
        raise PlanValidationError([PlanError(None, None, problem)])
    tasks = _parse_tasks(raw, c)
    by_id: dict[str, p.PlanTask] = {}
    for t in tasks:
        if t.id in by_id:
            c.add(t.id, "id", f"duplicate task id: {t.id!r}")
            continue
        by_id[t.id] = t
        _check_kind(t, c)
        if policy.extensions:
            _check_extensions(t, c)
    for t in by_id.values():
        seen: set[str] = set()
        for dep in t.depends_on:
            if dep == t.id:
                c.add(t.id, "depends_on", "depends_on cannot reference itself")
            elif dep in seen:
                c.add(t.id, "depends_on", f"duplicate dependency {dep!r}")
            elif dep not in by_id:
                c.add(t.id, "depends_on", f"depends_on references unknown task {dep!r}")
            seen.add(dep)
    graph = {tid: [d for d in t.depends_on if d in by_id and d != tid] for tid, t in by_id.items()}
    cycle = cycle_in(graph)
    if cycle is not None:
        c.add(cycle[0], "depends_on", f"plan contains a dependency cycle: {' -> '.join(cycle)}")
    else:
        closures = upstream_closures(graph)
        for t in by_id.values():
            _check_references(t, closures[t.id], by_id, c)
    if c.errors:
        raise PlanValidationError(c.errors)
    return p.Plan(version=1, tasks=list(by_id.values()))

"""A deterministic, side-effect-free scheduler for planned workflows.

Each function takes a :class:`~.state.PlanState` and an event (start, a result, a timer,
cancel, terminate) and returns a *new* state plus the actions to carry out. Nothing here
reads a clock, does I/O or keeps state of its own, so a durable runner can persist the
state, enqueue each action as a job and feed the outcomes back; replaying an event the
state has already seen (a second result for a finished execution, a timer that is no
longer wanted) changes nothing and asks for nothing.

Ready tasks start in task-id order, as the other runtime's orchestrator schedules them;
unlike its waves of ten, a free slot is filled as soon as any execution finishes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .durations import parse_datetime, parse_duration
from .expressions import ConditionError, parse_condition
from .plan import (
    MAX_FOR_EACH_ITEMS,
    MAX_PARALLELISM,
    MAX_WAIT_DURATION,
    SUB_AGENT,
    TOOL,
    WAIT,
    Plan,
    PlanTask,
)
from .references import TemplateResolutionError, resolve_value
from .state import (
    FINISHED,
    Action,
    Finish,
    PlanState,
    RunSubAgent,
    RunTool,
    StartTimer,
    TaskFailure,
    TaskState,
    UnitState,
)

__all__ = ["cancel", "on_result", "on_timer", "start", "terminate"]


def start(plan: Plan, now: datetime, workflow_id: str = "") -> tuple[PlanState, list[Action]]:
    """A new run of ``plan`` and its first actions."""
    state = PlanState(
        workflow_id=workflow_id,
        plan=plan,
        created_time=now,
        last_updated_time=now,
        tasks={t.id: TaskState(id=t.id) for t in plan.tasks},
    )
    actions: list[Action] = []
    _advance(state, now, actions)
    return state, actions


def on_result(
    state: PlanState, task_key: str, outcome: Any, now: datetime, *, attempt: int | None = None
) -> tuple[PlanState, list[Action]]:
    """Record what execution ``task_key`` produced: a JSON value, or a :class:`TaskFailure`.

    Ignored (same state, no actions) when the run is over, the execution is not running,
    or ``attempt`` names an earlier attempt than the current one.
    """
    unit = state.units.get(task_key)
    if state.finished or unit is None or unit.status != "running" or unit.timer_kind == "wait":
        return state, []
    if attempt is not None and attempt != unit.attempts:
        return state, []
    state = state.model_copy(deep=True)
    unit = state.units[task_key]
    actions: list[Action] = []
    task = state.plan.task(unit.task_id)
    if isinstance(outcome, TaskFailure):
        _unit_failed(state, unit, outcome.message, now, actions)
    else:
        try:
            json.dumps(outcome)
        except (TypeError, ValueError):
            _unit_failed(state, unit, f"task {task_key!r}: result is not JSON-serializable", now, actions)
        else:
            if task.type == SUB_AGENT and isinstance(outcome, str):
                outcome = {"agent": task.agent, "text": outcome}  # the other runtime's sub-agent envelope
            _unit_finished(state, unit, "succeeded", now, actions, result=outcome)
    _advance(state, now, actions)
    return state, actions


def on_timer(state: PlanState, task_key: str, now: datetime) -> tuple[PlanState, list[Action]]:
    """A timer for ``task_key`` fired; ignored unless the execution still waits for one due by ``now``."""
    unit = state.units.get(task_key)
    if state.finished or unit is None or unit.timer_due is None or unit.timer_due > now:
        return state, []
    state = state.model_copy(deep=True)
    unit = state.units[task_key]
    actions: list[Action] = []
    kind, due = unit.timer_kind, unit.timer_due
    unit.timer_due = unit.timer_kind = None
    if kind == "wait" and due is not None:
        _unit_finished(state, unit, "succeeded", now, actions, result={"waited_until": due.isoformat()})
    elif kind == "timeout" and unit.status == "running":
        timeout = state.plan.task(unit.task_id).timeout or ""
        _unit_failed(state, unit, f"task {task_key!r}: timed out after {timeout}", now, actions)
    # A "retry" timer only clears the way: _advance starts the next attempt when a slot is free.
    _advance(state, now, actions)
    return state, actions


def cancel(
    state: PlanState, now: datetime, reason: str = "canceled by agent"
) -> tuple[PlanState, list[Action]]:
    """Stop cooperatively: nothing new starts; the output keeps the results gathered so far."""
    if state.finished:
        return state, []
    state = state.model_copy(deep=True)
    done = _done_count(state)
    output = {
        "results": _results(state, succeeded_only=True),
        "canceled": True,
        "reason": reason,
        "completed_count": done,
        "total_count": len(state.tasks),
    }
    return state, [
        _end(state, "Canceled", f"canceled at {done}/{len(state.tasks)} tasks done", output, now, reason)
    ]


def terminate(
    state: PlanState, now: datetime, reason: str = "terminated by agent"
) -> tuple[PlanState, list[Action]]:
    """Stop at once; as with Durable's terminate, the output is only the reason."""
    if state.finished:
        return state, []
    state = state.model_copy(deep=True)
    done = _done_count(state)
    return state, [
        _end(state, "Terminated", f"terminated at {done}/{len(state.tasks)} tasks done", reason, now, reason)
    ]


# --- internals -------------------------------------------------------------------------------


def _done_count(state: PlanState) -> int:
    return sum(1 for t in state.tasks.values() if t.status in FINISHED)


def _results(state: PlanState, *, succeeded_only: bool = False) -> dict[str, Any]:
    """Results by task id; skipped and failed-but-continued tasks are ``None`` (unless ``succeeded_only``)."""
    out: dict[str, Any] = {}
    for tid, t in state.tasks.items():
        if t.status == "succeeded" or (not succeeded_only and t.status in ("skipped", "failed")):
            out[tid] = t.result
    return out


def _end(state: PlanState, status: Any, summary: str, output: Any, now: datetime, why: str) -> Finish:
    for unit in state.units.values():
        if unit.status not in FINISHED:
            unit.status, unit.error, unit.finished_time = "cancelled", why, now
            unit.timer_due = unit.timer_kind = None
    for t in state.tasks.values():
        if t.status not in FINISHED:
            t.status, t.error, t.finished_time = "cancelled", why, now
    state.runtime_status, state.custom_status, state.output = status, summary, output
    state.last_updated_time = now
    return Finish(status, summary, output)


def _unit_failed(
    state: PlanState, unit: UnitState, message: str, now: datetime, actions: list[Action]
) -> None:
    task = state.plan.task(unit.task_id)
    unit.error = message
    if task.retry is not None and unit.attempts < task.retry.max_attempts:
        first = parse_duration(task.retry.first_interval)
        cap = parse_duration(task.retry.max_interval)
        delay = min(first * task.retry.backoff_coefficient ** (unit.attempts - 1), cap)
        unit.status, unit.timer_kind, unit.timer_due = "pending", "retry", now + delay
        actions.append(StartTimer(unit.key, unit.timer_due))
        return
    _unit_finished(state, unit, "failed", now, actions)


def _unit_finished(
    state: PlanState,
    unit: UnitState,
    status: Any,
    now: datetime,
    actions: list[Action],
    *,
    result: Any = None,
) -> None:
    unit.status, unit.result, unit.finished_time = status, result, now
    unit.timer_due = unit.timer_kind = None
    task = state.plan.task(unit.task_id)
    ts = state.tasks[task.id]
    if status == "failed" and not task.continue_on_error:
        _task_done(state, ts, "failed", None, now, actions, unit.error)
        return
    if unit.index is None:
        _task_done(state, ts, status, result, now, actions, unit.error)
        return
    units = [state.units[k] for k in ts.units]
    if all(u.status in FINISHED for u in units):
        # A failed element of a continue_on_error task leaves a null in the list.
        _task_done(state, ts, "succeeded", [u.result for u in units], now, actions, None)


def _task_done(
    state: PlanState,
    ts: TaskState,
    status: Any,
    result: Any,
    now: datetime,
    actions: list[Action],
    error: str | None,
) -> None:
    ts.status, ts.result, ts.error, ts.finished_time = status, result, error, now
    task = state.plan.task(ts.id)
    if status == "failed":
        for key in ts.units:  # sibling elements of a failed for_each stop too
            u = state.units[key]
            if u.status not in FINISHED:
                u.status, u.error, u.finished_time, u.timer_due, u.timer_kind = (
                    "cancelled",
                    "task failed",
                    now,
                    None,
                    None,
                )
        ts.result = None
        if not task.continue_on_error:
            message = error or "failed"
            if not message.startswith("task '"):  # the status output must say which task failed
                message = f"task {ts.id!r}: {message}"
            done = _done_count(state)
            actions.append(
                _end(
                    state,
                    "Failed",
                    f"failed at {done}/{len(state.tasks)} tasks done",
                    message,
                    now,
                    "workflow failed",
                )
            )


def _fail_task(state: PlanState, ts: TaskState, message: str, now: datetime, actions: list[Action]) -> None:
    ts.started_time = ts.started_time or now
    _task_done(state, ts, "failed", None, now, actions, message)


def _open_task(
    state: PlanState, task: PlanTask, results: dict[str, Any], now: datetime, actions: list[Action]
) -> None:
    """Decide a ready task: skip it, fail it, or create its executions."""
    ts = state.tasks[task.id]
    if task.when is not None:
        try:
            holds = parse_condition(task.when).evaluate(results)
        except ConditionError as exc:
            _fail_task(state, ts, f"task {task.id!r}: {exc}", now, actions)
            return
        if not holds:
            ts.status, ts.started_time, ts.finished_time = "skipped", now, now
            ts.error = f"when {task.when!r} was false"
            return
    ts.status, ts.started_time = "running", now
    if task.type == WAIT:
        due = now + parse_duration(task.duration) if task.duration else parse_datetime(task.until)
        if due - now > MAX_WAIT_DURATION:  # an 'until' validated long before the run started
            _fail_task(
                state,
                ts,
                f"task {task.id!r}: wait deadline exceeds the maximum of {MAX_WAIT_DURATION}",
                now,
                actions,
            )
            return
        unit = UnitState(
            key=task.id, task_id=task.id, status="running", started_time=now, timer_kind="wait", timer_due=due
        )
        state.units[unit.key], ts.units = unit, [unit.key]
        actions.append(StartTimer(unit.key, due))
        return
    items: list[Any] | None = None
    if task.for_each is not None:
        try:
            resolved = resolve_value(task.for_each, results)
        except TemplateResolutionError as exc:
            _fail_task(state, ts, f"task {task.id!r}: for_each: {exc}", now, actions)
            return
        if not isinstance(resolved, list):
            _fail_task(
                state,
                ts,
                f"task {task.id!r}: for_each must resolve to a list, got {type(resolved).__name__}",
                now,
                actions,
            )
            return
        if len(resolved) > MAX_FOR_EACH_ITEMS:
            _fail_task(
                state,
                ts,
                f"task {task.id!r}: for_each has {len(resolved)} elements, the limit is {MAX_FOR_EACH_ITEMS}",
                now,
                actions,
            )
            return
        items = resolved
        if not items:
            _task_done(state, ts, "succeeded", [], now, actions, None)
            return
    template = task.task if task.type == SUB_AGENT else task.args
    problems: list[tuple[UnitState, str]] = []
    for index, item in enumerate(items) if items is not None else [(None, None)]:
        key = task.id if index is None else f"{task.id}[{index}]"
        problem: str | None = None
        try:
            arguments = resolve_value(template, results, item)
        except TemplateResolutionError as exc:
            arguments, problem = None, f"task {key!r}: template resolution failed: {exc}"
        if problem is None and task.type == SUB_AGENT and not isinstance(arguments, str):
            problem = f"task {key!r}: resolved Sub Agent task must be a string"
        unit = UnitState(key=key, task_id=task.id, index=index, arguments=arguments)
        state.units[key] = unit
        ts.units.append(key)
        if problem is not None:
            problems.append((unit, problem))
    # Every element exists before any is failed, so "all elements finished" is judged on the whole list.
    for unit, problem in problems:  # deterministic: retrying would fail the same way
        unit.error = problem
        _unit_finished(state, unit, "failed", now, actions)
        if state.finished or state.tasks[task.id].status == "failed":
            return


def _dispatch(state: PlanState, now: datetime, actions: list[Action]) -> None:
    running = [u for u in state.units.values() if u.status == "running" and u.timer_kind != "wait"]
    per_task: dict[str, int] = {}
    for u in running:
        per_task[u.task_id] = per_task.get(u.task_id, 0) + 1
    ready = sorted(
        (u for u in state.units.values() if u.status == "pending" and u.timer_kind is None),
        key=lambda u: (u.task_id, u.index or 0),
    )
    slots = MAX_PARALLELISM - len(running)
    for unit in ready:
        if slots <= 0:
            return
        task = state.plan.task(unit.task_id)
        cap = task.max_parallelism or MAX_PARALLELISM
        if per_task.get(task.id, 0) >= cap:
            continue
        per_task[task.id] = per_task.get(task.id, 0) + 1
        slots -= 1
        unit.status, unit.attempts = "running", unit.attempts + 1
        unit.started_time = unit.started_time or now
        if task.type == TOOL:
            actions.append(RunTool(unit.key, task.tool or "", dict(unit.arguments or {}), unit.attempts))
        else:
            actions.append(RunSubAgent(unit.key, task.agent or "", str(unit.arguments), unit.attempts))
        if task.timeout is not None:
            unit.timer_kind, unit.timer_due = "timeout", now + parse_duration(task.timeout)
            actions.append(StartTimer(unit.key, unit.timer_due))


def _advance(state: PlanState, now: datetime, actions: list[Action]) -> None:
    """Open every ready task (skips can ready more), fill free slots, and finish when all is done."""
    state.last_updated_time = now
    changed = True
    while changed and not state.finished:
        changed = False
        results = _results(state)
        for task in sorted(state.plan.tasks, key=lambda t: t.id):
            ts = state.tasks[task.id]
            if ts.status == "pending" and all(state.tasks[d].status in FINISHED for d in task.depends_on):
                _open_task(state, task, results, now, actions)
                changed = True
                if state.finished:
                    return
                results = _results(state)
    if state.finished:
        return
    _dispatch(state, now, actions)
    total, done = len(state.tasks), _done_count(state)
    if done == total:
        summary = f"{total}/{total} tasks done"
        state.runtime_status, state.custom_status = "Completed", summary
        state.output = {"results": _results(state)}
        actions.append(Finish("Completed", summary, state.output))
        return
    running = sorted(tid for tid, t in state.tasks.items() if t.status == "running")
    state.custom_status = f"{done}/{total} tasks done, running={','.join(running)}"

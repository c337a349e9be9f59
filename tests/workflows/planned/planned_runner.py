"""A toy durable runner for the scheduler tests: a clock, a timer heap and scripted tool outcomes.

It does what a real runner must: apply each action, persist the state as JSON between
steps, and feed every outcome back, keeping track of how many executions run at once.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agentdown.workflows.planned import (
    Finish,
    PlanState,
    RunSubAgent,
    RunTool,
    StartTimer,
    TaskFailure,
    on_result,
    on_timer,
)
from agentdown.workflows.planned.state import Action

HANG = object()
"""An outcome that never arrives (the execution hangs until its timeout)."""

Script = Callable[[str, str, Any, int], Any]
"""(task_key, tool or agent, arguments or prompt, attempt) -> outcome, TaskFailure or HANG."""


@dataclass
class ToyRunner:
    script: Script
    now: datetime
    latency: timedelta = timedelta(seconds=1)
    log: list[tuple[str, str, int]] = field(default_factory=list)
    finished: Finish | None = None
    max_running: int = 0
    running_per_task: dict[str, int] = field(default_factory=dict)
    max_per_task: dict[str, int] = field(default_factory=dict)
    _events: list[tuple[datetime, int, str, str, Any, int]] = field(default_factory=list)
    _seq: int = 0
    _running: set[str] = field(default_factory=set)

    def _push(self, due: datetime, kind: str, key: str, outcome: Any = None, attempt: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._events, (due, self._seq, kind, key, outcome, attempt))

    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, RunTool | RunSubAgent):
                what = action.tool if isinstance(action, RunTool) else action.agent
                payload = action.arguments if isinstance(action, RunTool) else action.prompt
                self.log.append((action.task_key, what, action.attempt))
                self._running.add(action.task_key)
                task_id = action.task_key.split("[")[0]
                self.running_per_task[task_id] = self.running_per_task.get(task_id, 0) + 1
                self.max_per_task[task_id] = max(
                    self.max_per_task.get(task_id, 0), self.running_per_task[task_id]
                )
                self.max_running = max(self.max_running, len(self._running))
                outcome = self.script(action.task_key, what, payload, action.attempt)
                if outcome is not HANG:
                    self._push(self.now + self.latency, "result", action.task_key, outcome, action.attempt)
            elif isinstance(action, StartTimer):
                self._push(max(action.due, self.now), "timer", action.task_key)
            elif isinstance(action, Finish):
                self.finished = action

    def _stopped(self, key: str) -> None:
        if key in self._running:
            self._running.discard(key)
            task_id = key.split("[")[0]
            self.running_per_task[task_id] -= 1

    def run(self, state: PlanState, actions: list[Action], limit: int = 500) -> PlanState:
        self.apply(actions)
        for _ in range(limit):
            if self.finished is not None or not self._events:
                break
            due, _, kind, key, outcome, attempt = heapq.heappop(self._events)
            self.now = max(self.now, due)
            # Persist and reload between steps, as a durable runner does.
            state = PlanState.model_validate(json.loads(json.dumps(state.model_dump(mode="json"))))
            if kind == "result":
                self._stopped(key)
                state, actions = on_result(state, key, outcome, self.now, attempt=attempt)
            else:
                unit = state.units.get(key)
                if (
                    unit is not None
                    and unit.timer_kind == "timeout"
                    and unit.timer_due is not None
                    and unit.timer_due <= self.now
                ):
                    self._stopped(key)
                state, actions = on_timer(state, key, self.now)
            self.apply(actions)
        return state


def fail(message: str) -> TaskFailure:
    return TaskFailure(message)

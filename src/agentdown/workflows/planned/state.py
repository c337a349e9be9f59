"""The persisted state of one planned workflow run, and the actions a scheduler step asks for.

Everything here is plain data: :class:`PlanState` round-trips through JSON
(``model_dump(mode="json")`` / ``model_validate``) so a durable runner can store it
between steps, and an action is a small frozen dataclass a runner turns into a job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from .plan import Plan

__all__ = [
    "TERMINAL_RUNTIME_STATUSES",
    "Action",
    "Finish",
    "PlanState",
    "RunSubAgent",
    "RunTool",
    "RuntimeStatus",
    "StartTimer",
    "TaskFailure",
    "TaskState",
    "TaskStatus",
    "UnitState",
]

TaskStatus = Literal["pending", "running", "succeeded", "failed", "skipped", "cancelled"]
RuntimeStatus = Literal["Pending", "Running", "Completed", "Failed", "Canceled", "Terminated"]
"""The other runtime's ``runtime_status`` values (Durable's names, plus its ``Canceled``)."""
TERMINAL_RUNTIME_STATUSES = frozenset({"Completed", "Failed", "Canceled", "Terminated"})
FINISHED = frozenset({"succeeded", "failed", "skipped", "cancelled"})


@dataclass(frozen=True, slots=True)
class RunTool:
    """Call workflow tool ``tool`` with ``arguments``; report back with ``on_result(task_key, ..., attempt)``."""

    task_key: str
    """The execution: ``fetch`` or ``fetch[3]``."""
    tool: str
    """The workflow tool's name."""
    arguments: dict[str, Any]
    """Its arguments, references resolved (the ``args`` dict the handler receives)."""
    attempt: int = 1
    """Which attempt this is; pass it back so a late answer to an earlier one is ignored."""


@dataclass(frozen=True, slots=True)
class RunSubAgent:
    """Run specialist ``agent`` on ``prompt`` in a fresh session; report its answer text with ``on_result``."""

    task_key: str
    """The execution."""
    agent: str
    """The specialist's slug."""
    prompt: str
    """The resolved, self-contained task text."""
    attempt: int = 1
    """Which attempt this is."""


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Call ``on_timer(task_key)`` at (or after) ``due``; a timer that is no longer wanted is ignored then."""

    task_key: str
    """Whose timer (a wait, a timeout or a retry delay; the state knows which)."""
    due: datetime
    """When to fire (UTC)."""


@dataclass(frozen=True, slots=True)
class Finish:
    """The workflow reached ``status``; ``output`` is what ``get_workflow_status`` shows."""

    status: RuntimeStatus
    """How it ended."""
    summary: str
    """The final one-line progress summary."""
    output: Any = None
    """The envelope's ``output``: results, the failure message, the cancel envelope or the terminate reason."""


Action = RunTool | RunSubAgent | StartTimer | Finish


@dataclass(frozen=True, slots=True)
class TaskFailure:
    """What a runner passes to ``on_result`` when an execution failed; ``message`` becomes the task's error."""

    message: str
    """Shown in the status output: keep secrets and stack traces out of it."""


class UnitState(BaseModel):
    """One execution of a task: the task itself, or one element of a ``for_each``."""

    key: str
    """``fetch`` or, for element 3 of a ``for_each`` task, ``fetch[3]``."""
    task_id: str
    """The plan task it belongs to."""
    index: int | None = None
    """The ``for_each`` element, ``None`` otherwise."""
    status: TaskStatus = "pending"
    """Where it is; ``pending`` with a ``retry`` timer means waiting to be tried again."""
    attempts: int = 0
    """Attempts started so far."""
    arguments: Any = None
    """Resolved tool arguments or sub-agent prompt (resolved once, so every attempt sends the same)."""
    result: Any = None
    """The JSON result once succeeded."""
    error: str | None = None
    """The last failure's message."""
    started_time: datetime | None = None
    """When its first attempt started."""
    finished_time: datetime | None = None
    """When it succeeded, failed for good, or was cancelled."""
    timer_due: datetime | None = None
    """When the one timer this unit waits for is due."""
    timer_kind: Literal["wait", "timeout", "retry"] | None = None
    """What that timer means."""


class TaskState(BaseModel):
    """One plan task's progress."""

    id: str
    """The plan task's id."""
    status: TaskStatus = "pending"
    """``running`` from when its executions exist until they are all done."""
    result: Any = None
    """Its result (a list for ``for_each``); ``None`` when skipped or failed."""
    error: str | None = None
    """Why it failed, or why it was skipped or cancelled."""
    started_time: datetime | None = None
    """When it was found ready."""
    finished_time: datetime | None = None
    """When it reached its final status."""
    units: list[str] = Field(default_factory=list)
    """Keys of its executions."""


class PlanState(BaseModel):
    """Everything about one workflow run; the scheduler functions take one and return a new one."""

    workflow_id: str = ""
    """The runner's id for the run (``get_workflow_status`` takes it)."""
    plan: Plan
    """The validated plan, kept with the state so every step needs only the state."""
    runtime_status: RuntimeStatus = "Running"
    """``Running`` until it ends ``Completed``, ``Failed``, ``Canceled`` or ``Terminated``."""
    custom_status: str = ""
    """A one-line progress summary (``3/7 tasks done, running=a,b``), as the other runtime shows."""
    output: Any = None
    """Set when the run ends: ``{"results": ...}``, the failure message, or the cancel envelope."""
    created_time: datetime
    """When ``start`` ran."""
    last_updated_time: datetime
    """When the last step changed anything."""
    tasks: dict[str, TaskState]
    """Every plan task by id."""
    units: dict[str, UnitState] = Field(default_factory=dict)
    """Every execution by key (created when its task becomes ready)."""

    @property
    def finished(self) -> bool:
        """Whether the run has ended (no step changes it any more)."""
        return self.runtime_status in TERMINAL_RUNTIME_STATUSES

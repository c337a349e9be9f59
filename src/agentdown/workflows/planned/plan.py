"""A planned workflow: the plan a model hands to ``start_workflow``, as pydantic models.

The field names, defaults and task kinds are those of the Azure Functions agents
runtime (``azure_functions_agents/workflows/schema.py`` and ``tools.py``): a plan is
``{"tasks": [...]}``; a task has ``id``, ``type`` (``tool`` by default, ``wait`` or
``sub_agent``), ``depends_on`` and the fields of its kind. Unknown fields are errors,
as there. agentdown adds, per task, ``when``, ``for_each``, ``max_parallelism``,
``retry``, ``timeout`` and ``continue_on_error`` (``extensions``); a policy that turns
extensions off rejects them exactly as the other runtime does.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .marks import RESERVED_TOOL_NAMES

__all__ = [
    "EXTENSION_FIELDS",
    "MAX_ACTIVE_WORKFLOWS_PER_SESSION",
    "MAX_ATTEMPTS",
    "MAX_FOR_EACH_ITEMS",
    "MAX_LIST_WORKFLOWS_RESULTS",
    "MAX_NODES",
    "MAX_PARALLELISM",
    "MAX_TASK_ID_LENGTH",
    "MAX_TASK_TIMEOUT",
    "MAX_WAIT_DURATION",
    "RESERVED_TOOL_NAMES",
    "SUB_AGENT",
    "TASK_TYPES",
    "TOOL",
    "WAIT",
    "Plan",
    "PlanTask",
    "RetryPolicy",
]

TOOL = "tool"
WAIT = "wait"
SUB_AGENT = "sub_agent"
TASK_TYPES = (TOOL, WAIT, SUB_AGENT)

# The other runtime's caps (docs/workflows.md "Caps", schema.py, tools.py).
MAX_NODES = 50
"""Tasks a plan may have."""
MAX_PARALLELISM = 10
"""Tool / sub-agent executions running at once (a runtime cap: wider plans queue)."""
MAX_WAIT_DURATION = timedelta(hours=24)
"""Longest ``wait`` (``duration``, or ``until`` measured from when the plan is validated)."""
MAX_ACTIVE_WORKFLOWS_PER_SESSION = 10
"""Workflows one session may have running."""
MAX_LIST_WORKFLOWS_RESULTS = 25
"""Envelopes ``list_workflows`` returns at most."""
MAX_TASK_ID_LENGTH = 64
"""Characters a task id may have."""

# agentdown's own caps for its extensions (the other runtime has no retries or timeouts yet).
MAX_ATTEMPTS = 10
"""Attempts a ``retry`` policy may allow (the first one included)."""
MAX_TASK_TIMEOUT = timedelta(hours=24)
"""Longest per-attempt ``timeout``; also the longest retry interval."""
MAX_FOR_EACH_ITEMS = 50
"""Elements a ``for_each`` may fan out over (checked when the list is known)."""


EXTENSION_FIELDS = ("when", "for_each", "max_parallelism", "retry", "timeout", "continue_on_error")
"""Task fields agentdown adds to the other runtime's plan."""


class RetryPolicy(BaseModel):
    """How often and how patiently a failed tool or sub-agent task is tried again."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(3, ge=1, description="Attempts in all, the first one included.")
    """Attempts in all, the first one included."""
    first_interval: str = Field("PT5S", description="ISO-8601 delay before the second attempt, e.g. 'PT5S'.")
    """ISO-8601 delay before the second attempt."""
    backoff_coefficient: float = Field(
        2.0, ge=1.0, le=10.0, description="Each further delay is the previous one times this."
    )
    """Each further delay is the previous one times this."""
    max_interval: str = Field("PT5M", description="ISO-8601 cap on any one delay.")
    """ISO-8601 cap on any one delay."""


class PlanTask(BaseModel):
    """One node of a plan; which fields apply depends on ``type`` (the validator says so per field)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        min_length=1, max_length=MAX_TASK_ID_LENGTH, description="Unique id of the task in the plan."
    )
    """Unique id of the task in the plan; references name it."""
    type: str = Field(TOOL, description="'tool' (default), 'wait' or 'sub_agent'.")
    """``tool`` (the default), ``wait`` or ``sub_agent``."""
    tool: str | None = None
    """``tool`` tasks: the workflow tool to call."""
    args: dict[str, Any] = Field(default_factory=dict)
    """``tool`` tasks: its arguments (references allowed in string values)."""
    depends_on: list[str] = Field(default_factory=list)
    """Ids of the tasks that must finish first."""
    duration: str | None = None
    """``wait`` tasks: a relative ISO-8601 duration such as ``PT30S``."""
    until: str | None = None
    """``wait`` tasks: an absolute ISO-8601 datetime with a timezone."""
    agent: str | None = None
    """``sub_agent`` tasks: the authorised specialist's slug."""
    task: str | None = None
    """``sub_agent`` tasks: its self-contained instruction (references allowed)."""
    # agentdown's extensions.
    when: str | None = None
    """A condition over upstream results; false skips the task."""
    for_each: str | None = None
    """A reference to an upstream list; the task runs once per element (``${item}``)."""
    max_parallelism: int | None = None
    """``for_each`` tasks: elements run at once (at most the plan-wide cap)."""
    retry: RetryPolicy | None = None
    """Tool / sub-agent tasks: try again after a failure or timeout."""
    timeout: str | None = None
    """Tool / sub-agent tasks: ISO-8601 limit on each attempt."""
    continue_on_error: bool = False
    """A failure (after retries) leaves the result ``null`` instead of failing the workflow."""


class Plan(BaseModel):
    """A validated plan (:func:`~agentdown.workflows.planned.validate.validate_plan` builds it)."""

    model_config = ConfigDict(extra="ignore")

    version: int = 1
    """Always 1: the only plan format there is."""
    tasks: list[PlanTask] = Field(min_length=1)
    """The nodes, in the order the model wrote them."""

    def task(self, task_id: str) -> PlanTask:
        """The task called ``task_id`` (``KeyError`` if there is none)."""
        for task in self.tasks:
            if task.id == task_id:
                return task
        raise KeyError(task_id)

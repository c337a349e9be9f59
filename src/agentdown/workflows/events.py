"""``WorkflowEvent`` (one class, told apart by ``type``, as in Agent Framework), run states and results."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import Any, Literal

__all__ = [
    "WorkflowErrorDetails",
    "WorkflowEvent",
    "WorkflowEventType",
    "WorkflowRunResult",
    "WorkflowRunState",
]

WorkflowEventType = Literal[
    "started",
    "status",
    "failed",
    "output",
    "intermediate",
    "request_info",
    "warning",
    "error",
    "superstep_started",
    "superstep_completed",
    "executor_invoked",
    "executor_completed",
    "executor_failed",
]


class WorkflowRunState(StrEnum):
    """Where a run is; the last ``status`` event of a run carries its final state."""

    IN_PROGRESS = "IN_PROGRESS"
    IN_PROGRESS_PENDING_REQUESTS = "IN_PROGRESS_PENDING_REQUESTS"
    IDLE = "IDLE"
    """Finished: nothing is queued and no request awaits an answer."""
    IDLE_WITH_PENDING_REQUESTS = "IDLE_WITH_PENDING_REQUESTS"
    """Paused: answer the ``request_info`` events with ``run(responses=...)``."""
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    """The caller stopped consuming a streamed run (or cancelled its task) before it ended."""


@dataclass(slots=True)
class WorkflowErrorDetails:
    """What went wrong, carried by ``failed`` and ``executor_failed`` events."""

    error_type: str
    message: str
    executor_id: str | None = None
    traceback: str | None = None

    @classmethod
    def from_exception(cls, exc: BaseException, executor_id: str | None = None) -> WorkflowErrorDetails:
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return cls(type(exc).__name__, str(exc), executor_id, text)


class WorkflowEvent:
    """Something that happened in a run; ``type`` says what, the other attributes carry its details.

    ``data`` is the payload (the output, the request, the warning text, the exception);
    ``executor_id`` the executor it concerns; ``state`` is set on ``status`` events;
    ``details`` on ``failed`` / ``executor_failed``; ``iteration`` on superstep events;
    ``request_id``, ``source_executor_id``, ``request_type`` and ``response_type`` on
    ``request_info`` events. Executors may emit their own events with ``ctx.add_event``.
    """

    __slots__ = (
        "data",
        "details",
        "executor_id",
        "iteration",
        "request_id",
        "request_type",
        "response_type",
        "source_executor_id",
        "state",
        "type",
    )

    def __init__(
        self,
        type: WorkflowEventType,
        data: Any = None,
        *,
        executor_id: str | None = None,
        state: WorkflowRunState | None = None,
        details: WorkflowErrorDetails | None = None,
        iteration: int | None = None,
        request_id: str | None = None,
        source_executor_id: str | None = None,
        request_type: Any = None,
        response_type: Any = None,
    ) -> None:
        self.type: WorkflowEventType = type
        self.data: Any = data
        self.executor_id = executor_id
        self.state = state
        self.details = details
        self.iteration = iteration
        self.request_id = request_id
        self.source_executor_id = source_executor_id
        self.request_type: Any = request_type
        self.response_type: Any = response_type

    def __repr__(self) -> str:
        parts = [f"type={self.type!r}"]
        for name in ("executor_id", "state", "iteration", "request_id"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value.value if isinstance(value, Enum) else value!r}")
        if self.data is not None:
            parts.append(f"data={self.data!r}")
        return f"WorkflowEvent({', '.join(parts)})"

    @classmethod
    def warning(cls, message: str) -> WorkflowEvent:
        """A warning from user code (``await ctx.add_event(WorkflowEvent.warning("..."))``)."""
        return cls("warning", message)

    @classmethod
    def error(cls, exception: BaseException) -> WorkflowEvent:
        """A non-fatal error from user code."""
        return cls("error", exception)


class WorkflowRunResult(list[WorkflowEvent]):
    """The events of one (non-streamed) run, in order.

    ``status`` events are kept aside (as in Agent Framework) unless the run was asked for
    them with ``include_status_events=True``; :meth:`get_final_state` reads them either way.
    """

    def __init__(self, events: list[WorkflowEvent], status_events: list[WorkflowEvent]) -> None:
        super().__init__(events)
        self._status_events = status_events

    def get_outputs(self) -> list[Any]:
        """What was yielded as workflow output (``output`` events), in order."""
        return [e.data for e in self if e.type == "output"]

    def get_intermediate_outputs(self) -> list[Any]:
        """What executors chosen by ``intermediate_output_from`` yielded."""
        return [e.data for e in self if e.type == "intermediate"]

    def get_request_info_events(self) -> list[WorkflowEvent]:
        """The requests awaiting an answer; pass ``{event.request_id: value}`` to ``run(responses=...)``."""
        return [e for e in self if e.type == "request_info"]

    def get_final_state(self) -> WorkflowRunState:
        """``IDLE`` (finished), ``IDLE_WITH_PENDING_REQUESTS`` (paused) or ``FAILED``."""
        for event in reversed(self._status_events):
            if event.state is not None:
                return event.state
        raise RuntimeError("this result has no status event")

    def status_timeline(self) -> list[WorkflowEvent]:
        """Every ``status`` event of the run, in order."""
        return list(self._status_events)

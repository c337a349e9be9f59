"""``WorkflowContext``: what a handler gets to send messages, yield outputs, ask for input and keep state."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Generic, Never

from typing_extensions import TypeVar

from agentdown.workflows.events import WorkflowEvent

if TYPE_CHECKING:
    from agentdown.workflows.runner import Runner

__all__ = ["WorkflowContext"]

OutT = TypeVar("OutT", default=Never)
W_OutT = TypeVar("W_OutT", default=Never)

_RESERVED_EVENTS = frozenset({"started", "status", "failed", "output", "intermediate", "request_info"})
"""Event types only the engine emits; an executor's ``add_event`` of one is refused with a warning."""


class WorkflowContext(Generic[OutT, W_OutT]):
    """The handle a handler gets for one invocation.

    ``OutT`` is what it may send to other executors, ``W_OutT`` what it may yield as
    workflow output: ``WorkflowContext[str, int]``; ``WorkflowContext`` or
    ``WorkflowContext[Never]`` declares nothing. The engine creates and injects it; it is
    never part of a schema. State written with :meth:`set_state` is visible to this
    invocation at once and to every executor from the next superstep on.
    """

    __slots__ = ("_answering", "_executor_id", "_runner", "_sources", "_writes")

    def __init__(self, runner: Runner, executor_id: str, source_executor_ids: list[str]) -> None:
        self._runner = runner
        self._executor_id = executor_id
        self._sources = source_executor_ids
        self._writes: dict[str, Any] = {}
        self._answering: str | None = None

    @property
    def executor_id(self) -> str:
        """The id of the executor this context belongs to."""
        return self._executor_id

    @property
    def source_executor_ids(self) -> list[str]:
        """Who sent the message being handled (several for a fan-in; empty for the run's input)."""
        return list(self._sources)

    @property
    def answering_request_id(self) -> str | None:
        """In a ``@response_handler``: the id of the request being answered; else ``None``."""
        return self._answering

    async def send_message(self, message: OutT, target_id: str | None = None) -> None:
        """Send ``message`` along this executor's outgoing edges; it is delivered in the next superstep.

        ``target_id`` restricts delivery to that one target, which must be at the end of one
        of this executor's edges.
        """
        self._runner.enqueue(self._executor_id, message, target_id)

    async def yield_output(self, output: W_OutT) -> None:
        """Emit ``output`` as a workflow output (or an intermediate one, per ``intermediate_output_from``)."""
        self._runner.yield_output(self._executor_id, output)

    async def add_event(self, event: WorkflowEvent) -> None:
        """Emit a custom event into the run's event stream (``warning``, ``error`` or executor events)."""
        if event.type in _RESERVED_EVENTS:
            self._runner.emit(
                WorkflowEvent.warning(
                    f"executor {self._executor_id!r} tried to emit a {event.type!r} event, which only the "
                    "engine emits; use yield_output or request_info instead. The event was not emitted."
                )
            )
            return
        if event.executor_id is None:
            event.executor_id = self._executor_id
        self._runner.emit(event)

    async def request_info(self, request_data: Any, response_type: Any, request_id: str | None = None) -> str:
        """Ask the caller for a ``response_type`` value; the run pauses once nothing else is queued.

        The answer, given with ``workflow.run(responses={request_id: value})``, goes to this
        executor's ``@response_handler`` for the request's type (or else its handler for
        the response's type). Returns the request id.
        """
        return self._runner.add_request(self._executor_id, request_data, response_type, request_id)

    def get_state(self, key: str, default: Any = None) -> Any:
        """A copy of the workflow state value at ``key`` (committed state plus this invocation's writes)."""
        if key in self._writes:
            return copy.deepcopy(self._writes[key])
        return self._runner.read_state(key, default)

    def set_state(self, key: str, value: Any) -> None:
        """Write a copy of ``value`` to the workflow state; committed when this superstep ends."""
        self._writes[key] = copy.deepcopy(value)

    def is_terminal(self) -> bool:
        """Whether this executor has no outgoing edges (what it yields is the workflow's result)."""
        return not self._runner.has_edges(self._executor_id)

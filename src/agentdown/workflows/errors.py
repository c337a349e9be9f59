"""The errors a workflow raises: at build time (a bad graph) and at run time (a run that cannot go on)."""

from __future__ import annotations

from agentdown.exceptions import AgentdownError, ConfigurationError

__all__ = [
    "CheckpointMismatchError",
    "DuplicateExecutorIdError",
    "EdgeDuplicationError",
    "GraphConnectivityError",
    "HandlerSignatureError",
    "StartExecutorNotInGraphError",
    "SwitchCaseDefaultError",
    "TypeCompatibilityError",
    "UnhandledMessageError",
    "UnreachableExecutorError",
    "WorkflowAlreadyRunningError",
    "WorkflowConvergenceError",
    "WorkflowConvergenceException",
    "WorkflowError",
    "WorkflowException",
    "WorkflowRequestError",
    "WorkflowRunError",
    "WorkflowRunnerException",
    "WorkflowValidationError",
]


class WorkflowError(AgentdownError):
    """Base class of every workflow error."""


class WorkflowValidationError(WorkflowError, ConfigurationError):
    """``WorkflowBuilder.build()`` (or an executor's definition) found a mistake in the graph.

    Nothing ran. The message names the executors (and types) involved.
    """


class HandlerSignatureError(WorkflowValidationError):
    """A ``@handler``, ``@response_handler`` or function executor has a signature the engine cannot call.

    Handlers take ``(self, message, ctx)``; function executors ``(message)`` or ``(message, ctx)``;
    ``ctx`` must be annotated ``WorkflowContext[...]`` (or not at all), and every annotation must
    resolve from the function's module. An unannotated message accepts ``Any``. Also raised when
    a handler asks (``request_info``) for an answer that none of its executor's handlers takes.
    """


class DuplicateExecutorIdError(WorkflowValidationError):
    """Two different executors (or two agents with one name) use the same id."""


class EdgeDuplicationError(WorkflowValidationError):
    """The same source → target edge was added twice."""


class TypeCompatibilityError(WorkflowValidationError):
    """An edge's source never sends a type its target accepts (a fan-in target must accept ``list[T]``)."""


class GraphConnectivityError(WorkflowValidationError):
    """The graph's shape is wrong: an executor cannot be reached, or the start executor is not in it."""


class UnreachableExecutorError(GraphConnectivityError):
    """Executors are in the graph but no path from the start executor reaches them."""


class StartExecutorNotInGraphError(GraphConnectivityError):
    """The start executor has no edge, while the graph has edges between other executors."""


class SwitchCaseDefaultError(WorkflowValidationError):
    """A switch-case edge group does not have exactly one ``Default``, or it is not the last case."""


class WorkflowRunError(WorkflowError):
    """A run stopped; the events so far (ending with ``failed``) were emitted before this was raised."""


class UnhandledMessageError(WorkflowRunError):
    """A message reached an executor that has no handler for its type. MAF drops it silently; we stop."""


class WorkflowConvergenceError(WorkflowRunError):
    """The run did not finish within ``max_iterations`` supersteps (usually a cycle without an exit)."""


class WorkflowAlreadyRunningError(WorkflowRunError):
    """``run`` was called while another run of the same ``Workflow`` object is in progress."""


class WorkflowRequestError(WorkflowRunError, ValueError):
    """The ``responses`` given to ``run`` do not answer the pending requests.

    An unknown request id, or a value that is not of the request's declared response type.
    Nothing ran.
    """


class CheckpointMismatchError(WorkflowRunError, ValueError):
    """The checkpoint belongs to another workflow (its graph signature or name differs). Nothing ran."""


# Agent Framework's names, for code written against it (``except WorkflowConvergenceException``).
WorkflowException = WorkflowError
WorkflowRunnerException = WorkflowRunError
WorkflowConvergenceException = WorkflowConvergenceError

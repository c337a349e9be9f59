"""Workflows in Python: Microsoft Agent Framework's graph model (executors, edges, supersteps).

>>> @executor(id="upper_case")
... async def upper_case(text: str) -> str:
...     return text.upper()
>>> workflow = WorkflowBuilder(start_executor=upper_case).build()

The names are imported when first used: an app that only plans workflows from Markdown
(``workflows.planned``) does not load the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentdown.lazy import lazy_exports

if TYPE_CHECKING:
    from agentdown.workflows.agents import (
        AgentActionRequest,
        AgentActionResponse,
        AgentExecutor,
        AgentExecutorRequest,
        AgentExecutorResponse,
    )
    from agentdown.workflows.builder import (
        WorkflowBuilder,
    )
    from agentdown.workflows.checkpoint.azure_blob import (
        AzureBlobCheckpointStorage,
    )
    from agentdown.workflows.checkpoint.errors import (
        CheckpointEncodingError,
        CheckpointError,
        CheckpointFormatError,
        CheckpointNotFoundError,
        CheckpointStorageError,
    )
    from agentdown.workflows.checkpoint.model import (
        WorkflowCheckpoint,
    )
    from agentdown.workflows.checkpoint.sqlite import (
        SqliteCheckpointStorage,
    )
    from agentdown.workflows.checkpoint.storage import (
        CheckpointStorage,
        FileCheckpointStorage,
        InMemoryCheckpointStorage,
    )
    from agentdown.workflows.context import (
        WorkflowContext,
    )
    from agentdown.workflows.edges import (
        Case,
        Default,
        Edge,
        EdgeGroup,
    )
    from agentdown.workflows.errors import (
        CheckpointMismatchError,
        DuplicateExecutorIdError,
        EdgeDuplicationError,
        GraphConnectivityError,
        HandlerSignatureError,
        StartExecutorNotInGraphError,
        SwitchCaseDefaultError,
        TypeCompatibilityError,
        UnhandledMessageError,
        UnreachableExecutorError,
        WorkflowAlreadyRunningError,
        WorkflowConvergenceError,
        WorkflowConvergenceException,
        WorkflowError,
        WorkflowException,
        WorkflowRequestError,
        WorkflowRunError,
        WorkflowRunnerException,
        WorkflowValidationError,
    )
    from agentdown.workflows.events import (
        WorkflowErrorDetails,
        WorkflowEvent,
        WorkflowEventType,
        WorkflowRunResult,
        WorkflowRunState,
    )
    from agentdown.workflows.executor import (
        Executor,
        handler,
        response_handler,
    )
    from agentdown.workflows.function_executor import (
        FunctionExecutor,
        executor,
    )
    from agentdown.workflows.signature import (
        graph_signature,
    )
    from agentdown.workflows.subworkflow import (
        WorkflowExecutor,
    )
    from agentdown.workflows.viz import (
        GraphvizNotAvailableError,
        WorkflowViz,
    )
    from agentdown.workflows.workflow import (
        Workflow,
        WorkflowRunStream,
    )

# ``executor`` is also a submodule's name: importing that submodule would set the package's
# attribute to the module, so the decorator is bound here, at import, and wins.
from agentdown.workflows.function_executor import executor

_WHERE: dict[str, str] = {
    "AgentActionRequest": "agentdown.workflows.agents",
    "AgentActionResponse": "agentdown.workflows.agents",
    "AgentExecutor": "agentdown.workflows.agents",
    "AgentExecutorRequest": "agentdown.workflows.agents",
    "AgentExecutorResponse": "agentdown.workflows.agents",
    "AzureBlobCheckpointStorage": "agentdown.workflows.checkpoint.azure_blob",
    "Case": "agentdown.workflows.edges",
    "CheckpointEncodingError": "agentdown.workflows.checkpoint.errors",
    "CheckpointError": "agentdown.workflows.checkpoint.errors",
    "CheckpointFormatError": "agentdown.workflows.checkpoint.errors",
    "CheckpointMismatchError": "agentdown.workflows.errors",
    "CheckpointNotFoundError": "agentdown.workflows.checkpoint.errors",
    "CheckpointStorage": "agentdown.workflows.checkpoint.storage",
    "CheckpointStorageError": "agentdown.workflows.checkpoint.errors",
    "Default": "agentdown.workflows.edges",
    "DuplicateExecutorIdError": "agentdown.workflows.errors",
    "Edge": "agentdown.workflows.edges",
    "EdgeDuplicationError": "agentdown.workflows.errors",
    "EdgeGroup": "agentdown.workflows.edges",
    "Executor": "agentdown.workflows.executor",
    "FileCheckpointStorage": "agentdown.workflows.checkpoint.storage",
    "FunctionExecutor": "agentdown.workflows.function_executor",
    "GraphConnectivityError": "agentdown.workflows.errors",
    "GraphvizNotAvailableError": "agentdown.workflows.viz",
    "HandlerSignatureError": "agentdown.workflows.errors",
    "InMemoryCheckpointStorage": "agentdown.workflows.checkpoint.storage",
    "SqliteCheckpointStorage": "agentdown.workflows.checkpoint.sqlite",
    "StartExecutorNotInGraphError": "agentdown.workflows.errors",
    "SwitchCaseDefaultError": "agentdown.workflows.errors",
    "TypeCompatibilityError": "agentdown.workflows.errors",
    "UnhandledMessageError": "agentdown.workflows.errors",
    "UnreachableExecutorError": "agentdown.workflows.errors",
    "Workflow": "agentdown.workflows.workflow",
    "WorkflowAlreadyRunningError": "agentdown.workflows.errors",
    "WorkflowBuilder": "agentdown.workflows.builder",
    "WorkflowCheckpoint": "agentdown.workflows.checkpoint.model",
    "WorkflowContext": "agentdown.workflows.context",
    "WorkflowConvergenceError": "agentdown.workflows.errors",
    "WorkflowConvergenceException": "agentdown.workflows.errors",
    "WorkflowError": "agentdown.workflows.errors",
    "WorkflowErrorDetails": "agentdown.workflows.events",
    "WorkflowEvent": "agentdown.workflows.events",
    "WorkflowEventType": "agentdown.workflows.events",
    "WorkflowException": "agentdown.workflows.errors",
    "WorkflowExecutor": "agentdown.workflows.subworkflow",
    "WorkflowRequestError": "agentdown.workflows.errors",
    "WorkflowRunError": "agentdown.workflows.errors",
    "WorkflowRunResult": "agentdown.workflows.events",
    "WorkflowRunState": "agentdown.workflows.events",
    "WorkflowRunStream": "agentdown.workflows.workflow",
    "WorkflowRunnerException": "agentdown.workflows.errors",
    "WorkflowValidationError": "agentdown.workflows.errors",
    "WorkflowViz": "agentdown.workflows.viz",
    "executor": "agentdown.workflows.function_executor",
    "graph_signature": "agentdown.workflows.signature",
    "handler": "agentdown.workflows.executor",
    "response_handler": "agentdown.workflows.executor",
}

__all__ = [
    "AgentActionRequest",
    "AgentActionResponse",
    "AgentExecutor",
    "AgentExecutorRequest",
    "AgentExecutorResponse",
    "AzureBlobCheckpointStorage",
    "Case",
    "CheckpointEncodingError",
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointMismatchError",
    "CheckpointNotFoundError",
    "CheckpointStorage",
    "CheckpointStorageError",
    "Default",
    "DuplicateExecutorIdError",
    "Edge",
    "EdgeDuplicationError",
    "EdgeGroup",
    "Executor",
    "FileCheckpointStorage",
    "FunctionExecutor",
    "GraphConnectivityError",
    "GraphvizNotAvailableError",
    "HandlerSignatureError",
    "InMemoryCheckpointStorage",
    "SqliteCheckpointStorage",
    "StartExecutorNotInGraphError",
    "SwitchCaseDefaultError",
    "TypeCompatibilityError",
    "UnhandledMessageError",
    "UnreachableExecutorError",
    "Workflow",
    "WorkflowAlreadyRunningError",
    "WorkflowBuilder",
    "WorkflowCheckpoint",
    "WorkflowContext",
    "WorkflowConvergenceError",
    "WorkflowConvergenceException",
    "WorkflowError",
    "WorkflowErrorDetails",
    "WorkflowEvent",
    "WorkflowEventType",
    "WorkflowException",
    "WorkflowExecutor",
    "WorkflowRequestError",
    "WorkflowRunError",
    "WorkflowRunResult",
    "WorkflowRunState",
    "WorkflowRunStream",
    "WorkflowRunnerException",
    "WorkflowValidationError",
    "WorkflowViz",
    "executor",
    "graph_signature",
    "handler",
    "response_handler",
]


__getattr__ = lazy_exports(__name__, _WHERE)


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])

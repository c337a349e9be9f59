"""Workflows in Python: Microsoft Agent Framework's graph model (executors, edges, supersteps).

>>> @executor(id="upper_case")
... async def upper_case(text: str) -> str:
...     return text.upper()
>>> workflow = WorkflowBuilder(start_executor=upper_case).build()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentdown.workflows.agents import (
    AgentActionRequest,
    AgentActionResponse,
    AgentExecutor,
    AgentExecutorRequest,
    AgentExecutorResponse,
)
from agentdown.workflows.builder import WorkflowBuilder
from agentdown.workflows.checkpoint.errors import (
    CheckpointEncodingError,
    CheckpointError,
    CheckpointFormatError,
    CheckpointNotFoundError,
    CheckpointStorageError,
)
from agentdown.workflows.checkpoint.model import WorkflowCheckpoint
from agentdown.workflows.checkpoint.sqlite import SqliteCheckpointStorage
from agentdown.workflows.checkpoint.storage import (
    CheckpointStorage,
    FileCheckpointStorage,
    InMemoryCheckpointStorage,
)
from agentdown.workflows.context import WorkflowContext
from agentdown.workflows.edges import Case, Default, Edge, EdgeGroup
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
from agentdown.workflows.executor import Executor, handler, response_handler
from agentdown.workflows.function_executor import FunctionExecutor, executor
from agentdown.workflows.signature import graph_signature
from agentdown.workflows.subworkflow import WorkflowExecutor
from agentdown.workflows.viz import GraphvizNotAvailableError, WorkflowViz
from agentdown.workflows.workflow import Workflow, WorkflowRunStream

if TYPE_CHECKING:
    from agentdown.workflows.checkpoint.azure_blob import AzureBlobCheckpointStorage

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


def __getattr__(name: str) -> Any:
    # The Azure SDK is an optional extra: its storage is imported when it is asked for.
    if name == "AzureBlobCheckpointStorage":
        from agentdown.workflows.checkpoint.azure_blob import AzureBlobCheckpointStorage

        return AzureBlobCheckpointStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

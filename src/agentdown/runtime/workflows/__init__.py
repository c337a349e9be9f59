"""The durable runner of planned workflows (``workflows: {enabled: true}`` agents).

Importing this package registers the workflow-management tools with the app layer
(:func:`agentdown.app.workflow_tools.register_workflow_tool_factory`), as
:mod:`agentdown.runtime.queue_tools` does for queue tools.
"""

from agentdown.runtime.workflows.access import owned_workflow
from agentdown.runtime.workflows.host import (
    WorkflowHost,
    close_workflow_host,
    ensure_workflow_host,
    workflows_enabled,
)
from agentdown.runtime.workflows.records import KIND, WorkflowRecord, notification_text
from agentdown.runtime.workflows.service import INTERRUPTED, ActiveLimitError, WorkflowService
from agentdown.runtime.workflows.settings import WORKFLOWS_QUEUE, WorkflowSettings
from agentdown.runtime.workflows.tools import WorkflowManagementTool, management_tools
from agentdown.runtime.workflows.views import workflow_view

__all__ = [
    "INTERRUPTED",
    "KIND",
    "WORKFLOWS_QUEUE",
    "ActiveLimitError",
    "WorkflowHost",
    "WorkflowManagementTool",
    "WorkflowRecord",
    "WorkflowService",
    "WorkflowSettings",
    "close_workflow_host",
    "ensure_workflow_host",
    "management_tools",
    "notification_text",
    "owned_workflow",
    "workflow_view",
    "workflows_enabled",
]

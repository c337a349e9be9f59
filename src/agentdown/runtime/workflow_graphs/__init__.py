"""Python workflow graphs (``workflows/*.py``) run durably under ``agentdown serve`` / ``agentdown worker``.

See :mod:`.engine` for the protocol and its guarantees, :mod:`.records` for what is stored.
"""

from agentdown.runtime.workflow_graphs.engine import GraphEngine, RunError
from agentdown.runtime.workflow_graphs.service import STEPS_QUEUE, GraphService, GraphSettings

__all__ = ["STEPS_QUEUE", "GraphEngine", "GraphService", "GraphSettings", "RunError"]

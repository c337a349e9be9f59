"""Queue-bound function tools: calls on an input queue, answers on an output queue (both sides).

The calling side is :class:`QueueTool` (also built from ``queue_tools:`` declarations,
registered with the app layer below); the function side is :mod:`.server`
(``agentdown worker --queue-tools``).
"""

from collections.abc import Mapping

from agentdown.app.queue_tools import QueueToolSpec, register_queue_tool_factory
from agentdown.runtime.queue_tools.endpoints import account_for_endpoint, queue_endpoint_of
from agentdown.runtime.queue_tools.router import ReplyRouter
from agentdown.runtime.queue_tools.shared import aclose_shared
from agentdown.runtime.queue_tools.tool import QueueTool, QueueToolTimeoutError

__all__ = [
    "QueueTool",
    "QueueToolTimeoutError",
    "ReplyRouter",
    "account_for_endpoint",
    "aclose_shared",
    "queue_endpoint_of",
    "tool_from_spec",
]


def tool_from_spec(spec: QueueToolSpec, environ: Mapping[str, str]) -> QueueTool:
    """The :class:`QueueTool` a ``queue_tools:`` declaration describes."""
    return QueueTool(
        spec.name,
        spec.description,
        dict(spec.parameters),
        input_queue=spec.input_queue,
        output_queue=spec.output_queue,
        connection=spec.connection,
        timeout=spec.timeout,
        encoding=spec.encoding,
        environ=environ,
    )


# The app layer cannot import the runtime: it asks this registered factory to build the tools.
register_queue_tool_factory(tool_from_spec)

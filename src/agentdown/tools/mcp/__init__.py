"""MCP servers as toolsets: each tool of a server becomes a :class:`Tool` of the agent.

Connections are lazy (the first :meth:`McpToolset.list_tools` connects), one per
server per event loop, owned by a background task: the SDK's transports are anyio
task groups that must be entered and exited by the same task, which an agent run
(or a request handler) cannot promise. A broken connection is dropped and the next
call reconnects. The tool list is fetched once and cached until
:meth:`McpToolset.refresh` or a ``tools/list_changed`` notification.

Tool names are the server's own names unless a ``tool_prefix`` is set; a name the
model providers would reject (``^[A-Za-z0-9_-]{1,64}$``) has other characters
replaced by ``_`` and is shortened with a hash suffix; duplicates get ``_2``, ``_3``.
"""

from agentdown.tools.mcp.connection import McpConnectionError, TokenProvider
from agentdown.tools.mcp.toolset import DEFAULT_CALL_TIMEOUT, DEFAULT_CONNECT_TIMEOUT, McpTool, McpToolset

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "DEFAULT_CONNECT_TIMEOUT",
    "McpConnectionError",
    "McpTool",
    "McpToolset",
    "TokenProvider",
]

"""The HTTP server: chat and stream APIs, chat page, MCP endpoint, OpenAI-compatible API,
HTTP-trigger agents, access keys. ``agentdown serve APP`` runs it with uvicorn."""

from agentdown.server.app import create_app
from agentdown.server.settings import Keys, ServerSettings

__all__ = ["Keys", "ServerSettings", "create_app"]

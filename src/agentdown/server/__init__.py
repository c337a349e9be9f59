"""The HTTP server: chat and stream APIs, chat page, MCP endpoint, OpenAI-compatible API,
HTTP-trigger agents, access keys. ``agentdown serve APP`` runs it with uvicorn."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentdown.server.settings import Keys, ServerSettings

if TYPE_CHECKING:
    from agentdown.server.app import create_app

__all__ = ["Keys", "ServerSettings", "create_app"]


def __getattr__(name: str) -> Any:
    # The app pulls in the MCP server SDK (~0.6 s); loading it on use keeps every other
    # `agentdown` command, which imports the settings, quick to start.
    if name == "create_app":
        from agentdown.server.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

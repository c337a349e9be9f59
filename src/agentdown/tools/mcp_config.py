"""``McpServerConfig``: how to reach one MCP server and which of its tools to expose.

It lives in the tools layer because :class:`~agentdown.tools.mcp.McpToolset` consumes it;
:mod:`agentdown.app.mcp_config` builds it from an app's ``mcp.json``. Kept out of the
``agentdown.tools.mcp`` package so that reading a config does not import the MCP SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

__all__ = ["McpAuth", "McpServerConfig", "McpTransport"]

McpTransport = Literal["streamable-http", "sse", "stdio"]


@dataclass(frozen=True, slots=True)
class McpAuth:
    """Microsoft Entra ID bearer tokens for a remote server (the Azure Functions runtime's ``auth``)."""

    scope: str
    """The token scope, e.g. ``api://my-app/.default``."""
    client_id: str | None = None
    """A user-assigned managed identity's client id; ``None``: ``DefaultAzureCredential``."""


@dataclass(frozen=True, slots=True)
class McpServerConfig:
    """One MCP server: how to reach it and which of its tools to expose."""

    name: str
    """The key in ``mcp.json``; agents exclude servers by this name (``mcp: {exclude: [...]}``)."""
    transport: McpTransport
    """``streamable-http`` (``"type": "http"``), ``sse`` or ``stdio``."""
    url: str | None = None
    """The endpoint of an HTTP server (``streamable-http`` / ``sse``)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """HTTP headers sent with every request, after variable substitution."""
    command: str | None = None
    """The executable of a ``stdio`` server."""
    args: tuple[str, ...] = ()
    """Its arguments."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment variables for the process (on top of the SDK's safe set: PATH, HOME...)."""
    cwd: Path | None = None
    """The process's working directory; from ``mcp.json``: the file's folder unless given."""
    tools: tuple[str, ...] | None = None
    """Allowlist of tool-name patterns (``*`` matches any run of characters); ``None``: every tool."""
    timeout: float | None = None
    """Seconds one tool call may take; ``None``: the toolset's default."""
    connect_timeout: float | None = None
    """Seconds to connect and complete the MCP handshake; ``None``: the toolset's default."""
    tool_prefix: str = ""
    """Prepended to every tool name the model sees (e.g. ``"gh_"``); MCP names are kept by default."""
    load_tools: bool = True
    """``false``: the server contributes no tools (as in the Azure Functions runtime)."""
    auth: McpAuth | None = None
    """Entra ID token auth for an HTTP server."""
    file: Path | None = None
    """The ``mcp.json`` this came from, for messages."""
    line: int = 0
    """Its line there (1-based; 0 when built in code)."""

    def __post_init__(self) -> None:
        if self.transport not in get_args(McpTransport):
            raise ValueError(f"MCP server {self.name!r}: transport must be one of {get_args(McpTransport)}")
        if (self.transport == "stdio") != bool(self.command) or (self.transport != "stdio") != bool(self.url):
            raise ValueError(
                f"MCP server {self.name!r}: a stdio server needs a command, an HTTP server a url"
            )

    def describe(self) -> str:
        """Where the server is, for messages (no header values; URL credentials and query left out)."""
        if self.transport == "stdio":
            return "stdio: " + " ".join([self.command or "", *self.args])
        kind = "streamable HTTP" if self.transport == "streamable-http" else "SSE"
        return f"{kind} {_redact_url(self.url or '')}"


def _redact_url(url: str) -> str:
    # Userinfo and query strings are where URLs carry secrets; messages reach logs and clients.
    scheme, sep, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    path, question, _ = path.partition("?")
    return f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{path}{'?...' if question else ''}"

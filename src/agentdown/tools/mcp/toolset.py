"""``McpToolset`` and ``McpTool``: the tools of an MCP server as agent tools."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio
import httpx2
import mcp_types as types
from mcp.client import Client
from mcp.shared.exceptions import MCPError

from agentdown.exceptions import ToolError
from agentdown.messages import Content
from agentdown.tools.context import FunctionInvocationContext
from agentdown.tools.mcp.connection import Connection, McpConnectionError, TokenProvider, cause_text

if TYPE_CHECKING:
    from agentdown.tools.mcp_config import McpServerConfig

__all__ = ["DEFAULT_CALL_TIMEOUT", "DEFAULT_CONNECT_TIMEOUT", "McpTool", "McpToolset"]

logger = logging.getLogger("agentdown.mcp")

DEFAULT_CALL_TIMEOUT = 120.0
DEFAULT_CONNECT_TIMEOUT = 15.0
_MAX_PAGES = 100


def _name_for(mcp_name: str, prefix: str, taken: set[str]) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]", "_", prefix + mcp_name) or "tool"
    if len(name) > 64:
        name = name[:55] + "_" + hashlib.sha1(name.encode()).hexdigest()[:8]
    base, n = name, 1
    while name in taken:
        n += 1
        name = f"{base[: 64 - len(str(n)) - 1]}_{n}"
    taken.add(name)
    return name


def _allowed(patterns: Sequence[str] | None) -> Callable[[str], bool]:
    if patterns is None:
        return lambda name: True
    regex = re.compile("|".join("(?:" + ".*".join(map(re.escape, p.split("*"))) + ")" for p in patterns))
    return lambda name: regex.fullmatch(name) is not None


def _contents(item: types.ContentBlock) -> Content:
    if isinstance(item, types.TextContent):
        return Content.from_text(item.text)
    if isinstance(item, types.ImageContent | types.AudioContent):
        return Content.from_data(base64.b64decode(item.data), item.mime_type)
    if isinstance(item, types.EmbeddedResource):
        resource = item.resource
        if isinstance(resource, types.TextResourceContents):
            return Content.from_text(resource.text)
        mime = resource.mime_type or "application/octet-stream"
        return Content.from_data(base64.b64decode(resource.blob), mime)
    if isinstance(item, types.ResourceLink):
        return Content.from_uri(str(item.uri), item.mime_type)
    return Content.from_text(json.dumps(item.model_dump(mode="json", by_alias=True, exclude_none=True)))


def _result(result: types.CallToolResult) -> str | list[Content]:
    contents = [_contents(item) for item in result.content]
    if not contents and result.structured_content is not None:
        contents = [Content.from_text(json.dumps(result.structured_content, ensure_ascii=False))]
    if result.is_error:
        text = "\n".join(c.text for c in contents if c.type == "text" and c.text)
        raise ToolError(text or "the tool reported an error without a message")
    if all(c.type == "text" for c in contents):
        return "\n".join(c.text or "" for c in contents)
    return contents


class McpTool:
    """One tool of an MCP server; calling it calls the server (with the toolset's per-call timeout)."""

    kind = "mcp"
    approval_mode = "never_require"

    def __init__(self, toolset: McpToolset, spec: types.Tool, name: str) -> None:
        self.toolset = toolset
        self.mcp_name = spec.name
        """The name on the server (``name`` is what the model sees)."""
        self.name = name
        self.description = spec.description or spec.title or ""
        schema = dict(spec.input_schema or {})
        schema.setdefault("type", "object")
        self._parameters = schema
        self.additional_properties: dict[str, Any] = {"mcp_server": toolset.name, "mcp_tool": spec.name}
        """Where the tool comes from (not sent to the model)."""

    @property
    def parameters(self) -> dict[str, Any]:
        """The server's ``inputSchema``."""
        return self._parameters

    async def invoke(
        self, arguments: dict[str, Any], context: FunctionInvocationContext | None = None
    ) -> str | list[Content]:
        """Call the tool; text results come back as ``str``, anything else as contents."""
        return _result(await self.toolset.call_tool(self.mcp_name, arguments))

    def __repr__(self) -> str:
        return f"McpTool({self.name!r}, server={self.toolset.name!r})"


class McpToolset:
    """The tools of one MCP server, as a :class:`~agentdown.tools.toolset.Toolset`.

    ``call_timeout`` / ``connect_timeout`` / ``allow`` / ``tool_prefix`` default to
    the config's ``timeout`` / ``connect_timeout`` / ``tools`` / ``tool_prefix``, then
    to 120 s / 15 s / every tool / none. ``token_provider`` replaces the Azure
    credential for servers with ``auth``. Close with :meth:`aclose` (or ``async with``).
    """

    def __init__(
        self,
        name: str,
        config: McpServerConfig,
        *,
        call_timeout: float | None = None,
        connect_timeout: float | None = None,
        allow: Sequence[str] | None = None,
        tool_prefix: str | None = None,
        token_provider: TokenProvider | None = None,
    ) -> None:
        self.name = name
        """The toolset's name (the server's name in ``mcp.json``), used in every message."""
        self.config = config
        self.call_timeout = call_timeout or config.timeout or DEFAULT_CALL_TIMEOUT
        """Seconds one tool call may take before the model is told it timed out."""
        self.connect_timeout = connect_timeout or config.connect_timeout or DEFAULT_CONNECT_TIMEOUT
        """Seconds to connect and handshake (and to answer each ``tools/list`` page)."""
        self.allow: tuple[str, ...] | None = tuple(allow) if allow is not None else config.tools
        """Tool-name patterns to expose (``*`` wildcards, matched on the server's names); ``None``: all."""
        self.tool_prefix = config.tool_prefix if tool_prefix is None else tool_prefix
        """Prepended to the names the model sees."""
        self.token_provider = token_provider
        self._allowed = _allowed(self.allow)
        self._tools: list[McpTool] | None = None
        self._guard = threading.Lock()
        self._connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Connection] = (
            weakref.WeakKeyDictionary()
        )
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self.list_count = 0
        """How many times the tool list was fetched from the server."""

    def __repr__(self) -> str:
        return f"McpToolset({self.name!r}, {self.config.describe()})"

    def unavailable(self, cause: str) -> McpConnectionError:
        """The error for this server being unreachable, naming it, where it is and ``cause``."""
        return McpConnectionError(
            f"MCP server {self.name!r} ({self.config.describe()}) is unavailable: {cause}"
        )

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        with self._guard:
            return self._locks.setdefault(loop, asyncio.Lock())

    def _connection(self) -> Connection:
        """This loop's connection, started if needed (call with the loop's lock held)."""
        loop = asyncio.get_running_loop()
        with self._guard:
            connection = self._connections.get(loop)
            if connection is None or connection.broken:
                connection = self._connections[loop] = Connection(self)
        return connection

    async def _connect(self) -> tuple[Connection, Client]:
        async with self._lock():
            connection = self._connection()
        return connection, await connection.client(self.connect_timeout)

    async def _drop(self, connection: Connection) -> None:
        loop = asyncio.get_running_loop()
        with self._guard:
            if self._connections.get(loop) is connection:  # not a newer one another call opened
                del self._connections[loop]
        await connection.close()

    def invalidate(self) -> None:
        """Forget the cached tool list; the next :meth:`list_tools` fetches it again."""
        self._tools = None

    async def list_tools(self) -> list[McpTool]:
        """The allowed tools (fetched on first use, then cached). Raises :class:`McpConnectionError`."""
        tools = self._tools
        if tools is not None:
            return list(tools)
        async with self._lock():
            if self._tools is None:
                self._tools = await self._fetch()
            return list(self._tools)

    async def refresh(self) -> list[McpTool]:
        """Fetch the tool list again, now."""
        self.invalidate()
        return await self.list_tools()

    async def _fetch(self) -> list[McpTool]:
        if not self.config.load_tools:
            return []
        connection = self._connection()  # list_tools holds the lock
        client = await connection.client(self.connect_timeout)
        specs: list[types.Tool] = []
        cursor: str | None = None
        try:
            for _ in range(_MAX_PAGES):
                async with asyncio.timeout(self.connect_timeout):
                    page = await client.list_tools(cursor=cursor)
                specs.extend(page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    break
        except Exception as exc:
            await connection.close()
            reason = "tools/list timed out" if isinstance(exc, TimeoutError) else cause_text(exc)
            raise self.unavailable(f"listing its tools failed: {reason}") from exc
        self.list_count += 1
        taken: set[str] = set()
        tools = [McpTool(self, spec, _name_for(spec.name, self.tool_prefix, taken)) for spec in specs]
        allowed = [t for t in tools if self._allowed(t.mcp_name)]
        for pattern in self.allow or ():
            if "*" not in pattern and not any(t.mcp_name == pattern for t in tools):
                logger.warning(
                    "MCP server %r has no tool %r (listed in its tools allowlist)", self.name, pattern
                )
        for t in allowed:
            if t.name != self.tool_prefix + t.mcp_name:
                logger.info("MCP server %r: tool %r is called %r by the model", self.name, t.mcp_name, t.name)
        return allowed

    async def call_tool(self, mcp_name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        """Call a tool by its server-side name; failures become :class:`ToolError` for the model."""
        where = f"the MCP tool '{mcp_name}' (server '{self.name}')"
        try:
            connection, client = await self._connect()
        except McpConnectionError as exc:
            raise ToolError(f"{where} is unavailable: the server cannot be reached") from exc
        try:
            return await client.call_tool(mcp_name, arguments, read_timeout_seconds=self.call_timeout)
        except MCPError as exc:
            if exc.code == types.REQUEST_TIMEOUT:
                raise ToolError(f"{where} did not answer within {self.call_timeout:g} s") from exc
            if exc.code == types.CONNECTION_CLOSED:
                await self._drop(connection)
                raise ToolError(f"{where} failed: the server closed the connection") from exc
            raise ToolError(f"{where} failed: {exc.message}") from exc
        except (OSError, httpx2.HTTPError, anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
            await self._drop(connection)
            raise ToolError(f"{where} failed: the connection to the server broke") from exc

    async def aclose(self) -> None:
        """Close every connection (those of other event loops are closed on their own loop)."""
        current = asyncio.get_running_loop()
        with self._guard:
            connections = list(self._connections.items())
            self._connections.clear()
        for loop, connection in connections:
            if loop is current:
                await connection.close()
            elif loop.is_running() and not loop.is_closed():
                asyncio.run_coroutine_threadsafe(connection.close(), loop)

    async def __aenter__(self) -> McpToolset:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

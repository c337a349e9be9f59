"""The connection to one MCP server, owned by a background task.

The SDK's transports are anyio task groups that must be entered and exited by the
same task, which an agent run (or a request handler) cannot promise; so each
connection runs in a task of its own and callers only await its readiness.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import threading
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import IO, TYPE_CHECKING, Any, TextIO

import anyio
import httpx2
import mcp_types as types
from mcp.client import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from agentdown.exceptions import AgentdownError
from agentdown.version import __version__

if TYPE_CHECKING:
    from agentdown.tools.mcp.toolset import McpToolset

__all__ = ["Connection", "McpConnectionError", "TokenProvider", "cause_text"]

logger = logging.getLogger("agentdown.mcp")

TokenProvider = Callable[[str], Awaitable[str]]
"""``async (scope) -> bearer token``, for servers configured with ``auth``."""


class McpConnectionError(AgentdownError):
    """An MCP server could not be reached, or its handshake or tool listing failed."""


def _root_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup):
        inner = [e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)] or list(
            exc.exceptions
        )
        exc = inner[0]
    return exc


def cause_text(exc: BaseException, stderr: Sequence[str] = ()) -> str:
    """Why a connection failed, for a person: the root cause, not the task-group wrapping."""
    exc = _root_cause(exc)
    if isinstance(exc, httpx2.HTTPStatusError):
        text = f"HTTP {exc.response.status_code} {exc.response.reason_phrase}"
    elif isinstance(exc, FileNotFoundError):
        text = f"command not found: {exc.filename or exc}"
    elif isinstance(exc, MCPError) and exc.code == types.CONNECTION_CLOSED:
        text = "the server closed the connection (for a command: the process exited)"
    elif isinstance(exc, MCPError):
        text = f"the server answered with an error: {exc.message} (MCP error {exc.code})"
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if stderr:
        text += "; its stderr ended with:\n  " + "\n  ".join(stderr)
    return text


class _StderrPump:
    """Forwards a stdio server's stderr to the log and keeps its last lines for error messages."""

    def __init__(self, server: str) -> None:
        read_fd, write_fd = os.pipe()
        self.writer: TextIO = os.fdopen(write_fd, "w")
        self.tail: collections.deque[str] = collections.deque(maxlen=15)
        reader = os.fdopen(read_fd, "rb")
        threading.Thread(
            target=self._pump, args=(reader, server), daemon=True, name=f"mcp-stderr-{server}"
        ).start()

    def _pump(self, reader: IO[bytes], server: str) -> None:
        with reader:
            for raw in reader:
                line = raw.decode("utf-8", "replace").rstrip()
                self.tail.append(line)
                logger.info("[mcp %s] %s", server, line)

    def close(self) -> None:
        # The child holds its own copy; closing ours lets the pump end when the child does.
        with contextlib.suppress(OSError):
            self.writer.close()


class _BearerAuth(httpx2.Auth):
    def __init__(self, provider: TokenProvider, scope: str) -> None:
        self.provider, self.scope = provider, scope

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        request.headers["Authorization"] = f"Bearer {await self.provider(self.scope)}"
        yield request


def _azure_token_provider(client_id: str | None) -> TokenProvider:
    tokens: dict[str, tuple[str, float]] = {}

    async def provide(scope: str) -> str:
        token, expires = tokens.get(scope, ("", 0.0))
        if expires - 300 > time.time():
            return token
        from azure.identity.aio import DefaultAzureCredential, ManagedIdentityCredential

        credential = ManagedIdentityCredential(client_id=client_id) if client_id else DefaultAzureCredential()
        async with credential:
            access = await credential.get_token(scope)
        tokens[scope] = (access.token, float(access.expires_on))
        return access.token

    return provide


class Connection:
    """One MCP session, entered and exited by its own task."""

    def __init__(self, toolset: McpToolset) -> None:
        self.toolset = toolset
        self.ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
        self.stop = asyncio.Event()
        self.broken = False
        self.stderr: _StderrPump | None = None
        self.task = asyncio.create_task(self._run(), name=f"mcp-connection-{toolset.name}")

    async def _transport(self, stack: contextlib.AsyncExitStack) -> Any:
        config, toolset = self.toolset.config, self.toolset
        if config.transport == "stdio":
            self.stderr = _StderrPump(toolset.name)
            params = StdioServerParameters(
                command=config.command or "", args=list(config.args), env=dict(config.env), cwd=config.cwd
            )
            return stdio_client(params, errlog=self.stderr.writer)
        auth: httpx2.Auth | None = None
        if config.auth is not None:
            provider = toolset.token_provider or _azure_token_provider(config.auth.client_id)
            auth = _BearerAuth(provider, config.auth.scope)
        timeout = httpx2.Timeout(toolset.connect_timeout, read=max(300.0, toolset.call_timeout))
        if config.transport == "sse":
            return sse_client(
                config.url or "", headers=dict(config.headers), timeout=toolset.connect_timeout, auth=auth
            )
        http = httpx2.AsyncClient(headers=dict(config.headers), timeout=timeout, auth=auth)
        await stack.enter_async_context(http)
        return streamable_http_client(config.url or "", http_client=http)

    async def _watch_tools(self, client: Client) -> None:
        # 2026-07-28 servers announce list changes only on a subscriptions/listen stream.
        try:
            async with client.listen(tools_list_changed=True) as subscription:
                async for _ in subscription:
                    self.toolset.invalidate()
        except Exception as exc:  # the tool list then stays cached until refresh()
            logger.debug("MCP server %r: no tool list notifications: %r", self.toolset.name, exc)

    async def _on_message(self, message: types.ServerNotification | Exception) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self.toolset.invalidate()
        elif isinstance(message, Exception):
            logger.debug("MCP server %r transport: %r", self.toolset.name, message)

    async def _run(self) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = Client(
                    await self._transport(stack),
                    cache=None,
                    message_handler=self._on_message,
                    client_info=types.Implementation(name="agentdown", version=__version__),
                )
                await stack.enter_async_context(client)
                if self.stderr:
                    self.stderr.close()
                watcher = await stack.enter_async_context(anyio.create_task_group())
                tools = client.server_capabilities.tools
                if client.protocol_version in MODERN_PROTOCOL_VERSIONS and tools and tools.list_changed:
                    watcher.start_soon(self._watch_tools, client)
                self.ready.set_result(client)
                await self.stop.wait()
                watcher.cancel_scope.cancel()
        except BaseException as exc:
            if not self.ready.done():
                self.ready.set_exception(
                    exc if isinstance(exc, Exception) else ConnectionAbortedError("cancelled")
                )
                self.ready.exception()  # the waiters report it; never "exception was never retrieved"
            elif isinstance(exc, Exception):
                level = logging.DEBUG if self.stop.is_set() else logging.WARNING
                logger.log(
                    level, "MCP server %r: the connection ended: %s", self.toolset.name, cause_text(exc)
                )
            if not isinstance(exc, Exception):
                raise
        finally:
            self.broken = True
            if self.stderr:
                self.stderr.close()

    async def client(self, timeout: float) -> Client:
        try:
            return await asyncio.wait_for(asyncio.shield(self.ready), timeout)
        except TimeoutError:
            await self.close()
            raise self.toolset.unavailable(f"no MCP handshake within {timeout:g} s") from None
        except Exception as exc:
            await self.close()
            raise self.toolset.unavailable(cause_text(exc, self.stderr.tail if self.stderr else ())) from exc

    async def close(self) -> None:
        self.broken = True
        if self.ready.done() and self.ready.exception() is None:
            self.stop.set()  # a clean exit: the session and transport shut down in their own task
        else:
            self.task.cancel()
        # asyncio.wait neither raises the task's outcome nor swallows our own cancellation.
        await asyncio.wait([self.task], timeout=15)

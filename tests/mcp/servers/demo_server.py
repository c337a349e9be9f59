"""A real MCP server (the ``mcp`` SDK's MCPServer) for the MCP toolset tests.

Usage: ``python demo_server.py stdio`` or ``python demo_server.py {streamable-http|sse}``;
the HTTP modes listen on a free loopback port and print ``PORT <n>`` on stdout.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from typing import Any

import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.utilities.types import Image
from mcp_types import EmbeddedResource, TextResourceContents

# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f0d0000000049454e44ae426082"
)


class CountingServer(MCPServer):
    list_calls = 0

    async def list_tools(self) -> Any:
        CountingServer.list_calls += 1
        return await super().list_tools()


server = CountingServer("demo")


@server.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return f"echo: {text}"


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def whoami(ctx: Context) -> str:
    """The request headers the server received (HTTP only)."""
    headers = ctx.headers or {}
    return json.dumps({k: headers.get(k) for k in ("x-tenant", "authorization", "x-literal")})


@server.tool()
def env_var(name: str) -> str:
    """An environment variable of the server process."""
    return os.environ.get(name, "<unset>")


@server.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await asyncio.sleep(seconds)
    return "done"


@server.tool()
def fail(message: str) -> str:
    """Always fails with the message."""
    raise ToolError(message)


@server.tool(structured_output=False)
def picture() -> list[Any]:
    """A caption and an image."""
    return ["a red dot", Image(data=PNG, format="png")]


@server.tool(structured_output=False)
def document() -> EmbeddedResource:
    """An embedded text resource."""
    return EmbeddedResource(
        type="resource", resource=TextResourceContents(uri="file:///notes.txt", text="notes")
    )


@server.tool()
def list_calls() -> int:
    """How many times tools/list was answered."""
    return CountingServer.list_calls


@server.tool()
def crash() -> str:
    """Kill the server process."""
    os._exit(3)


@server.tool()
async def grow(ctx: Context) -> str:
    """Add a tool named `extra` and tell the client its tool list changed."""
    server.add_tool(lambda: "extra!", name="extra", description="Added at run time.")
    await ctx.notify_tools_changed()  # to subscriptions/listen streams (2026-07-28 connections)
    return "grown"


@server.tool(name="search.docs")
def search_docs(query: str) -> str:
    """Search the documentation (a dotted name)."""
    return f"docs for {query}"


@server.tool()
def search_code(query: str) -> str:
    """Search the code."""
    return f"code for {query}"


@server.tool()
def get_issue(number: int) -> str:
    """Fetch an issue."""
    return f"issue {number}"


async def serve_http(transport: str) -> None:
    app = server.streamable_http_app() if transport == "streamable-http" else server.sse_app()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    await uv.serve(sockets=[sock])


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "stdio":
        print("demo server starting", file=sys.stderr, flush=True)
        server.run("stdio")
    else:
        asyncio.run(serve_http(mode))

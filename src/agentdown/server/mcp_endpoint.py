"""Agents as MCP tools on one streamable-HTTP MCP server, at ``/mcp`` and ``/runtime/webhooks/mcp``.

Each agent with ``builtin_endpoints.mcp`` is a tool named after its slug (the Azure
Functions agents runtime's naming) whose description is the agent's. Arguments:
``prompt`` and an optional ``session_id`` to continue a conversation; the result is
the ``/chat`` JSON ``{"session_id", "response", "tool_calls"}`` as text (and as
structured content). The transport is stateless, so any ``serve`` process can answer
any request; the conversation lives in the session store, named by ``session_id``.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from starlette.requests import HTTPConnection
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from agentdown.app.spec import AgentSpec
from agentdown.server.auth import gate_level
from agentdown.server.context import SESSION_ID, ServerContext
from agentdown.server.errors import ApiError, client_message, json_error
from agentdown.server.sse import result_summary, tool_calls_of
from agentdown.version import __version__

__all__ = ["McpEndpoint"]

_CONN = "agentdown.connection"
_INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "prompt": {"type": "string", "description": "Prompt text sent to the agent."},
        "session_id": {
            "type": "string",
            "pattern": r"^[A-Za-z0-9._-]{1,128}$",
            "description": "To continue a conversation, the session_id of an earlier result; omit to start a new one.",
        },
    },
    "required": ["prompt"],
    "additionalProperties": False,
}


class McpEndpoint:
    """The ASGI endpoint: key check, then the SDK's streamable-HTTP session manager."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx
        self.specs = {s.slug: s for s in ctx.catalog.specs.values() if s.builtin_endpoints.mcp}
        self.level = gate_level(s.http_auth.mode for s in self.specs.values())
        server: Server[Any] = Server(
            "agentdown",
            version=__version__,
            instructions="Each tool is an agent: give it a prompt; pass session_id back to continue.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
        )
        self.manager = StreamableHTTPSessionManager(
            app=server, stateless=True, max_request_body_size=ctx.settings.max_body_bytes
        )

    def routes(self) -> list[Route]:
        return [Route("/mcp", self), Route("/runtime/webhooks/mcp", self)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        conn = HTTPConnection(scope)
        if not self.specs:
            await json_error(404, "no agent of this app has MCP enabled", "not_found")(scope, receive, send)
            return
        try:
            self.ctx.authorizer.require(conn, self.level)
        except ApiError as exc:
            await json_error(exc.status, exc.message, exc.code)(scope, receive, send)
            return
        scope.setdefault("state", {})[_CONN] = conn
        await self.manager.handle_request(scope, receive, send)

    def _connection(self, request: Any) -> HTTPConnection | None:
        scope = getattr(request, "scope", None)
        return scope.get("state", {}).get(_CONN) if isinstance(scope, dict) else None

    def _allowed(self, request: Any, spec: AgentSpec) -> str | None:
        conn = self._connection(request)
        if conn is None:
            return "the request's credentials are unknown"
        try:
            self.ctx.authorizer.require_agent(conn, spec.http_auth)
        except ApiError as exc:
            return exc.message
        return None

    async def _list_tools(
        self, ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        tools = [
            types.Tool(
                name=spec.slug, title=spec.name, description=spec.description, input_schema=_INPUT_SCHEMA
            )
            for spec in self.specs.values()
            if self._allowed(ctx.request, spec) is None
        ]
        return types.ListToolsResult(tools=tools)

    async def _call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        spec = self.specs.get(params.name)
        if spec is None:
            raise MCPError(
                types.INVALID_PARAMS, f"unknown tool {params.name!r}; the tools are: {', '.join(self.specs)}"
            )
        refused = self._allowed(ctx.request, spec)
        if refused is not None:
            return _failure(f"unauthorized: {refused}", "unauthorized")
        arguments = params.arguments or {}
        prompt = arguments.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return _failure("'prompt' must be a non-empty string", "missing_prompt")
        unknown = sorted(set(arguments) - {"prompt", "session_id"})
        if unknown:
            return _failure(
                f"unknown argument(s) {unknown}; expected prompt and session_id", "invalid_arguments"
            )
        session_id = arguments.get("session_id")
        if session_id is not None and not (isinstance(session_id, str) and SESSION_ID.match(session_id)):
            return _failure(
                "'session_id' must be 1-128 characters from A-Z a-z 0-9 . _ - (a session_id of an earlier result)",
                "invalid_session_id",
            )
        try:
            turn = await self.ctx.runner.run(spec.slug, prompt, session_id=session_id)
        except Exception as exc:
            message, code = client_message(exc)
            return _failure(message, code)
        body = {
            "session_id": turn.session_id,
            "response": turn.result.text,
            "tool_calls": tool_calls_of(turn.result),
            **result_summary(turn.result),
        }
        return types.CallToolResult(
            content=[types.TextContent(text=json.dumps(body, ensure_ascii=False, default=str))],
            structured_content=body,
        )


def _failure(message: str, code: str) -> types.CallToolResult:
    body = {"error": message, "code": code}
    return types.CallToolResult(
        content=[types.TextContent(text=json.dumps(body, ensure_ascii=False))],
        structured_content=body,
        is_error=True,
    )

"""Agents as MCP tools on one streamable-HTTP MCP server, at ``/mcp`` and ``/runtime/webhooks/mcp``.

Each agent with ``builtin_endpoints.mcp`` is a tool named after its slug (the Azure
Functions agents runtime's naming) whose description is the agent's. Arguments:
``prompt`` and an optional ``session_id`` to continue a conversation; the result is
the ``/chat`` JSON ``{"session_id", "response", "tool_calls"}`` as text (and as
structured content). A run that waits for approvals answers ``status:
"requires_action"`` with the pending calls and how to answer: a second call with the
same ``session_id`` and ``approvals`` (or ``tool_outputs``, or ``discard``). The transport is stateless, so any ``serve`` process can answer
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
from agentdown.server.turns import discard_body, parse_turn_request, refusal, turn_body
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
        "approvals": {
            "type": "object",
            "additionalProperties": {"type": "boolean"},
            "description": "Answer a result with status requires_action: tool_call_id -> true (run it) or false.",
        },
        "tool_outputs": {
            "type": "object",
            "description": "Answer a result with status requires_action: tool_call_id -> the tool's result.",
        },
        "discard": {
            "type": "boolean",
            "description": "Drop the pending turn of session_id without running it.",
        },
    },
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
        if scope["method"] != "POST":
            # Stateless: no session to stream server messages of (GET) or to end (DELETE). The
            # SDK would hold a GET open forever, one idle connection per request.
            await json_error(
                405,
                "the MCP endpoint is stateless: send JSON-RPC requests with POST",
                "method_not_allowed",
                headers={"allow": "POST"},
            )(scope, receive, send)
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
        arguments = dict(params.arguments or {})
        unknown = sorted(set(arguments) - set(_INPUT_SCHEMA["properties"]))
        if unknown:
            return _failure(
                f"unknown argument(s) {unknown}; expected {', '.join(_INPUT_SCHEMA['properties'])}",
                "invalid_arguments",
            )
        session_id = arguments.pop("session_id", None)
        if session_id is not None and not (isinstance(session_id, str) and SESSION_ID.match(session_id)):
            return _failure(
                "'session_id' must be 1-128 characters from A-Z a-z 0-9 . _ - (a session_id of an earlier result)",
                "invalid_session_id",
            )
        conn = self._connection(ctx.request)
        principal = self.ctx.authorizer.principal(conn) if conn is not None else None
        runner = self.ctx.runner
        try:
            asked = parse_turn_request(arguments)
            if (asked.decisions is not None or asked.discard) and session_id is None:
                return _failure("answering a pending turn needs its 'session_id'", "missing_session_id")
            if asked.discard:
                assert session_id is not None
                body = await discard_body(runner, spec.slug, session_id, principal)
            else:
                if asked.decisions is not None:
                    assert session_id is not None
                    turn = await runner.resume(spec.slug, session_id, asked.decisions, principal=principal)
                else:
                    assert asked.prompt is not None
                    turn = await runner.run(
                        spec.slug, asked.prompt, session_id=session_id, principal=principal
                    )
                body = turn_body(turn, runner.agent(spec.slug).model.model_name)
                if turn.result.requires_action:
                    body["response"] = _waiting_text(body)
        except ApiError as exc:
            return _failure(exc.message, exc.code, exc.extra)
        except Exception as exc:
            answer = refusal(exc, session_id)
            if answer is not None:
                return _failure(answer.message, answer.code, answer.extra)
            message, code = client_message(exc)
            return _failure(message, code)
        return types.CallToolResult(
            content=[types.TextContent(text=json.dumps(body, ensure_ascii=False, default=str))],
            structured_content=body,
        )


def _waiting_text(body: dict[str, Any]) -> str:
    """What a model reading the tool result needs: what waits, and the exact call that answers it."""
    lines = [f"The agent is waiting before it runs {len(body['pending'])} tool call(s); nothing has run yet."]
    for call in body["pending"]:
        what = "approve or deny" if call["kind"] == "approval" else "supply the result of"
        args = json.dumps(call["arguments"], ensure_ascii=False)
        lines.append(f"- {what} {call['tool_name']} {args} (tool_call_id {call['tool_call_id']})")
    example = json.dumps({"session_id": body["session_id"], **body["resume"]["send"]}, ensure_ascii=False)
    lines.append(f"To answer, call this tool again with: {example}")
    return "\n".join(lines)


def _failure(message: str, code: str, extra: dict[str, Any] | None = None) -> types.CallToolResult:
    body = {"error": message, "code": code, **(extra or {})}
    return types.CallToolResult(
        content=[types.TextContent(text=json.dumps(body, ensure_ascii=False))],
        structured_content=body,
        is_error=True,
    )

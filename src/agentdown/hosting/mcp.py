"""The MCP tool of each agent with ``builtin_endpoints.mcp``: ``agent_<slug>_builtin_mcp``.

An ``mcpToolTrigger`` named after the slug, described by the agent's description, served
by the Functions MCP extension at ``/runtime/webhooks/mcp`` (as under the Azure Functions
agents runtime). Arguments: ``prompt`` (required) and agentdown's optional ``session_id``;
a call without one continues the MCP client's session (``sessionId`` of the invocation,
hashed into a valid id when it is not one). The result is the ``/chat`` JSON as text; a
run that waits for approvals says so (``status: requires_action`` and what to send back:
``approvals`` / ``tool_outputs`` / ``discard`` with the same ``session_id``).
"""

# No `from __future__ import annotations`: the worker reads the handler's annotations.

import hashlib
import json
import logging
from typing import Any

import azure.functions as func

from agentdown.app.spec import AgentSpec
from agentdown.hosting.state import HostedApp

__all__ = ["TOOL_PROPERTIES", "register_mcp_tool"]

logger = logging.getLogger("agentdown.hosting")

TOOL_PROPERTIES = json.dumps(
    [
        {
            "propertyName": "prompt",
            "propertyType": "string",
            "description": "Prompt text sent to the agent.",
            "isRequired": True,
            "isArray": False,
        },
        {
            "propertyName": "session_id",
            "propertyType": "string",
            "description": "To continue a conversation, the session_id of an earlier result; omit to start one.",
            "isRequired": False,
            "isArray": False,
        },
    ]
)


def _session_of(payload: dict[str, Any], arguments: dict[str, Any]) -> str | None:
    from agentdown.server.context import SESSION_ID

    given = arguments.pop("session_id", None)
    if given is not None:
        if not isinstance(given, str) or not SESSION_ID.match(given):
            raise ValueError("'session_id' must be 1-128 characters from A-Z a-z 0-9 . _ -")
        return given
    transport = payload.get("sessionId") or payload.get("sessionid")
    if not isinstance(transport, str) or not transport.strip():
        return None
    value = transport.strip()
    # The extension's transport session id is not ours to shape: map it into a valid id.
    return value if SESSION_ID.match(value) else "mcp-" + hashlib.sha256(value.encode()).hexdigest()


async def call_agent(hosted: HostedApp, spec: AgentSpec, context: str) -> str:
    """One MCP tool call: the trigger's JSON context in, the tool's text result out."""
    from agentdown.server.errors import ApiError, client_message
    from agentdown.server.turns import discard_body, parse_turn_request, refusal, turn_body

    session_id: str | None = None
    try:
        payload = json.loads(context) if context else {}
        if not isinstance(payload, dict):
            raise ValueError("the MCP tool context is not a JSON object")
        arguments = payload.get("arguments") or {}
        if not isinstance(arguments, dict):
            raise ValueError("the tool's arguments are not a JSON object")
        arguments = dict(arguments)
        session_id = _session_of(payload, arguments)
        asked = parse_turn_request(arguments)
        runner = hosted.runner
        if asked.discard or asked.decisions is not None:
            if session_id is None:
                raise ValueError("answering a pending turn needs its 'session_id'")
            if asked.discard:
                return json.dumps(await discard_body(runner, spec.slug, session_id, None), default=str)
            assert asked.decisions is not None
            turn = await runner.resume(spec.slug, session_id, asked.decisions)
        else:
            assert asked.prompt is not None
            turn = await runner.run(spec.slug, asked.prompt.strip(), session_id=session_id)
        body = turn_body(turn, runner.agent(spec.slug).model.model_name)
        return json.dumps(body, ensure_ascii=False, default=str)
    except ApiError as exc:
        return json.dumps({"error": exc.message, "code": exc.code, **exc.extra}, default=str)
    except ValueError as exc:
        return json.dumps({"error": str(exc), "code": "invalid_arguments"})
    except Exception as exc:
        answer = refusal(exc, session_id)
        if answer is not None:
            return json.dumps({"error": answer.message, "code": answer.code, **answer.extra}, default=str)
        message, code = client_message(exc)
        logger.exception("MCP tool %s failed", spec.slug)
        return json.dumps({"error": message, "code": code})


def register_mcp_tool(app: func.FunctionApp, hosted: HostedApp, spec: AgentSpec) -> str:
    name = f"agent_{spec.slug}_builtin_mcp"

    async def mcp_agent_chat(context: str) -> str:
        return await call_agent(hosted, spec, context)

    trigger = app.mcp_tool_trigger(
        arg_name="context", tool_name=spec.slug, description=spec.description, tool_properties=TOOL_PROPERTIES
    )
    app.function_name(name=name)(trigger(mcp_agent_chat))
    return name

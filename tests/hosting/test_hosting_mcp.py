"""The MCP tool trigger, invoked with the context the Functions MCP extension sends."""

from __future__ import annotations

import json

from _hosting_kit import Hosted


async def test_an_mcp_tool_call_runs_the_agent_and_continues_its_session(hosted: Hosted) -> None:
    context = {"name": "main", "arguments": {"prompt": "time?"}, "sessionId": "transport/1 2"}
    result = json.loads(await hosted.call("agent_main_builtin_mcp", json.dumps(context)))
    assert result["response"] == "Done. Tool results: clock: 12:00"
    assert result["session_id"].startswith("mcp-")
    again = {"name": "main", "arguments": {"prompt": "more", "session_id": result["session_id"]}}
    second = json.loads(await hosted.call("agent_main_builtin_mcp", json.dumps(again)))
    assert second["session_id"] == result["session_id"]
    history = await hosted.app.agentdown.runner.history("main", result["session_id"])  # type: ignore[attr-defined]
    assert [m.text for m in history if m.role == "user"] == ["time?", "more"]


async def test_a_call_without_a_prompt_is_an_error_result(hosted: Hosted) -> None:
    result = json.loads(await hosted.call("agent_main_builtin_mcp", json.dumps({"arguments": {}})))
    assert result["code"] == "missing_prompt"
    bad = json.loads(
        await hosted.call(
            "agent_main_builtin_mcp", json.dumps({"arguments": {"prompt": "x", "session_id": "a/b"}})
        )
    )
    assert bad["code"] == "invalid_arguments"

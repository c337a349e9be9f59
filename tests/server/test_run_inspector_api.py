"""The run inspector's record: ``steps`` on /chat and the ``step`` event of /chatstream.

Each step is one model call (its tokens and time) and the tool calls it asked for
(arguments, result, time), read from the run steps the loop records.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from serverkit import HELPER, TOOLS, live_server, parse_sse, post_json, write_app

from agentdown.messages import Message
from agentdown.testing import CallInfo, Reply, ToolCalls, tool_call

APPROVAL_TOOL = '''
from agentdown import tool


@tool(approval_mode="always_require")
def delete_file(path: str) -> str:
    """Delete a file (asks first)."""
    return f"deleted {path}"
'''


def _usage_sum(steps: list[dict[str, Any]], key: str) -> int:
    return sum(s["usage"][key] for s in steps)


async def test_chat_answers_each_model_call_with_its_tool_calls_tokens_and_times(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"helper.agent.md": HELPER, "tools/lookup.py": TOOLS})
    async with live_server(app) as live, aiohttp.ClientSession() as http:
        status, _, body = await post_json(http, f"{live.url}/agents/helper/chat", {"prompt": "Paris?"})
    assert status == 200
    steps = body["steps"]
    assert [s["step_type"] for s in steps] == ["tool_calls", "message_creation"]
    assert all(s["status"] == "completed" for s in steps)
    (call,) = steps[0]["tool_calls"]
    assert call["tool_call_id"] == body["tool_calls"][0]["tool_call_id"]
    assert (call["tool_name"], call["arguments"], call["result"], call["is_error"]) == (
        "lookup",
        {"city": "test"},
        "test: sunny",
        False,
    )
    # The tool sleeps 50 ms; the step spans its model call and its tool call.
    assert call["duration"] >= 0.04
    assert steps[0]["duration"] >= call["duration"]
    assert steps[0]["started_at"] <= call["started_at"] <= steps[0]["completed_at"]
    assert steps[1]["tool_calls"] == []
    assert all(s["model_duration"] > 0 and s["usage"]["input_tokens"] > 0 for s in steps)
    # The per-call tokens add up to the run's.
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        assert _usage_sum(steps, key) == body["usage"][key]
    assert len(live.fake.requests) == 2


async def test_stream_sends_a_step_event_per_model_call(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"helper.agent.md": HELPER, "tools/lookup.py": TOOLS})
    async with (
        live_server(app) as live,
        aiohttp.ClientSession() as http,
        http.post(f"{live.url}/agents/helper/chatstream", json={"prompt": "Paris?"}) as response,
    ):
        events = parse_sse(await response.text())
    names = [n for n, _ in events]
    # A tool step ends after its tool ran; the answer's step before "done".
    assert names.index("tool_end") < names.index("step") < names.index("delta")
    assert names[-2:] == ["step", "done"]
    steps = [d for n, d in events if n == "step"]
    assert all(d["type"] == "step" for d in steps)
    assert [s["step_type"] for s in steps] == ["tool_calls", "message_creation"]
    end = next(d for n, d in events if n == "tool_end")
    (call,) = steps[0]["tool_calls"]
    assert call["tool_call_id"] == end["tool_call_id"] and call["result"] == end["result"]
    assert call["duration"] == end["duration"]
    done = events[-1][1]
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        assert _usage_sum(steps, key) == done["usage"][key] > 0


def approve_model(messages: list[Message], info: CallInfo) -> Reply:
    if messages[-1].role == "tool":
        return "gone"
    return ToolCalls(tool_call("delete_file", {"path": "a.txt"}, call_id="call_del"), text="Checking.")


async def test_a_paused_step_is_sent_again_completed_after_the_resume(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"helper.agent.md": HELPER, "tools/files.py": APPROVAL_TOOL})
    url_of = "{}/agents/helper/chatstream".format
    async with live_server(app, approve_model) as live, aiohttp.ClientSession() as http:
        async with http.post(url_of(live.url), json={"prompt": "delete a.txt"}) as response:
            session_id = response.headers["x-ms-session-id"]
            first = parse_sse(await response.text())
        async with http.post(
            url_of(live.url), json={"approvals": {"call_del": True}}, headers={"x-ms-session-id": session_id}
        ) as response:
            second = parse_sse(await response.text())
    (paused,) = [d for n, d in first if n == "step"]
    assert paused["status"] == "in_progress" and paused["completed_at"] is None and paused["duration"] is None
    assert paused["tool_calls"][0]["result"] is None
    resumed = [d for n, d in second if n == "step"]
    assert resumed[0]["step_id"] == paused["step_id"]
    assert resumed[0]["status"] == "completed"
    assert resumed[0]["tool_calls"][0]["result"] == "deleted a.txt"
    assert [s["step_type"] for s in resumed] == ["tool_calls", "message_creation"]


def unknown_tool_model(messages: list[Message], info: CallInfo) -> Reply:
    if messages[-1].role == "tool":
        return "could not"
    return ToolCalls(tool_call("no_such_tool", {"x": 1}, call_id="call_ghost"))


async def test_a_call_that_never_ran_has_its_error_result_and_no_timing(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"helper.agent.md": HELPER, "tools/lookup.py": TOOLS})
    async with live_server(app, unknown_tool_model) as live, aiohttp.ClientSession() as http:
        status, _, body = await post_json(http, f"{live.url}/agents/helper/chat", {"prompt": "go"})
    assert status == 200
    (call,) = body["steps"][0]["tool_calls"]
    assert call["tool_call_id"] == "call_ghost" and call["tool_name"] == "no_such_tool"
    assert call["arguments"] == {"x": 1}
    assert call["is_error"] is True and "does not exist" in call["result"]
    assert call["started_at"] is None and call["duration"] is None

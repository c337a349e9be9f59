"""The requests the chat page makes for a paused turn, and what a forged one gets.

The page only ever names call ids the server gave it; these tests send what a hostile
page (or a second tab) could: made-up call ids, another session's call ids, a prompt
while the turn waits. Nothing may run, and the waiting turn must stay answerable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
from serverkit import HELPER, Live, live_server, parse_sse, post_json, write_app

from agentdown.messages import Message
from agentdown.testing import CallInfo, Reply, tool_call

TOOLS = '''
from pathlib import Path

from agentdown import tool

RAN = Path(__file__).resolve().parent.parent / "ran.log"


@tool(approval_mode="always_require")
def delete_file(path: str) -> str:
    """Delete a file (asks first)."""
    with RAN.open("a", encoding="utf-8") as log:
        log.write(path + "\\n")
    return f"deleted {path}"
'''

XSS = '<img src=x onerror="window.pwned=1">'


def model(messages: list[Message], info: CallInfo) -> Reply:
    last = messages[-1]
    if last.role == "tool":
        return "Done: " + (last.contents[0].text or "")
    return [tool_call("delete_file", {"path": f"{last.text} {XSS}"})]


async def _paused(live: Live, http: aiohttp.ClientSession, prompt: str) -> tuple[str, str]:
    """A new session paused on one call: ``(session id, call id)``."""
    async with http.post(f"{live.url}/agents/helper/chatstream", json={"prompt": prompt}) as response:
        assert response.status == 200
        events = parse_sse(await response.text())
    done = events[-1][1]
    assert done["type"] == "done" and done["status"] == "requires_action"
    [call] = done["pending"]
    assert call["arguments"] == {"path": f"{prompt} {XSS}"}  # as the model sent them, unescaped JSON
    return done["session_id"], call["tool_call_id"]


async def _resume(live: Live, http: aiohttp.ClientSession, sid: str, approvals: dict[str, Any]) -> Any:
    url = f"{live.url}/agents/helper/chatstream"
    headers = {"x-ms-session-id": sid}
    async with http.post(url, json={"approvals": approvals}, headers=headers) as response:
        return response.status, parse_sse(await response.text())


async def test_forged_and_foreign_call_ids_run_nothing_and_the_turn_stays_answerable(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"helper.agent.md": HELPER, "tools/ops.py": TOOLS})
    ran = app / "ran.log"
    async with live_server(app, model) as live, aiohttp.ClientSession() as http:
        sid_a, call_a = await _paused(live, http, "a.txt")
        sid_b, call_b = await _paused(live, http, "b.txt")
        assert call_a != call_b

        # A made-up id, and session A's call answered on session B: refused, nothing runs.
        for sid, approvals in ((sid_a, {"call_forged": True}), (sid_b, {call_a: True})):
            status, events = await _resume(live, http, sid, approvals)
            assert status == 200
            error = events[-1][1]
            assert error["type"] == "error" and error["code"] == "invalid_decisions", error
        # Both answered on one session: B's id is not pending there.
        status, events = await _resume(live, http, sid_a, {call_a: True, call_b: True})
        assert events[-1][1]["code"] == "invalid_decisions"
        assert "call_forged" not in str(await live.runner.history("helper", sid_a))
        assert not ran.exists()

        # /history still offers both waiting turns (what the page shows after a reload).
        for sid, call in ((sid_a, call_a), (sid_b, call_b)):
            async with http.get(f"{live.url}/agents/helper/history", headers={"x-ms-session-id": sid}) as r:
                body = await r.json()
            assert [c["tool_call_id"] for c in body["pending"]] == [call]
            assert body["pending"][0]["kind"] == "approval"

        # A second tab sending a prompt gets 409 with the calls, which the page then offers.
        status, _, refused = await post_json(
            http, f"{live.url}/agents/helper/chatstream", {"prompt": "hi"}, {"x-ms-session-id": sid_a}
        )
        assert status == 409 and refused["code"] == "turn_pending"
        assert [c["tool_call_id"] for c in refused["pending"]] == [call_a]

        # The right answer still works after all that.
        status, events = await _resume(live, http, sid_a, {call_a: True})
        assert events[-1][1]["type"] == "done" and events[-1][1]["status"] == "completed"
        assert ran.read_text(encoding="utf-8") == f"a.txt {XSS}\n"

        # Discard is /chat's; the page's request closes B without running it.
        status, _, body = await post_json(
            http, f"{live.url}/agents/helper/chat", {"discard": True}, {"x-ms-session-id": sid_b}
        )
        assert status == 200 and body["status"] == "discarded"
        assert [c["tool_call_id"] for c in body["discarded"]] == [call_b]
        assert ran.read_text(encoding="utf-8") == f"a.txt {XSS}\n"

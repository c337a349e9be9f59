"""/chat, /chatstream, /history, the chat page and /healthz, through the real HTTP stack."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import aiohttp
from serverkit import HELPER, TOOLS, agent_md, live_server, parse_sse, post_json, write_app


async def test_chat_runs_a_tool_and_continues_the_session(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"helper.agent.md": HELPER, "tools/lookup.py": TOOLS})
    async with live_server(app) as live, aiohttp.ClientSession() as http:
        status, headers, body = await post_json(http, f"{live.url}/agents/helper/chat", {"prompt": "Paris?"})
        assert status == 200
        assert set(body) >= {"session_id", "response", "tool_calls"}
        assert body["response"] == "Done. Tool results: lookup: test: sunny"
        assert body["tool_calls"] == [
            {
                "type": "tool_start",
                "tool_call_id": body["tool_calls"][0]["tool_call_id"],
                "tool_name": "lookup",
                "arguments": {"city": "test"},
                "result": "test: sunny",
            }
        ]
        assert body["status"] == "completed" and body["usage"]["total_tokens"] > 0
        session_id = body["session_id"]
        assert headers["x-ms-session-id"] == session_id

        status, headers, again = await post_json(
            http, f"{live.url}/agents/helper/chat", {"prompt": "and again"}, {"x-ms-session-id": session_id}
        )
        assert status == 200 and again["session_id"] == session_id
        # The model saw the whole conversation: both user turns.
        last = live.fake.requests[-2].body
        assert [m["content"] for m in last["messages"] if m["role"] == "user"] == ["Paris?", "and again"]


async def test_chatstream_events_and_history(tmp_path: Path) -> None:
    app = write_app(tmp_path, {"helper.agent.md": HELPER, "tools/lookup.py": TOOLS})
    async with live_server(app) as live, aiohttp.ClientSession() as http:
        async with http.post(f"{live.url}/agents/helper/chatstream", json={"prompt": "Paris?"}) as response:
            assert response.status == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            session_id = response.headers["x-ms-session-id"]
            events = parse_sse(await response.text())
        names = [name for name, _ in events]
        assert names[0] == "session" and names[-1] == "done"
        assert names.index("tool_start") < names.index("tool_end") < names.index("delta")
        assert all(data["type"] == name for name, data in events)
        assert events[0][1] == {"type": "session", "session_id": session_id}
        start = next(d for n, d in events if n == "tool_start")
        end = next(d for n, d in events if n == "tool_end")
        assert start == {
            "type": "tool_start",
            "tool_call_id": start["tool_call_id"],
            "tool_name": "lookup",
            "arguments": {"city": "test"},
        }
        assert end["tool_call_id"] == start["tool_call_id"] and end["result"] == "test: sunny"
        assert end["is_error"] is False and end["duration"] >= 0.05
        text = "".join(d["content"] for n, d in events if n == "delta")
        assert text == "Done. Tool results: lookup: test: sunny"
        assert events[-1][1]["status"] == "completed"

        # A given session id is continued (and echoed) by the stream too.
        async with http.post(
            f"{live.url}/agents/helper/chatstream",
            json={"prompt": "thanks"},
            headers={"x-ms-session-id": session_id},
        ) as response:
            assert parse_sse(await response.text())[0][1]["session_id"] == session_id

        async with http.get(
            f"{live.url}/agents/helper/history", headers={"x-ms-session-id": session_id}
        ) as r:
            assert r.status == 200
            history = await r.json()
        assert history["truncated"] is False
        assert [(m["role"], m["text"]) for m in history["messages"]] == [
            ("user", "Paris?"),
            ("assistant", "Done. Tool results: lookup: test: sunny"),
            ("user", "thanks"),
            ("assistant", "Done. Tool results: lookup: test: sunny"),
        ]
        call = history["messages"][1]["tool_calls"][0]
        assert (call["tool_name"], call["arguments"], call["result"]) == (
            "lookup",
            {"city": "test"},
            "test: sunny",
        )

        async with http.get(f"{live.url}/agents/helper/history") as r:
            assert await r.json() == {"messages": [], "truncated": False}
        async with http.get(f"{live.url}/agents/helper/history", headers={"x-ms-session-id": "unknown"}) as r:
            assert (await r.json())["messages"] == []


async def test_history_keeps_the_newest_entries(tmp_path: Path) -> None:
    from dataclasses import replace

    from agentdown.server import ServerSettings

    app = write_app(tmp_path, {"helper.agent.md": HELPER})
    settings = replace(ServerSettings(port=0), history_limit=3)
    async with live_server(app, settings=settings) as live, aiohttp.ClientSession() as http:
        headers = {"x-ms-session-id": "s1"}
        for prompt in ("one", "two", "three"):
            await post_json(http, f"{live.url}/agents/helper/chat", {"prompt": prompt}, headers)
        async with http.get(f"{live.url}/agents/helper/history", headers=headers) as r:
            history = await r.json()
        assert history["truncated"] is True
        assert [m["text"] for m in history["messages"]] == ["Echo: two", "three", "Echo: three"]


async def test_endpoints_follow_builtin_endpoints(tmp_path: Path) -> None:
    files = {
        "helper.agent.md": HELPER,
        "api_only.agent.md": "---\nname: API\ndescription: d\nbuiltin_endpoints: {chat_api: true}\n---\nx\n",
        "hidden.agent.md": "---\nname: Hidden\ndescription: d\n---\nx\n",
    }
    async with live_server(write_app(tmp_path, files)) as live, aiohttp.ClientSession() as http:
        async with http.get(f"{live.url}/agents/helper/") as r:
            assert r.status == 200 and r.headers["content-type"].startswith("text/html")
            policy = r.headers["content-security-policy"]
            page = await r.text()
        assert "default-src 'none'" in policy and "script-src 'sha256-" in policy
        assert "unsafe-inline" not in policy
        assert '"slug": "helper"' in page
        assert not re.search(r"(src|href)=[\"']?(https?:)?//", page)  # self-contained: nothing from a CDN
        async with http.get(f"{live.url}/agents/api_only/") as r:
            assert r.status == 404 and (await r.json())["code"] == "agent_not_found"
        status, _, body = await post_json(http, f"{live.url}/agents/api_only/chat", {"prompt": "hi"})
        assert status == 200 and body["response"] == "Echo: hi"
        status, _, body = await post_json(http, f"{live.url}/agents/hidden/chat", {"prompt": "hi"})
        assert status == 404 and body == {
            "error": "no agent 'hidden' with the chat API here",
            "code": "agent_not_found",
        }
        # The Azure Functions route prefix works too.
        status, _, body = await post_json(http, f"{live.url}/api/agents/helper/chat", {"prompt": "hi"})
        assert status == 200 and body["response"] == "Echo: hi"
        async with http.get(f"{live.url}/healthz") as r:
            assert await r.json() == {"status": "ok", "version": r_version(), "agents": 3}


def r_version() -> str:
    from agentdown import __version__

    return __version__


async def test_page_escapes_agent_metadata(tmp_path: Path) -> None:
    evil = "---\nname: \"</script><script>alert(1)</script>\"\ndescription: '<b>&'\nbuiltin_endpoints: true\n---\nx\n"
    async with (
        live_server(write_app(tmp_path, {"evil.agent.md": evil})) as live,
        aiohttp.ClientSession() as http,
        http.get(f"{live.url}/agents/evil/") as r,
    ):
        page = await r.text()
    assert "</script><script>alert(1)" not in page
    assert "\\u003c/script\\u003e" in page


async def test_timer_triggers_run_with_the_server(tmp_path: Path) -> None:
    timer = agent_md(
        "name: Ticker\ndescription: d\n"
        "trigger: {type: timer_trigger, args: {schedule: '0 0 0 1 1 *', run_on_startup: true, use_monitor: false}}"
    )
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data"), "AGENTDOWN_DRAIN_SECONDS": "2"}
    async with live_server(write_app(tmp_path, {"ticker.agent.md": timer}), environ=env) as live:
        for _ in range(300):
            if live.fake.requests:
                break
            await asyncio.sleep(0.02)
        prompt = live.fake.requests[0].body["messages"][-1]["content"]
    assert prompt.startswith("Triggered by: timer_trigger\n\nTrigger data:\n```json\n")

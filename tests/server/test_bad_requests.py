"""Bad requests get a precise 4xx JSON error; failures never show a stack trace; disconnects."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from serverkit import HELPER, SLOW_TOOL, agent_md, live_server, parse_sse, post_json, write_app

from agentdown.messages import Message
from agentdown.server import ServerSettings
from agentdown.testing import CallInfo, Reply, tool_call


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        (b'{"prompt": ', 400, "invalid_json", "the request body is not valid JSON: Expecting value"),
        (b"", 400, "invalid_json", "the request body is empty: expected a JSON object"),
        (b"[1, 2]", 400, "invalid_request", "expected a JSON object, got a JSON array"),
        (b"\xff\xfe", 400, "invalid_json", "the request body is not UTF-8 text"),
        (b"{}", 400, "missing_prompt", 'the request body needs "prompt": a non-empty string (got nothing)'),
        (b'{"prompt": "  "}', 400, "missing_prompt", "(got a blank string)"),
        (b'{"prompt": ""}', 400, "missing_prompt", "(got an empty string)"),
        (b'{"prompt": 3}', 400, "missing_prompt", "(got a JSON number)"),
    ],
)
async def test_bad_bodies(tmp_path: Path, body: bytes, status: int, code: str, message: str) -> None:
    async with (
        live_server(write_app(tmp_path, {"helper.agent.md": HELPER})) as live,
        aiohttp.ClientSession() as http,
    ):
        for route in ("chat", "chatstream"):
            async with http.post(f"{live.url}/agents/helper/{route}", data=body) as response:
                assert response.status == status
                assert response.headers["content-type"] == "application/json"
                error = await response.json()
            assert error["code"] == code and message in error["error"]
        assert live.fake.requests == []


async def test_bad_session_id_route_and_method(tmp_path: Path) -> None:
    async with (
        live_server(write_app(tmp_path, {"helper.agent.md": HELPER})) as live,
        aiohttp.ClientSession() as http,
    ):
        for bad in ("../etc/passwd", "a" * 129, "x y"):
            status, _, error = await post_json(
                http, f"{live.url}/agents/helper/chat", {"prompt": "hi"}, {"x-ms-session-id": bad}
            )
            assert status == 400 and error["code"] == "invalid_session_id"
            assert bad not in error["error"]
        async with http.get(f"{live.url}/agents/helper/history", headers={"x-ms-session-id": "../x"}) as r:
            assert r.status == 400 and (await r.json())["code"] == "invalid_session_id"
        async with http.get(f"{live.url}/agents/helper/chat") as r:
            assert r.status == 405
            assert await r.json() == {
                "error": "GET is not allowed on /agents/helper/chat",
                "code": "method_not_allowed",
            }
        async with http.post(f"{live.url}/nowhere") as r:
            assert r.status == 404 and (await r.json())["code"] == "not_found"


async def test_oversized_bodies_are_refused(tmp_path: Path) -> None:
    settings = replace(ServerSettings(port=0), max_body_bytes=1000)
    app = write_app(tmp_path, {"helper.agent.md": HELPER})
    async with live_server(app, settings=settings) as live, aiohttp.ClientSession() as http:
        big = json.dumps({"prompt": "x" * 2000}).encode()
        async with http.post(f"{live.url}/agents/helper/chat", data=big) as r:
            assert r.status == 413
            assert await r.json() == {
                "error": f"request body too large: {len(big)} bytes, the limit is 1000",
                "code": "body_too_large",
            }

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
            for _ in range(20):
                yield b"x" * 100

        async with http.post(f"{live.url}/agents/helper/chatstream", data=chunks()) as r:
            assert r.status == 413
            assert (await r.json())["error"] == "request body too large: over 1000 bytes"
        status, _, body = await post_json(http, f"{live.url}/agents/helper/chat", {"prompt": "small"})
        assert status == 200 and body["response"] == "Echo: small"


def broken(messages: list[Message], info: CallInfo) -> Reply:
    raise RuntimeError("secret internals at /srv/app/config.py")


async def test_failures_are_logged_never_shown(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    app = write_app(tmp_path, {"helper.agent.md": HELPER})
    async with live_server(app, broken) as live, aiohttp.ClientSession() as http:
        # The model provider fails: a 502 naming the provider's error, no traceback.
        status, _, error = await post_json(http, f"{live.url}/agents/helper/chat", {"prompt": "hi"})
        assert status == 502 and error["code"] == "run_failed"
        assert "HTTP 500" in error["error"] and "Traceback" not in error["error"]
        async with http.post(f"{live.url}/agents/helper/chatstream", json={"prompt": "hi"}) as r:
            events = parse_sse(await r.text())
        assert [n for n, _ in events] == ["session", "error"]
        assert "HTTP 500" in events[1][1]["content"]

        # Something unexpected inside the server: logged with its traceback, the client gets an id.
        async def explode(*args: object, **kwargs: object) -> None:
            raise RuntimeError("secret internals at /srv/app/store.py")

        live.runner.history = explode  # type: ignore[method-assign,assignment]
        caplog.set_level(logging.ERROR, "agentdown.server")
        async with http.get(f"{live.url}/agents/helper/history", headers={"x-ms-session-id": "s"}) as r:
            assert r.status == 500
            body = await r.text()
        assert "secret" not in body and "Traceback" not in body
        error_id = json.loads(body)["error"].split("error id ")[1].split(";")[0]
        logged = [rec for rec in caplog.records if error_id in rec.getMessage()]
        assert logged and logged[0].exc_info is not None
        assert "secret internals" in str(logged[0].exc_info[1])


async def test_client_disconnect_cancels_the_run_and_keeps_the_session(tmp_path: Path) -> None:
    def slow(messages: list[Message], info: CallInfo) -> Reply:
        if messages[-1].text == "go":
            return [tool_call("wait_a_while", {"seconds": 30})]
        return "finished"

    app = write_app(tmp_path, {"helper.agent.md": HELPER, "tools/slow.py": SLOW_TOOL})
    async with live_server(app, slow) as live:
        async with aiohttp.ClientSession() as http:
            response = await http.post(
                f"{live.url}/agents/helper/chatstream",
                json={"prompt": "go"},
                headers={"x-ms-session-id": "s1"},
            )
            seen = b""
            while b"event: tool_start" not in seen:
                seen += await response.content.readany()
            response.close()  # the client goes away while the tool runs
        history: list[Message] = []
        for _ in range(200):
            history = await live.runner.history("helper", "s1")
            if history:
                break
            await asyncio.sleep(0.02)
        assert history[0].text == "go"
        calls = [c.call_id for m in history for c in m.tool_calls]
        answered = {c.call_id for m in history for c in m.tool_results}
        assert calls and set(calls) <= answered  # every call has its result: the session is consistent
        # The session goes on from there.
        async with aiohttp.ClientSession() as http:
            status, _, body = await post_json(
                http, f"{live.url}/agents/helper/chat", {"prompt": "again"}, {"x-ms-session-id": "s1"}
            )
        assert status == 200 and body["response"] == "finished"


async def test_run_timeout_is_a_504_and_a_stream_error(tmp_path: Path) -> None:
    def slow(messages: list[Message], info: CallInfo) -> Reply:
        return [tool_call("wait_a_while", {"seconds": 5})] if messages[-1].role == "user" else "late"

    agent = agent_md("name: Hasty\ndescription: d\nbuiltin_endpoints: true\ntimeout: 0.3")
    app = write_app(tmp_path, {"hasty.agent.md": agent, "tools/slow.py": SLOW_TOOL})
    async with live_server(app, slow) as live, aiohttp.ClientSession() as http:
        status, _, error = await post_json(http, f"{live.url}/agents/hasty/chat", {"prompt": "go"})
        assert status == 504 and error["code"] == "timeout"
        assert error["error"] == "the run exceeded its timeout; the session keeps the turn so far"
        async with http.post(f"{live.url}/agents/hasty/chatstream", json={"prompt": "go"}) as r:
            events = parse_sse(await r.text())
        names = [n for n, _ in events]
        assert names[0] == "session" and names[-1] == "error" and "tool_end" not in names
        assert events[-1][1]["code"] == "timeout"

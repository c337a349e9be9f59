"""FakeModelServer: routes, default one-tool turns, recording, faults, standalone and threaded use."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from typing import Any

import aiohttp
import pytest

from agentdown.exceptions import ModelHTTPError
from agentdown.messages import Content, Message
from agentdown.models import ChatResponse, OpenAIChatModel, TextDelta, ToolDefinition
from agentdown.testing import CallInfo, FakeModelServer, example_arguments

ADD = ToolDefinition(
    "add",
    "Add two integers.",
    {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}, "note": {"type": "string"}},
        "required": ["a", "b"],
    },
)


async def test_default_handler_makes_one_tool_turns() -> None:
    async with FakeModelServer() as srv, OpenAIChatModel("fake", base_url=srv.base_url, api_key="k") as model:
        history = [Message.user("What is 1 + 1?")]
        first = await model.complete(history, tools=[ADD])
        (call,) = first.message.tool_calls
        assert (call.name, call.arguments) == ("add", {"a": 1, "b": 1})
        history += [
            first.message,
            Message(role="tool", contents=[Content.from_tool_result(call.call_id or "", "2")]),
        ]
        second = await model.complete(history, tools=[ADD])
        assert second.message.text == "Done. Tool results: add: 2"
        assert not second.message.tool_calls
        echo = await model.complete([Message.user("hello")])
        assert echo.message.text == "Echo: hello"
        events = [e async for e in model.stream([Message.user("streamed hello")])]
        assert len([e for e in events if isinstance(e, TextDelta)]) > 1
        assert isinstance(events[-1], ChatResponse)
        assert events[-1].usage.total_tokens > 0


async def test_handler_gets_parsed_messages_tools_and_raw_request() -> None:
    seen: list[tuple[list[Message], CallInfo]] = []

    async def handler(messages: list[Message], info: CallInfo) -> str:
        seen.append((messages, info))
        return "ok"

    async with FakeModelServer(handler) as srv:
        async with OpenAIChatModel.azure(srv.url, "dep", api_version="2024-10-21", api_key="azk") as model:
            response = await model.complete([Message.system("s"), Message.user("u")], tools=[ADD])
        assert response.model == "dep"
    messages, info = seen[0]
    assert [(m.role, m.text) for m in messages] == [("system", "s"), ("user", "u")]
    assert [t.name for t in info.tools] == ["add"]
    assert info.stream is False
    assert info.request is not None
    assert info.request.path == "/openai/deployments/dep/chat/completions"
    recorded = srv.requests[0]
    assert recorded.method == "POST"
    assert recorded.query == {"api-version": "2024-10-21"}
    assert recorded.headers["api-key"] == "azk"
    assert recorded.body["messages"][1]["content"] == "u"


async def test_models_route_and_bad_requests() -> None:
    async with FakeModelServer(model="my-model") as srv, aiohttp.ClientSession() as session:
        async with session.get(f"{srv.base_url}/models") as resp:
            listing = await resp.json()
        assert listing["object"] == "list"
        assert listing["data"][0]["id"] == "my-model"
        async with session.post(f"{srv.base_url}/chat/completions", json={"nope": 1}) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["type"] == "invalid_request_error"
        async with session.post(f"{srv.base_url}/chat/completions", data=b"{not json") as resp:
            assert resp.status == 400
        assert [r.path for r in srv.requests] == ["/v1/models"] + ["/v1/chat/completions"] * 2
        assert srv.requests[2].body == "{not json"


async def test_handler_failure_is_a_500_with_message() -> None:
    def handler(messages: list[Message], info: CallInfo) -> str:
        raise KeyError("missing")

    async with (
        FakeModelServer(handler) as srv,
        OpenAIChatModel("m", base_url=srv.base_url, max_retries=0) as model,
    ):
        with pytest.raises(ModelHTTPError) as info:
            await model.complete([Message.user("x")])
    assert info.value.status == 500
    assert "handler failed: KeyError" in info.value.body


async def test_fault_queue_and_custom_headers() -> None:
    async with FakeModelServer() as srv:
        srv.fail_next(418, body="teapot", headers={"x-custom": "1"})
        async with OpenAIChatModel("m", base_url=srv.base_url) as model:
            with pytest.raises(ModelHTTPError) as info:
                await model.complete([Message.user("x")])
            assert info.value.status == 418
            assert info.value.body == "teapot"
            assert (await model.complete([Message.user("x")])).message.text == "Echo: x"


async def test_latency_is_applied() -> None:
    async with FakeModelServer(latency=0.2) as srv, OpenAIChatModel("m", base_url=srv.base_url) as model:
        start = time.perf_counter()
        await model.complete([Message.user("x")])
        assert time.perf_counter() - start >= 0.2


def test_in_thread_for_sync_code() -> None:
    with FakeModelServer().in_thread() as srv:
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "sync"}]}).encode()
        request = urllib.request.Request(
            f"{srv.base_url}/chat/completions", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request) as resp:
            data = json.loads(resp.read())
        assert data["choices"][0]["message"]["content"] == "Echo: sync"
        assert data["object"] == "chat.completion"
        assert data["usage"]["total_tokens"] > 0
        assert srv.requests[0].body["model"] == "m"


def test_standalone_process_prints_url_and_serves() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentdown.testing.fake_server",
            "--port",
            "0",
            "--latency-ms",
            "10",
            "--print-url",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        assert url.endswith("/v1")
        tools = [{"type": "function", "function": {"name": ADD.name, "parameters": ADD.parameters}}]
        body: dict[str, Any] = {
            "model": "m",
            "messages": [{"role": "user", "content": "2+2"}],
            "tools": tools,
        }
        request = urllib.request.Request(
            f"{url}/chat/completions",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            data = json.loads(resp.read())
        assert data["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "add"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
        assert proc.stdout is not None
        proc.stdout.close()


def test_example_arguments_from_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "n": {"type": "number"},
            "flag": {"type": "boolean"},
            "choice": {"enum": ["x", "y"]},
            "items": {"type": "array"},
            "maybe": {"type": ["null", "integer"]},
            "nested": {"type": "object", "properties": {"k": {"type": "integer"}}, "required": ["k"]},
            "union": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "optional": {"type": "string"},
        },
        "required": ["s", "n", "flag", "choice", "items", "maybe", "nested", "union"],
    }
    assert example_arguments(schema) == {
        "s": "test",
        "n": 1.0,
        "flag": True,
        "choice": "x",
        "items": [],
        "maybe": 1,
        "nested": {"k": 1},
        "union": 1,
    }

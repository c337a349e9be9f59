"""Our client parses responses and streams shaped like OpenAI's (and the SDK parses our fake server's)."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from aiohttp import web

from agentdown.exceptions import ModelError
from agentdown.messages import Message
from agentdown.models import (
    ChatResponse,
    ModelStreamEvent,
    OpenAIChatModel,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolDefinition,
)
from agentdown.testing import FakeModelServer, tool_call


class RawServer:
    """Answers chat requests with exactly the bytes queued, split into the given writes."""

    def __init__(self) -> None:
        self.replies: deque[tuple[int, str, list[bytes]]] = deque()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    def json(self, data: dict[str, Any], status: int = 200) -> None:
        self.replies.append((status, "application/json", [json.dumps(data).encode()]))

    def sse(self, writes: list[bytes]) -> None:
        self.replies.append((200, "text/event-stream", writes))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        status, content_type, writes = self.replies.popleft()
        response = web.StreamResponse(status=status, headers={"Content-Type": content_type})
        await response.prepare(request)
        for data in writes:
            await response.write(data)
            await asyncio.sleep(0)
        await response.write_eof()
        return response

    async def __aenter__(self) -> RawServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.fixture
async def raw() -> AsyncIterator[RawServer]:
    async with RawServer() as server:
        yield server


@pytest.fixture
async def model(raw: RawServer) -> AsyncIterator[OpenAIChatModel]:
    async with OpenAIChatModel("gpt-test", base_url=raw.base_url, api_key="k", max_retries=0) as m:
        yield m


def completion(
    message: dict[str, Any], finish: str = "stop", usage: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-test-2024",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage
        or {
            "prompt_tokens": 12,
            "completion_tokens": 5,
            "total_tokens": 17,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
        "service_tier": "default",
        "system_fingerprint": "fp_1",
    }


def chunk(
    delta: dict[str, Any] | None, finish: str | None = None, usage: dict[str, Any] | None = None
) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "gpt-test-2024",
        "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}],
        "usage": usage,
    }
    return f"data: {json.dumps(body)}\n\n".encode()


async def collect(
    model: OpenAIChatModel, tools: list[ToolDefinition] | None = None
) -> list[ModelStreamEvent]:
    return [e async for e in model.stream([Message.user("hi")], tools=tools or [])]


async def test_text_response(raw: RawServer, model: OpenAIChatModel) -> None:
    raw.json(completion({"role": "assistant", "content": "Hello!", "refusal": None, "annotations": []}))
    response = await model.complete([Message.user("hi")])
    assert response.message.role == "assistant"
    assert response.message.text == "Hello!"
    assert response.finish_reason == "stop"
    assert (response.model, response.response_id) == ("gpt-test-2024", "chatcmpl-abc")
    usage = response.usage
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens, usage.requests) == (12, 5, 17, 1)


async def test_parallel_tool_calls_and_invalid_arguments(raw: RawServer, model: OpenAIChatModel) -> None:
    calls = [
        {"id": "call_a", "type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'}},
        {"id": "call_b", "type": "function", "function": {"name": "add", "arguments": '{"a": 3, '}},
        {"id": "call_c", "type": "function", "function": {"name": "now", "arguments": ""}},
    ]
    raw.json(completion({"role": "assistant", "content": None, "tool_calls": calls}, finish="tool_calls"))
    response = await model.complete([Message.user("hi")])
    a, b, c = response.message.tool_calls
    assert (a.call_id, a.name, a.arguments, a.raw_arguments) == ("call_a", "add", {"a": 1, "b": 2}, None)
    assert (b.call_id, b.arguments, b.raw_arguments) == ("call_b", None, '{"a": 3, ')
    assert (c.name, c.arguments) == ("now", {})
    assert response.message.text == ""
    assert response.finish_reason == "tool_calls"


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
async def test_reasoning_fields(raw: RawServer, model: OpenAIChatModel, field: str) -> None:
    raw.json(completion({"role": "assistant", "content": "42", field: "Let me think."}))
    response = await model.complete([Message.user("hi")])
    kinds = [(c.type, c.text) for c in response.message.contents]
    assert kinds == [("reasoning", "Let me think."), ("text", "42")]
    assert response.message.text == "42"


async def test_non_json_body_is_a_model_error(raw: RawServer, model: OpenAIChatModel) -> None:
    raw.replies.append((200, "text/html", [b"<html>proxy login</html>"]))
    with pytest.raises(ModelError, match="invalid JSON"):
        await model.complete([Message.user("hi")])


async def test_stream_text_tool_calls_usage(raw: RawServer, model: OpenAIChatModel) -> None:
    args_a = '{"city": "Paris", "unit": "celsius"}'
    args_b = '{"city": "Oslo"}'
    writes = [chunk({"role": "assistant", "content": "", "refusal": None})]
    writes += [chunk({"content": piece}) for piece in ["Check", "ing ", "both."]]
    writes.append(
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": ""},
                    }
                ]
            }
        )
    )
    writes.append(
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "c2",
                        "type": "function",
                        "function": {"name": "weather", "arguments": ""},
                    }
                ]
            }
        )
    )
    # Fragments of both calls interleaved, a few characters at a time.
    for i in range(0, max(len(args_a), len(args_b)), 3):
        for index, args in ((0, args_a), (1, args_b)):
            if args[i : i + 3]:
                writes.append(
                    chunk({"tool_calls": [{"index": index, "function": {"arguments": args[i : i + 3]}}]})
                )
    writes.append(chunk({}, finish="tool_calls"))
    writes.append(chunk(None, usage={"prompt_tokens": 30, "completion_tokens": 20, "total_tokens": 50}))
    writes.append(b"data: [DONE]\n\n")
    raw.sse(writes)

    events = await collect(model)
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert texts == ["Check", "ing ", "both."]
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert (deltas[0].index, deltas[0].call_id, deltas[0].name) == (0, "c1", "weather")
    assert (deltas[1].index, deltas[1].call_id, deltas[1].name) == (1, "c2", "weather")
    assert "".join(d.arguments for d in deltas if d.index == 0) == args_a
    assert all(d.call_id is None for d in deltas[2:])
    final = events[-1]
    assert isinstance(final, ChatResponse)
    assert sum(isinstance(e, ChatResponse) for e in events) == 1
    assert final.message.text == "Checking both."
    calls = final.message.tool_calls
    assert [(c.call_id, c.arguments) for c in calls] == [
        ("c1", {"city": "Paris", "unit": "celsius"}),
        ("c2", {"city": "Oslo"}),
    ]
    assert final.finish_reason == "tool_calls"
    assert (final.usage.input_tokens, final.usage.output_tokens, final.usage.total_tokens) == (30, 20, 50)
    assert final.usage.requests == 1
    assert (final.response_id, final.model) == ("chatcmpl-s", "gpt-test-2024")


async def test_stream_reasoning_crlf_comments_and_byte_splits(raw: RawServer, model: OpenAIChatModel) -> None:
    body = b"".join(
        [
            b": keep-alive comment\r\n\r\n",
            chunk({"role": "assistant", "reasoning_content": "hmm "}).replace(b"\n", b"\r\n"),
            chunk({"reasoning": "ok"}).replace(b"\n", b"\r\n"),
            chunk({"content": "Done"}).replace(b"\n", b"\r\n"),
            chunk({"content": " \u00e9t\u00e9"}),
            chunk({}, finish="stop"),
            b"data: [DONE]\r\n\r\n",
        ]
    )
    # One byte per write: events, CRLF pairs and UTF-8 sequences all split across reads.
    raw.sse([body[i : i + 1] for i in range(len(body))])
    events = await collect(model)
    assert [e.text for e in events if isinstance(e, ReasoningDelta)] == ["hmm ", "ok"]
    final = events[-1]
    assert isinstance(final, ChatResponse)
    assert final.message.text == "Done \u00e9t\u00e9"
    assert [c.type for c in final.message.contents] == ["reasoning", "text"]
    assert final.usage.requests == 1
    assert final.usage.total_tokens == 0


async def test_stream_without_done_still_completes(raw: RawServer, model: OpenAIChatModel) -> None:
    raw.sse([chunk({"content": "partial"}), chunk({}, finish="length")[:-1]])
    events = await collect(model)
    final = events[-1]
    assert isinstance(final, ChatResponse)
    assert final.message.text == "partial"
    assert final.finish_reason == "length"


async def test_stream_error_event_raises(raw: RawServer, model: OpenAIChatModel) -> None:
    raw.sse(
        [chunk({"content": "a"}), b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n']
    )
    with pytest.raises(ModelError, match="overloaded"):
        await collect(model)


# -- the SDK parses what our fake server sends ------------------------------------------------


async def test_sdk_parses_fake_server_completion_and_tool_call() -> None:
    async with FakeModelServer() as srv, openai.AsyncOpenAI(base_url=srv.base_url, api_key="k") as client:
        tools: list[dict[str, Any]] = [
            {
                "type": "function",
                "function": {
                    "name": "add",
                    "description": "Add.",
                    "parameters": {
                        "type": "object",
                        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
                        "required": ["a", "b"],
                    },
                },
            }
        ]
        first = await client.chat.completions.create(
            model="fake",
            messages=[{"role": "user", "content": "add"}],
            tools=tools,  # type: ignore[arg-type]
        )
        message = first.choices[0].message
        assert first.choices[0].finish_reason == "tool_calls"
        assert message.tool_calls is not None
        call = message.tool_calls[0]
        assert call.function.name == "add"  # type: ignore[union-attr]
        assert json.loads(call.function.arguments) == {"a": 1, "b": 1}  # type: ignore[union-attr]
        assert first.usage is not None
        assert first.usage.total_tokens > 0
        second = await client.chat.completions.create(
            model="fake",
            messages=[
                {"role": "user", "content": "add"},
                message.model_dump(exclude_none=True),  # type: ignore[list-item]
                {"role": "tool", "tool_call_id": call.id, "content": "2"},
            ],
            tools=tools,  # type: ignore[arg-type]
        )
        assert second.choices[0].message.content == "Done. Tool results: add: 2"
        assert second.object == "chat.completion"
        assert second.model == "fake"


async def test_sdk_parses_fake_server_stream() -> None:
    def handler(messages: list[Message], info: Any) -> Any:
        reply = [tool_call("lookup", {"query": "a fairly long query string"}, call_id="c9")]
        return reply if info.tools else "streamed answer text"

    tools: list[dict[str, Any]] = [
        {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    ]
    async with (
        FakeModelServer(handler) as srv,
        openai.AsyncOpenAI(base_url=srv.base_url, api_key="k") as client,
    ):
        create: Any = client.chat.completions.create
        stream = await create(
            model="fake",
            messages=[{"role": "user", "content": "q"}],
            tools=tools,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in stream]
        fragments = [
            tc.function.arguments or ""
            for c in chunks
            if c.choices
            for tc in c.choices[0].delta.tool_calls or []
            if tc.function is not None
        ]
        assert len(fragments) > 3
        assert json.loads("".join(fragments)) == {"query": "a fairly long query string"}
        first_call = next(
            c.choices[0].delta.tool_calls for c in chunks if c.choices and c.choices[0].delta.tool_calls
        )
        assert first_call is not None
        assert first_call[0].id == "c9"
        assert chunks[-1].choices == []
        assert chunks[-1].usage is not None
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"

        text_stream = await client.chat.completions.create(
            model="fake", messages=[{"role": "user", "content": "q"}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in text_stream if c.choices])
        assert text == "streamed answer text"

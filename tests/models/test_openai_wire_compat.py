"""What our client puts on the wire equals what the openai SDK sends for the same inputs.

Compared: the JSON body parsed (so key order and whitespace are free: the SDK puts
``model`` first, we put ``messages`` first), the method, path, query string and the
auth headers. The README states exactly this.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest

from agentdown.messages import Content, Message
from agentdown.models import ChatOptions, OpenAIChatModel, ToolDefinition
from agentdown.testing import FakeModelServer, RecordedRequest

PNG = b"\x89PNG\r\n\x1a\nfake-image-bytes"
PNG_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}

OURS: list[Message] = [
    Message.system("You are terse."),
    Message(
        role="user",
        contents=[
            Content.from_text("What is in these pictures?"),
            Content.from_data(PNG, "image/png"),
            Content.from_uri("https://example.com/cat.jpg", "image/jpeg"),
        ],
    ),
    Message(
        role="assistant",
        contents=[
            Content.from_reasoning("not sent back"),
            Content.from_text("Let me look."),
            Content.from_tool_call("lookup", {"q": "cat", "n": 2}, call_id="call_1"),
            Content.from_tool_call("broken", None, call_id="call_2", raw_arguments='{"x": '),
        ],
    ),
    Message(
        role="tool",
        contents=[
            Content.from_tool_result("call_1", "a cat", name="lookup"),
            Content.from_tool_result("call_2", "invalid arguments", is_error=True),
        ],
    ),
    Message.user("Thanks!"),
]

SDK_MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "You are terse."},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in these pictures?"},
            {"type": "image_url", "image_url": {"url": PNG_URI}},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
        ],
    },
    {
        "role": "assistant",
        "content": "Let me look.",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup", "arguments": json.dumps({"q": "cat", "n": 2})},
            },
            {"id": "call_2", "type": "function", "function": {"name": "broken", "arguments": '{"x": '}},
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
    {"role": "tool", "tool_call_id": "call_2", "content": "invalid arguments"},
    {"role": "user", "content": "Thanks!"},
]

TOOLS = [
    ToolDefinition(
        "lookup", "Look something up.", {"type": "object", "properties": {"q": {"type": "string"}}}
    ),
    ToolDefinition("broken", "Never works.", {"type": "object", "properties": {}}),
]
SDK_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
    }
    for t in TOOLS
]

OPTIONS = ChatOptions(
    temperature=0.2,
    top_p=0.9,
    max_output_tokens=100,
    stop=["END"],
    seed=7,
    tool_choice="required",
    parallel_tool_calls=False,
    response_format={
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True},
    },
    user="user-1",
    extra_body={"reasoning_effort": "low"},
)
SDK_OPTIONS: dict[str, Any] = {
    "temperature": 0.2,
    "top_p": 0.9,
    "max_completion_tokens": 100,
    "stop": ["END"],
    "seed": 7,
    "tool_choice": "required",
    "parallel_tool_calls": False,
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True},
    },
    "user": "user-1",
    "extra_body": {"reasoning_effort": "low"},
}


@pytest.fixture
async def srv() -> AsyncIterator[FakeModelServer]:
    async with FakeModelServer(handler=lambda messages, info: "ok") as server:
        yield server


async def _ours(model: OpenAIChatModel, *, stream: bool) -> None:
    async with model:
        if stream:
            events = [e async for e in model.stream(OURS, tools=TOOLS, options=OPTIONS)]
            assert events[-1].message.text == "ok"  # type: ignore[union-attr]
        else:
            response = await model.complete(OURS, tools=TOOLS, options=OPTIONS)
            assert response.message.text == "ok"


async def _sdk(client: openai.AsyncOpenAI, model: str, *, stream: bool) -> None:
    async with client:
        if stream:
            # Typed loosely: the SDK's overloads cannot see through **SDK_OPTIONS.
            create: Any = client.chat.completions.create
            chunks = await create(
                model=model,
                messages=SDK_MESSAGES,
                tools=SDK_TOOLS,
                stream=True,
                stream_options={"include_usage": True},
                **SDK_OPTIONS,
            )
            text = "".join([c.choices[0].delta.content or "" async for c in chunks if c.choices])
        else:
            response = await client.chat.completions.create(
                model=model,
                messages=SDK_MESSAGES,  # type: ignore[arg-type]
                tools=SDK_TOOLS,  # type: ignore[arg-type]
                **SDK_OPTIONS,
            )
            text = response.choices[0].message.content or ""
    assert text == "ok"


def _last_two(srv: FakeModelServer) -> tuple[RecordedRequest, RecordedRequest]:
    assert len(srv.requests) == 2
    return srv.requests[0], srv.requests[1]


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_body_equals_sdk_body(srv: FakeModelServer, stream: bool) -> None:
    await _ours(OpenAIChatModel("gpt-4o-mini", base_url=srv.base_url, api_key="sk-ours"), stream=stream)
    await _sdk(openai.AsyncOpenAI(base_url=srv.base_url, api_key="sk-ours"), "gpt-4o-mini", stream=stream)
    ours, sdk = _last_two(srv)
    assert ours.body == sdk.body
    assert (ours.method, ours.path, ours.query) == (sdk.method, sdk.path, sdk.query)
    assert ours.headers["authorization"] == sdk.headers["authorization"] == "Bearer sk-ours"
    assert ours.headers["content-type"] == "application/json"
    assert ours.headers["user-agent"].startswith("agentdown/")
    if stream:
        assert ours.body["stream"] is True
        assert ours.body["stream_options"] == {"include_usage": True}
    else:
        assert "stream" not in ours.body


async def test_minimal_request_equals_sdk(srv: FakeModelServer) -> None:
    async with OpenAIChatModel("m", base_url=srv.base_url, api_key="k") as model:
        await model.complete([Message.user("hi")])
    async with openai.AsyncOpenAI(base_url=srv.base_url, api_key="k") as client:
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    ours, sdk = _last_two(srv)
    assert ours.body == sdk.body == {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("stream", [False, True])
async def test_azure_deployment_form_with_api_key(srv: FakeModelServer, stream: bool) -> None:
    model = OpenAIChatModel.azure(srv.url, "my-dep", api_version="2024-10-21", api_key="azure-key")
    await _ours(model, stream=stream)
    client = openai.AsyncAzureOpenAI(azure_endpoint=srv.url, api_key="azure-key", api_version="2024-10-21")
    await _sdk(client, "my-dep", stream=stream)
    ours, sdk = _last_two(srv)
    assert ours.path == sdk.path == "/openai/deployments/my-dep/chat/completions"
    assert ours.query == sdk.query == {"api-version": "2024-10-21"}
    assert ours.headers["api-key"] == sdk.headers["api-key"] == "azure-key"
    assert "authorization" not in ours.headers
    assert "authorization" not in sdk.headers
    assert ours.body == sdk.body


async def test_azure_deployment_named_by_client_matches_sdk(srv: FakeModelServer) -> None:
    async with OpenAIChatModel.azure(srv.url, "dep-a", api_version="2025-01-01", api_key="k") as model:
        await model.complete([Message.user("hi")])
    async with openai.AsyncAzureOpenAI(
        azure_endpoint=srv.url, azure_deployment="dep-a", api_key="k", api_version="2025-01-01"
    ) as client:
        await client.chat.completions.create(model="dep-a", messages=[{"role": "user", "content": "hi"}])
    ours, sdk = _last_two(srv)
    assert (ours.path, ours.query) == (sdk.path, sdk.query)
    assert ours.body == sdk.body


@pytest.mark.parametrize("asynchronous", [False, True])
async def test_azure_entra_token_provider_sends_bearer(srv: FakeModelServer, asynchronous: bool) -> None:
    calls: list[int] = []

    def sync_token() -> str:
        calls.append(1)
        return f"entra-{len(calls)}"

    async def async_token() -> str:
        return sync_token()

    provider = async_token if asynchronous else sync_token
    async with OpenAIChatModel.azure(
        srv.url, "dep", api_version="2024-10-21", token_provider=provider
    ) as model:
        await model.complete([Message.user("one")])
        await model.complete([Message.user("two")])
    async with openai.AsyncAzureOpenAI(
        azure_endpoint=srv.url, azure_ad_token_provider=lambda: "entra-sdk", api_version="2024-10-21"
    ) as client:
        await client.chat.completions.create(model="dep", messages=[{"role": "user", "content": "one"}])
    first, second, sdk = srv.requests
    # Called per request, so a refreshed token is picked up.
    assert first.headers["authorization"] == "Bearer entra-1"
    assert second.headers["authorization"] == "Bearer entra-2"
    assert sdk.headers["authorization"] == "Bearer entra-sdk"
    assert "api-key" not in first.headers
    assert "api-key" not in sdk.headers
    assert (first.path, first.query) == (sdk.path, sdk.query)


async def test_azure_v1_form_path_equals_sdk_with_v1_base_url(srv: FakeModelServer) -> None:
    async with OpenAIChatModel.azure(srv.url, "dep-v1", api_key="azure-key") as model:
        await model.complete([Message.user("hi")])
    async with openai.AsyncOpenAI(base_url=f"{srv.url}/openai/v1", api_key="azure-key") as client:
        await client.chat.completions.create(model="dep-v1", messages=[{"role": "user", "content": "hi"}])
    ours, sdk = _last_two(srv)
    assert ours.path == sdk.path == "/openai/v1/chat/completions"
    assert ours.query == sdk.query == {}
    assert ours.body == sdk.body
    assert ours.headers["api-key"] == "azure-key"


async def test_azure_endpoint_already_v1_is_used_as_is(srv: FakeModelServer) -> None:
    async with OpenAIChatModel.azure(f"{srv.url}/openai/v1/", "dep", api_key="k") as model:
        await model.complete([Message.user("hi")])
    assert srv.requests[0].path == "/openai/v1/chat/completions"


async def test_options_model_overrides_deployment_path(srv: FakeModelServer) -> None:
    async with OpenAIChatModel.azure(srv.url, "dep", api_version="2024-10-21", api_key="k") as model:
        await model.complete([Message.user("hi")], options=ChatOptions(model="other"))
    assert srv.requests[0].path == "/openai/deployments/other/chat/completions"
    assert srv.requests[0].body["model"] == "other"


async def test_max_tokens_field_for_old_servers(srv: FakeModelServer) -> None:
    async with OpenAIChatModel("m", base_url=srv.base_url, max_tokens_field="max_tokens") as model:
        await model.complete([Message.user("hi")], options=ChatOptions(max_output_tokens=5))
    body = srv.requests[0].body
    assert body["max_tokens"] == 5
    assert "max_completion_tokens" not in body
    # No key configured: no auth header at all (Ollama, llama.cpp, ...).
    assert "authorization" not in srv.requests[0].headers


async def test_tool_choice_only_sent_with_tools(srv: FakeModelServer) -> None:
    options = ChatOptions(tool_choice="auto", parallel_tool_calls=True)
    async with OpenAIChatModel("m", base_url=srv.base_url) as model:
        await model.complete([Message.user("hi")], options=options)
    assert "tool_choice" not in srv.requests[0].body
    assert "parallel_tool_calls" not in srv.requests[0].body

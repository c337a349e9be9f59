"""The OpenAI-compatible API, through the ``openai`` SDK."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest
from serverkit import HELPER, TOOLS, agent_md, live_server, write_app

from agentdown.messages import Message
from agentdown.server import Keys, ServerSettings
from agentdown.testing import CallInfo, Reply

HIDDEN = agent_md("name: Hidden\ndescription: d\nbuiltin_endpoints: {mcp: true}")


def sdk(url: str, key: str = "unused") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)


async def test_models_and_completions(tmp_path: Path) -> None:
    files = {"helper.agent.md": HELPER, "hidden.agent.md": HIDDEN, "tools/lookup.py": TOOLS}
    async with live_server(write_app(tmp_path, files)) as live:
        client = sdk(live.url)
        models = [m.id async for m in client.models.list()]
        assert models == ["helper"]
        assert (await client.models.retrieve("helper")).owned_by == "agentdown"

        completion = await client.chat.completions.create(
            model="helper",
            messages=[{"role": "user", "content": "Paris?"}],
            temperature=0.2,
            max_tokens=50,
        )
        assert completion.object == "chat.completion" and completion.model == "helper"
        assert completion.choices[0].message.content == "Done. Tool results: lookup: test: sunny"
        assert completion.choices[0].finish_reason == "stop"
        usage = completion.usage
        assert usage is not None and usage.prompt_tokens > 0 and usage.completion_tokens > 0
        assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
        sent = live.fake.requests[0].body
        assert sent["temperature"] == 0.2 and sent["max_completion_tokens"] == 50
        await client.close()


async def test_streaming_with_usage(tmp_path: Path) -> None:
    def answer(messages: list[Message], info: CallInfo) -> Reply:
        return "a fairly long answer, streamed in pieces"

    async with live_server(write_app(tmp_path, {"helper.agent.md": HELPER}), answer) as live:
        client = sdk(live.url)
        stream = await client.chat.completions.create(
            model="helper",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "go on"},
            ],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "a fairly long answer, streamed in pieces"
        assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
        # The client's conversation reached the model (stateless: nothing stored between calls).
        sent = [m["content"] for m in live.fake.requests[0].body["messages"]]
        assert sent[-3:] == ["hi", "hello", "go on"] and "Be brief." in sent
        await client.close()


async def test_errors_in_openai_shape(tmp_path: Path) -> None:
    keys = Keys(function=("function-key-0123456789",))
    settings = ServerSettings(port=0, keys=keys)
    async with live_server(write_app(tmp_path, {"helper.agent.md": HELPER}), settings=settings) as live:
        with pytest.raises(openai.AuthenticationError, match="the key is not accepted here"):
            await sdk(live.url, "wrong-key-012345678901").models.list()
        client = sdk(live.url, "function-key-0123456789")
        with pytest.raises(openai.NotFoundError) as missing:
            await client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
        assert missing.value.code == "model_not_found"
        assert "the models are: helper" in missing.value.message
        with pytest.raises(openai.BadRequestError, match="runs its own tools"):
            await client.chat.completions.create(
                model="helper",
                messages=[{"role": "user", "content": "x"}],
                tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
            )
        with pytest.raises(openai.BadRequestError, match="'messages' must be a non-empty list"):
            await client.chat.completions.create(model="helper", messages=[])
        with pytest.raises(openai.BadRequestError, match="unsupported parameter"):
            await client.chat.completions.create(
                model="helper", messages=[{"role": "user", "content": "x"}], extra_body={"frobnicate": 1}
            )
        ok = await client.chat.completions.create(model="helper", messages=[{"role": "user", "content": "x"}])
        assert ok.choices[0].message.content == "Echo: x"
        await client.close()

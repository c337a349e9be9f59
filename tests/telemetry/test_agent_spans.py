"""The span tree and attributes of a tool-using run against the loopback fake model server."""

from __future__ import annotations

import pytest
from otelkit import Otel, parent_of

from agentdown import Agent
from agentdown.models.openai_compat import OpenAIChatModel
from agentdown.testing import FakeModelServer

SECRET = "sk-test-secret-do-not-export-1234"


def lookup(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}, secret-result"


async def _run(stream: bool) -> None:
    async with (
        FakeModelServer() as fake,
        OpenAIChatModel("fake-model", base_url=fake.base_url, api_key=SECRET) as model,
    ):
        agent = Agent(model, "Be brief. secret-instructions", tools=[lookup], name="weather")
        if stream:
            async for _ in agent.run_stream("Weather in Paris? secret-prompt"):
                pass
        else:
            await agent.run("Weather in Paris? secret-prompt")


@pytest.mark.parametrize("stream", [False, True])
async def test_tool_run_span_tree(otel: Otel, stream: bool) -> None:
    await _run(stream)
    agent = otel.one("invoke_agent")
    chats = otel.named("chat ")
    tool = otel.one("execute_tool")
    assert agent.name == "invoke_agent weather"
    assert len(chats) == 2
    # One trace; model and tool spans are children of the agent span.
    assert {s.context.trace_id for s in otel.spans()} == {agent.context.trace_id}
    assert all(parent_of(s) == agent.context.span_id for s in [*chats, tool])
    assert agent.parent is None
    a = agent.attributes or {}
    assert a["gen_ai.operation.name"] == "invoke_agent"
    assert a["gen_ai.agent.name"] == "weather"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "fake-model"
    assert a["gen_ai.usage.input_tokens"] > 0
    first = chats[0]
    assert first.name == "chat fake-model"
    c = first.attributes or {}
    assert c["gen_ai.operation.name"] == "chat"
    assert c["gen_ai.request.model"] == "fake-model"
    assert c["gen_ai.response.model"]
    assert c["gen_ai.usage.input_tokens"] > 0 and c["gen_ai.usage.output_tokens"] >= 0
    assert c["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert c["server.address"] == "127.0.0.1"
    assert (chats[1].attributes or {})["gen_ai.response.finish_reasons"] == ("stop",)
    t = tool.attributes or {}
    assert tool.name == "execute_tool lookup"
    assert t["gen_ai.tool.name"] == "lookup"
    assert t["gen_ai.tool.call.id"]
    assert t["gen_ai.tool.type"] == "function"
    # The tool ran inside the first chat's reply and before the second chat started.
    assert first.end_time is not None and tool.start_time is not None and first.end_time <= tool.start_time


async def test_metrics_follow_the_conventions(otel: Otel) -> None:
    await _run(stream=False)
    metrics = otel.metrics()
    tokens = metrics["gen_ai.client.token.usage"]
    kinds = {p.attributes["gen_ai.token.type"] for p in tokens}
    assert kinds == {"input", "output"}
    assert all(p.attributes["gen_ai.operation.name"] == "chat" for p in tokens)
    assert tokens[0].explicit_bounds[:3] == (1, 4, 16)
    duration = metrics["gen_ai.client.operation.duration"]
    assert duration[0].count == 2 and duration[0].explicit_bounds[0] == 0.01
    runs = metrics["agentdown.runs"]
    assert [
        (p.attributes["agentdown.run.kind"], p.attributes["agentdown.run.status"], p.value) for p in runs
    ] == [("agent", "completed", 1)]


def _all_text(otel: Otel) -> str:
    return " ".join(f"{s.name} {dict(s.attributes or {})} {s.status.description}" for s in otel.spans())


@pytest.mark.parametrize("stream", [False, True])
async def test_content_is_off_by_default_and_secrets_never_exported(otel: Otel, stream: bool) -> None:
    await _run(stream)
    text = _all_text(otel)
    for marker in ("secret-prompt", "secret-instructions", "secret-result", "Paris", SECRET, "Bearer"):
        assert marker not in text
    assert not any(k.startswith("gen_ai.input") for s in otel.spans() for k in (s.attributes or {}))


@pytest.mark.parametrize("stream", [False, True])
async def test_content_capture_on(otel_content: Otel, stream: bool) -> None:
    await _run(stream)
    first = otel_content.named("chat ")[0].attributes or {}
    assert "secret-prompt" in str(first["gen_ai.input.messages"])
    assert "secret-instructions" in str(first["gen_ai.input.messages"])
    assert "lookup" in str(first["gen_ai.output.messages"])
    tool = otel_content.one("execute_tool").attributes or {}
    assert "Paris" in str(tool["gen_ai.tool.call.arguments"]) or "test" in str(
        tool["gen_ai.tool.call.arguments"]
    )
    assert "secret-result" in str(tool["gen_ai.tool.call.result"])
    # Content on, the API key is still nowhere.
    assert SECRET not in _all_text(otel_content)


async def test_off_means_no_spans_and_the_loop_unchanged() -> None:
    from agentdown import telemetry

    assert telemetry.active() is None
    await _run(stream=False)  # nothing installed: must just work


@pytest.mark.parametrize("stream", [False, True])
async def test_a_failed_model_call_marks_chat_and_run(otel: Otel, stream: bool) -> None:
    async with (
        FakeModelServer() as fake,
        OpenAIChatModel("fake-model", base_url=fake.base_url, api_key=SECRET, max_retries=0) as model,
    ):
        fake.fail_next(400)
        agent = Agent(model, tools=[lookup], name="weather")
        with pytest.raises(Exception, match="injected failure"):
            if stream:
                async for _ in agent.run_stream("hi"):
                    pass
            else:
                await agent.run("hi")
    chat = otel.one("chat ")
    run = otel.one("invoke_agent")
    assert (chat.attributes or {})["error.type"] == (run.attributes or {})["error.type"]
    assert not chat.status.is_ok and not run.status.is_ok
    assert "injected" not in str(chat.status.description)  # the message is not recorded
    duration = otel.metrics()["gen_ai.client.operation.duration"]
    assert [p.attributes.get("error.type") for p in duration] == [(chat.attributes or {})["error.type"]]
    assert "gen_ai.client.token.usage" not in otel.metrics()
    runs = otel.metrics()["agentdown.runs"]
    assert [(p.attributes["agentdown.run.status"], p.value) for p in runs] == [("failed", 1)]


async def test_a_stream_closed_early_ends_its_spans(otel: Otel) -> None:
    async with (
        FakeModelServer(fragment_size=1) as fake,
        OpenAIChatModel("fake-model", base_url=fake.base_url, api_key=SECRET) as model,
    ):
        events = Agent(model, name="weather").run_stream("a long question to echo back")
        async for event in events:
            if getattr(event, "type", "") == "text_delta":
                break
        await events.aclose()  # type: ignore[attr-defined]
    run = otel.one("invoke_agent")
    chat = otel.one("chat ")
    assert run.end_time is not None and chat.end_time is not None
    assert chat.parent is not None and chat.parent.span_id == run.context.span_id
    duration = otel.metrics()["gen_ai.client.operation.duration"]
    assert [p.attributes.get("error.type") for p in duration] == ["incomplete"]
    runs = otel.metrics()["agentdown.runs"]
    assert [p.attributes["agentdown.run.status"] for p in runs] == ["cancelled"]

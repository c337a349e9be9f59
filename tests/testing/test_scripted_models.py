"""ScriptedModel and FunctionModel."""

from __future__ import annotations

import json

import pytest

from agentdown.messages import Content, Message, Usage
from agentdown.models import (
    ChatModel,
    ChatOptions,
    ChatResponse,
    ModelStreamEvent,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolDefinition,
)
from agentdown.testing import (
    CallInfo,
    FunctionModel,
    ScriptedModel,
    ScriptExhaustedError,
    ToolCalls,
    tool_call,
)

TOOL = ToolDefinition("get_weather", "Weather for a city.", {"type": "object", "properties": {}})


async def test_scripted_replies_in_order_and_records_requests() -> None:
    model = ScriptedModel(
        [ToolCalls(tool_call("get_weather", {"city": "Paris"}, call_id="c1"), text="Checking."), "Sunny."]
    )
    assert isinstance(model, ChatModel)
    history = [Message.system("sys"), Message.user("Weather in Paris?")]
    options = ChatOptions(temperature=0.0)
    first = await model.complete(history, tools=[TOOL], options=options)
    assert first.message.text == "Checking."
    (call,) = first.message.tool_calls
    assert (call.call_id, call.name, call.arguments) == ("c1", "get_weather", {"city": "Paris"})
    assert first.finish_reason == "tool_calls"
    assert first.usage.requests == 1
    assert first.usage.input_tokens > 0
    assert first.usage.output_tokens > 0

    history.append(first.message)
    history.append(Message(role="tool", contents=[Content.from_tool_result("c1", "sunny, 21C")]))
    second = await model.complete(history, tools=[TOOL])
    assert second.message.text == "Sunny."
    assert second.finish_reason == "stop"

    assert len(model.requests) == 2
    assert model.remaining == 0
    assert [m.role for m in model.requests[1].messages] == ["system", "user", "assistant", "tool"]
    assert model.requests[0].tools == [TOOL]
    assert model.requests[0].options == options
    assert model.requests[0].stream is False
    # Requests are copies: later changes by the caller do not rewrite history.
    history[1].contents[0].text = "changed"
    assert model.requests[0].messages[1].text == "Weather in Paris?"


async def test_every_reply_form() -> None:
    explicit = ChatResponse(
        message=Message.assistant("explicit"), usage=Usage(1, 2, 3, 1), finish_reason="length"
    )
    model = ScriptedModel(
        [
            "text",
            tool_call("a", {"x": 1}),
            [tool_call("a", {"x": 1}), tool_call("b"), Content.from_text("and text")],
            Message(role="assistant", contents=[Content.from_reasoning("hmm"), Content.from_text("msg")]),
            explicit,
        ]
    )
    msgs = [Message.user("q")]
    assert (await model.complete(msgs)).message.text == "text"
    assert [c.name for c in (await model.complete(msgs)).message.tool_calls] == ["a"]
    third = (await model.complete(msgs)).message
    assert [c.name for c in third.tool_calls] == ["a", "b"]
    assert third.text == "and text"
    assert third.tool_calls[1].arguments == {}
    assert third.tool_calls[0].call_id != third.tool_calls[1].call_id
    fourth = (await model.complete(msgs)).message
    assert [c.type for c in fourth.contents] == ["reasoning", "text"]
    fifth = await model.complete(msgs)
    assert fifth.usage == Usage(1, 2, 3, 1)
    assert fifth.finish_reason == "length"


async def test_exception_reply_is_raised() -> None:
    model = ScriptedModel([RuntimeError("provider down"), "recovered"])
    with pytest.raises(RuntimeError, match="provider down"):
        await model.complete([Message.user("q")])
    assert (await model.complete([Message.user("q")])).message.text == "recovered"


async def test_running_out_is_a_clear_error() -> None:
    model = ScriptedModel(["only one"])
    await model.complete([Message.user("first")])
    with pytest.raises(ScriptExhaustedError, match=r"ran out of replies at request 2 .*user: 'second'"):
        await model.complete([Message.user("second")])
    model.add("more")
    assert (await model.complete([Message.user("third")])).message.text == "more"


async def test_bad_reply_types() -> None:
    with pytest.raises(TypeError, match="cannot use int"):
        await ScriptedModel([42]).complete([Message.user("q")])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="assistant message"):
        await ScriptedModel([Message.user("x")]).complete([Message.user("q")])
    with pytest.raises(TypeError):
        ToolCalls(Content.from_text("x"))


async def collect(stream: object) -> list[ModelStreamEvent]:
    return [e async for e in stream]  # type: ignore[attr-defined]


async def test_scripted_stream_deltas() -> None:
    reply = Message(
        role="assistant",
        contents=[
            Content.from_reasoning("think"),
            Content.from_text("Hello streaming world"),
            Content.from_tool_call("f", {"key": "value"}, call_id="c1"),
            Content.from_tool_call("g", {}, call_id="c2"),
        ],
    )
    model = ScriptedModel([reply], stream_chunk_size=5)
    events = await collect(model.stream([Message.user("q")]))
    assert "".join(e.text for e in events if isinstance(e, ReasoningDelta)) == "think"
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(texts) > 1
    assert "".join(texts) == "Hello streaming world"
    calls = [e for e in events if isinstance(e, ToolCallDelta)]
    assert (calls[0].index, calls[0].call_id, calls[0].name) == (0, "c1", "f")
    assert json.loads("".join(c.arguments for c in calls if c.index == 0)) == {"key": "value"}
    assert all(c.call_id is None and c.name is None for c in calls[1:] if c.index == 0)
    assert [c.call_id for c in calls if c.index == 1 and c.call_id] == ["c2"]
    final = events[-1]
    assert isinstance(final, ChatResponse)
    assert sum(isinstance(e, ChatResponse) for e in events) == 1
    assert model.requests[0].stream is True


async def test_scripted_stream_raises_exception_reply() -> None:
    with pytest.raises(ConnectionError):
        await collect(ScriptedModel([ConnectionError("gone")]).stream([Message.user("q")]))


async def test_function_model_sync_and_async() -> None:
    seen: list[CallInfo] = []

    def sync_fn(messages: list[Message], info: CallInfo) -> object:
        seen.append(info)
        if info.tools and messages[-1].role == "user":
            return [tool_call(info.tools[0].name, {"city": messages[-1].text})]
        return f"{len(messages)} messages"

    model = FunctionModel(sync_fn)  # type: ignore[arg-type]
    first = await model.complete([Message.user("Oslo")], tools=[TOOL], options=ChatOptions(seed=1))
    assert first.message.tool_calls[0].arguments == {"city": "Oslo"}
    assert seen[0].options.seed == 1
    assert seen[0].stream is False
    assert seen[0].request is None
    assert first.usage.total_tokens > 0
    assert first.usage.requests == 1
    second = await model.complete([Message.user("a"), Message.assistant("b")])
    assert second.message.text == "2 messages"
    assert seen[1].options == ChatOptions()

    async def async_fn(messages: list[Message], info: CallInfo) -> str:
        return "async " * 5

    amodel = FunctionModel(async_fn, stream_chunk_size=6, model_name="fn-model")
    events = await collect(amodel.stream([Message.user("q")]))
    assert len([e for e in events if isinstance(e, TextDelta)]) == 5
    final = events[-1]
    assert isinstance(final, ChatResponse)
    assert final.model == "fn-model"
    assert amodel.model_name == "fn-model"
    assert len(amodel.requests) == 1
    assert amodel.requests[0].stream


async def test_function_model_exceptions_propagate() -> None:
    def fn(messages: list[Message], info: CallInfo) -> str:
        raise ValueError("bad fn")

    with pytest.raises(ValueError, match="bad fn"):
        await FunctionModel(fn).complete([Message.user("q")])

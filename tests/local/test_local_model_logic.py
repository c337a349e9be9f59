"""``LocalChatModel``'s own logic on scripted outputs: no llama.cpp, no weights."""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentdown.messages import Message
from agentdown.models.base import ChatOptions, ChatResponse, TextDelta, ToolCallDelta, ToolDefinition
from agentdown.models.local.engine import Engine, EngineSettings, Generation, GenerationRequest
from agentdown.models.local.llama import LocalChatModel

WEATHER = ToolDefinition("get_weather", "Weather.", {"type": "object", "properties": {}})


class ScriptedEngine(Engine):
    """Answers with the given outputs, a few characters at a time, as llama.cpp would."""

    def __init__(self, outputs: list[str]) -> None:
        super().__init__(EngineSettings(Path("scripted.gguf"), n_ctx=4096))
        self.outputs = outputs
        self.requests: list[GenerationRequest] = []

    def load(self) -> Any:
        return self

    def count_tokens(self, text: str) -> int:
        return len(text) // 4

    def generate(
        self,
        request: GenerationRequest,
        on_text: Callable[[str], None],
        cancelled: threading.Event,
        enough: threading.Event | None = None,
    ) -> Generation:
        self.requests.append(request)
        text = self.outputs.pop(0)
        for i in range(0, len(text), 3):
            on_text(text[i : i + 3])
        return Generation(text, self.count_tokens(request.prompt), len(text) // 3, "stop")


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 0))
    return path


def scripted(gguf: Path, *outputs: str) -> tuple[LocalChatModel, ScriptedEngine]:
    model = LocalChatModel(gguf)
    engine = ScriptedEngine(list(outputs))
    model._engine = engine
    return model, engine


async def run(model: LocalChatModel, **kwargs: Any) -> tuple[str, list[Any], ChatResponse]:
    events = [e async for e in model.stream([Message.user("hi")], **kwargs)]
    final = events[-1]
    assert isinstance(final, ChatResponse)
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    return text, [e for e in events if isinstance(e, ToolCallDelta)], final


async def test_plain_text_streams_and_matches_the_final_message(gguf: Path) -> None:
    model, engine = scripted(gguf, "Hello there, Ada!")
    text, calls, final = await run(model, tools=[WEATHER])
    assert text == final.message.text == "Hello there, Ada!"
    assert calls == []
    assert final.finish_reason == "stop"
    assert "# Tools" in engine.requests[0].prompt
    assert "<tool_response>" in engine.requests[0].stop


async def test_a_made_up_tool_is_asked_again_without_tools(gguf: Path) -> None:
    model, engine = scripted(gguf, '{"name": "greet", "arguments": {"text": "hi"}}', "Hi! How can I help?")
    text, calls, final = await run(model, tools=[WEATHER])
    assert text == final.message.text == "Hi! How can I help?"
    assert calls == [] and final.message.tool_calls == []
    assert "# Tools" in engine.requests[0].prompt and "# Tools" not in engine.requests[1].prompt
    assert final.usage.requests == 1
    assert final.usage.output_tokens == sum(
        len(o) // 3 for o in ('{"name": "greet", "arguments": {"text": "hi"}}', "Hi! How can I help?")
    )


async def test_required_tool_choice_is_not_asked_again(gguf: Path) -> None:
    model, engine = scripted(gguf, '{"name": "greet", "arguments": {}}')
    text, _, final = await run(model, tools=[WEATHER], options=ChatOptions(tool_choice="required"))
    assert len(engine.requests) == 1
    assert "must call" in engine.requests[0].prompt
    assert final.message.text == text == '{"name": "greet", "arguments": {}}'


async def test_calls_become_deltas_and_contents_and_talk_after_them_is_cut(gguf: Path) -> None:
    output = (
        'Let me check.<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>\n'
        "The weather in Paris is lovely, 25 degrees."
    )
    model, _ = scripted(gguf, output)
    text, deltas, final = await run(model, tools=[WEATHER])
    assert text == final.message.text == "Let me check."
    (call,) = final.message.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    assert deltas == [ToolCallDelta(0, call.call_id, "get_weather", '{"city": "Paris"}')]
    assert final.finish_reason == "tool_calls"


async def test_parallel_tool_calls_false_keeps_the_first_call(gguf: Path) -> None:
    two = '[{"name": "get_weather", "arguments": {"city": "A"}}, {"name": "get_weather", "arguments": {"city": "B"}}]'
    model, _ = scripted(gguf, two, two)
    _, _, both = await run(model, tools=[WEATHER])
    assert [c.arguments for c in both.message.tool_calls] == [{"city": "A"}, {"city": "B"}]
    _, _, one = await run(model, tools=[WEATHER], options=ChatOptions(parallel_tool_calls=False))
    assert [c.arguments for c in one.message.tool_calls] == [{"city": "A"}]


async def test_options_reach_the_generation_request(gguf: Path) -> None:
    model, engine = scripted(gguf, "ok", '{"a": 1}')
    await run(
        model, options=ChatOptions(temperature=0.7, top_p=0.9, seed=3, stop=["END"], max_output_tokens=7)
    )
    request = engine.requests[0]
    assert (request.temperature, request.top_p, request.seed, request.max_tokens) == (0.7, 0.9, 3, 7)
    assert request.stop[-1] == "END" and "<tool_response>" not in request.stop
    schema = {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}
    await run(model, options=ChatOptions(response_format=schema))
    assert engine.requests[1].json_schema == '{"type": "object"}'
    assert engine.requests[1].temperature == 0.0 and engine.requests[1].max_tokens > 0


async def test_tool_choice_none_offers_no_tools(gguf: Path) -> None:
    model, engine = scripted(gguf, '{"name": "get_weather", "arguments": {}}')
    _, _, final = await run(model, tools=[WEATHER], options=ChatOptions(tool_choice="none"))
    assert "# Tools" not in engine.requests[0].prompt
    assert final.message.tool_calls == []

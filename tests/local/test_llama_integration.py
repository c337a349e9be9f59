"""The real llama.cpp path on a real GGUF: SmolLM2-135M, the smallest pulled model.

Needs a llama.cpp binding (xllamacpp or llama-cpp-python: the best installed, or the one
``AGENTDOWN_LOCAL_BACKEND`` names) and ``agentdown models pull smollm2-135m``. Without them
the tests skip, saying why; with ``AGENTDOWN_REQUIRE_LOCAL_MODEL=1`` (CI) they fail.
The 135M model is too weak to choose tools, but it copies a tool call it is shown,
which exercises the whole tool path; generation is greedy, so runs repeat.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from agentdown import Agent, tool
from agentdown.messages import Message
from agentdown.models.base import ChatOptions, ChatResponse, TextDelta, ToolCallDelta, ToolDefinition
from agentdown.models.local import LocalChatModel, llama_cpp_available, local_provider
from agentdown.models.local.catalog import find_catalog_model
from agentdown.models.local.chat_format import ContextOverflowError
from agentdown.models.local.engine import Engine, Generation, available_backends, get_engine
from agentdown.models.local.weights import find_installed, models_dir
from agentdown.models.provider import ProviderContext

pytestmark = pytest.mark.timeout(300)

WEATHER = ToolDefinition(
    "get_weather",
    "Get the weather for a city.",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
# Read at import, before any fixture: the suite may point AGENTDOWN_MODELS_DIR at an empty
# folder for every test, so that a pulled model never becomes another test's default.
MODELS_DIR = models_dir()
COPY_CALL = (
    'Repeat exactly, with nothing else: <tool_call>{"name": "get_weather", "arguments": '
    '{"city": "Paris"}}</tool_call>'
)


def _missing() -> str | None:
    if not llama_cpp_available():
        return "no llama.cpp binding is installed (pip install 'agentdown[local]'; see docs/local-model.md)"
    entry = find_catalog_model("smollm2-135m")
    assert entry is not None
    if find_installed(entry, MODELS_DIR) is None:
        return f"smollm2-135m is not pulled into {MODELS_DIR} (run: agentdown models pull smollm2-135m)"
    return None


@pytest.fixture(scope="module")
def smol_path() -> Path:
    reason = _missing()
    if reason is not None:
        if os.environ.get("AGENTDOWN_REQUIRE_LOCAL_MODEL") == "1":
            pytest.fail(f"AGENTDOWN_REQUIRE_LOCAL_MODEL=1 but {reason}")
        pytest.skip(reason)
    entry = find_catalog_model("smollm2-135m")
    assert entry is not None
    installed = find_installed(entry, MODELS_DIR)
    assert installed is not None
    return installed.path


@pytest.fixture
def model(smol_path: Path) -> LocalChatModel:
    return LocalChatModel(smol_path, name="smollm2-135m")


async def collect(
    model: LocalChatModel, messages: list[Message], **kwargs: Any
) -> tuple[list[Any], ChatResponse]:
    events = [event async for event in model.stream(messages, **kwargs)]
    final = events[-1]
    assert isinstance(final, ChatResponse)
    assert not any(isinstance(e, ChatResponse) for e in events[:-1])
    return events[:-1], final


async def test_stream_and_complete_give_the_same_greedy_answer(model: LocalChatModel) -> None:
    messages = [Message.system("You are concise."), Message.user("Say hello to Ada in one short sentence.")]
    options = ChatOptions(max_output_tokens=32)
    deltas, streamed = await collect(model, messages, options=options)
    assert len(deltas) > 1 and all(isinstance(d, TextDelta) for d in deltas)
    assert "".join(d.text for d in deltas) == streamed.message.text != ""
    completed = await model.complete(messages, options=options)
    assert completed.message.text == streamed.message.text
    usage = completed.usage
    assert usage.input_tokens > 10 and 0 < usage.output_tokens <= 32 and usage.requests == 1
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert completed.finish_reason in ("stop", "length")
    assert completed.model == "smollm2-135m"


async def test_max_output_tokens_and_stop_sequences(model: LocalChatModel) -> None:
    story = [Message.user("Write a long story about a lighthouse keeper.")]
    short = await model.complete(story, options=ChatOptions(max_output_tokens=4))
    assert short.finish_reason == "length"
    assert short.usage.output_tokens <= 5  # re-tokenizing the text may count one more
    stopped = await model.complete(story, options=ChatOptions(max_output_tokens=64, stop=["e"]))
    assert stopped.finish_reason == "stop"
    assert "e" not in stopped.message.text


async def test_a_copied_tool_call_becomes_a_real_call_and_no_markup_is_streamed(
    model: LocalChatModel,
) -> None:
    model.transcript = []
    deltas, response = await collect(
        model, [Message.user(COPY_CALL)], tools=[WEATHER], options=ChatOptions(max_output_tokens=60)
    )
    assert "<tool_call>" in model.transcript[0]
    (call,) = response.message.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    assert response.finish_reason == "tool_calls"
    (delta,) = [d for d in deltas if isinstance(d, ToolCallDelta)]
    assert (delta.index, delta.call_id, delta.name) == (0, call.call_id, "get_weather")
    streamed = "".join(d.text for d in deltas if isinstance(d, TextDelta))
    assert "<tool_call>" not in streamed and '"arguments"' not in streamed
    assert streamed == response.message.text


async def test_an_agent_runs_the_tool_the_local_model_calls(model: LocalChatModel) -> None:
    seen: list[str] = []

    @tool
    def get_weather(city: str) -> str:
        """Get the weather for a city."""
        seen.append(city)
        return f"{city}: sunny, 18°C"

    agent = Agent(
        model,
        tools=[get_weather],
        options={"max_output_tokens": 60},
        function_invocation_configuration={"max_function_calls": 1, "max_iterations": 3},
    )
    result = await agent.run(COPY_CALL)
    assert seen == ["Paris"]
    assert any(m.role == "tool" for m in result.messages)
    assert result.usage.requests >= 2


async def test_concurrent_requests_are_served_one_at_a_time_on_one_thread(
    model: LocalChatModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = model._engine
    active, most, threads = 0, 0, set()
    original = Engine.generate

    def tracked(self: Engine, *args: Any) -> Generation:
        nonlocal active, most
        active += 1
        most = max(most, active)
        threads.add(threading.current_thread().name)
        try:
            time.sleep(0.05)  # widen the window in which an overlap would show
            return original(self, *args)
        finally:
            active -= 1

    monkeypatch.setattr(Engine, "generate", tracked)
    prompts = ["Name a colour.", "Name a fruit.", "Name an animal.", "Name a city."]
    results = await asyncio.gather(
        *(model.complete([Message.user(p)], options=ChatOptions(max_output_tokens=8)) for p in prompts)
    )
    assert all(r.message.text for r in results)
    assert most == 1
    assert len(threads) == 1 and threads.pop().startswith("agentdown-llama")
    assert get_engine(engine.settings) is engine


async def test_one_loaded_model_per_file_and_settings(smol_path: Path) -> None:
    first = LocalChatModel(smol_path)
    second = LocalChatModel(smol_path, name="other")
    assert first._engine is second._engine
    await first.load()
    loaded = first.load_seconds
    assert loaded is not None
    await second.load()
    assert second.load_seconds == loaded  # not loaded again
    # A window beyond what the model was trained for is capped (SmolLM2: 8192).
    assert LocalChatModel(smol_path, n_ctx=1_000_000)._engine.settings.n_ctx == 8192


async def test_leaving_a_stream_early_stops_generation_and_frees_the_model(
    model: LocalChatModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    finishes: list[str] = []
    original = Engine.generate

    def recorded(self: Engine, *args: Any) -> Generation:
        generation = original(self, *args)
        finishes.append(generation.finish_reason)
        return generation

    monkeypatch.setattr(Engine, "generate", recorded)
    stream = model.stream(
        [Message.user("Write a very long story about the sea.")], options=ChatOptions(max_output_tokens=400)
    )
    count = 0
    async for _ in stream:
        count += 1
        if count == 3:
            break
    await stream.aclose()  # type: ignore[attr-defined]
    started = time.perf_counter()
    reply = await model.complete([Message.user("Say yes.")], options=ChatOptions(max_output_tokens=4))
    assert reply.message.text
    assert finishes[0] == "cancelled"
    assert time.perf_counter() - started < 60


async def test_old_turns_are_dropped_to_fit_a_small_context(
    smol_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = LocalChatModel(smol_path, n_ctx=512)
    history: list[Message] = [Message.system("You are concise.")]
    for i in range(12):
        history += [Message.user(f"Remember fact number {i}: " + "blue " * 30), Message.assistant("Noted.")]
    history.append(Message.user("Say OK."))
    with caplog.at_level(logging.WARNING, logger="agentdown.models.local"):
        reply = await model.complete(history, options=ChatOptions(max_output_tokens=8))
    assert reply.usage.input_tokens <= 512 - 8
    assert "dropped" in caplog.text


async def test_a_request_that_cannot_fit_is_refused_clearly(smol_path: Path) -> None:
    model = LocalChatModel(smol_path, n_ctx=512)
    with pytest.raises(ContextOverflowError, match="prompt tokens"):
        await model.complete([Message.user("word " * 2000)])


async def test_the_jinja_template_path_also_works(smol_path: Path) -> None:
    model = LocalChatModel(smol_path)
    model.chat_format = "jinja"  # SmolLM2's own template, rendered by the binding
    reply = await model.complete([Message.user("Say hi.")], options=ChatOptions(max_output_tokens=8))
    assert reply.message.text


def test_the_provider_builds_the_model_from_settings(smol_path: Path) -> None:
    ctx = ProviderContext(
        provider="local",
        environ={"AGENTDOWN_LOCAL_MODEL": str(smol_path), "AGENTDOWN_LOCAL_N_CTX": "1024"},
        explicit_model=None,
    )
    model = local_provider(ctx)
    assert isinstance(model, LocalChatModel)
    assert model._engine.settings.n_ctx == 1024


def test_the_provider_uses_the_backend_asked_for(smol_path: Path) -> None:
    for backend in available_backends():
        environ = {"AGENTDOWN_LOCAL_MODEL": str(smol_path), "AGENTDOWN_LOCAL_BACKEND": backend}
        model = local_provider(ProviderContext(provider="local", environ=environ, explicit_model=None))
        assert isinstance(model, LocalChatModel) and model.backend == backend
    chosen = os.environ.get("AGENTDOWN_LOCAL_BACKEND")
    assert LocalChatModel(smol_path).backend == (chosen or available_backends()[0])

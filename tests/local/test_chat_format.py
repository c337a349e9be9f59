"""Messages to prompt turns, ChatML, and trimming a conversation to the context."""

from __future__ import annotations

import pytest

from agentdown.exceptions import ModelError
from agentdown.messages import Content, Message
from agentdown.models.base import ToolDefinition
from agentdown.models.local.chat_format import (
    ContextOverflowError,
    Turn,
    fit_turns,
    render_chatml,
    template_default_system,
    to_turns,
)

WEATHER = ToolDefinition("get_weather", "Weather.", {"type": "object", "properties": {}})


def tool_exchange(city: str) -> list[Message]:
    call = Content.from_tool_call("get_weather", {"city": city}, call_id=f"c_{city}")
    return [
        Message.user(f"Weather in {city}?"),
        Message(role="assistant", contents=[call]),
        Message(role="tool", contents=[Content.from_tool_result(f"c_{city}", "sunny")]),
        Message.assistant(f"{city} is sunny."),
    ]


def test_turns_put_tools_in_the_system_turn_and_calls_in_text() -> None:
    turns = to_turns([Message.system("Be brief."), *tool_exchange("Paris")], [WEATHER])
    assert [t.role for t in turns] == ["system", "user", "assistant", "user", "assistant"]
    assert turns[0].content.startswith("Be brief.\n\n# Tools")
    assert '"name": "get_weather"' in turns[0].content
    assert (
        turns[2].content
        == '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    )
    assert turns[3].content == "<tool_response>\nsunny\n</tool_response>"


def test_tool_choice_none_hides_the_tools_but_keeps_the_history() -> None:
    turns = to_turns(tool_exchange("Paris"), [WEATHER], tool_choice="none")
    assert turns[0].role == "user"
    assert "<tool_call>" in turns[1].content


def test_consecutive_results_merge_into_one_user_turn() -> None:
    calls = [Content.from_tool_call("get_weather", {"city": c}, call_id=c) for c in ("a", "b")]
    messages = [
        Message.user("both?"),
        Message(role="assistant", contents=[Content.from_text("Checking."), *calls]),
        Message(role="tool", contents=[Content.from_tool_result("a", "1")]),
        Message(role="tool", contents=[Content.from_tool_result("b", "2")]),
    ]
    turns = to_turns(messages, [])
    assert [t.role for t in turns] == ["user", "assistant", "user"]
    assert turns[1].content.startswith("Checking.\n<tool_call>")
    assert turns[2].content.count("<tool_response>") == 2


def test_media_is_named_not_dropped_and_bad_contents_fail() -> None:
    message = Message(role="user", contents=[Content.from_text("look"), Content.from_data(b"x", "image/png")])
    (turn,) = to_turns([message], [])
    assert "image/png attachment not shown" in turn.content
    with pytest.raises(ModelError):
        to_turns([Message(role="tool", contents=[Content.from_text("x")])], [])


def test_chatml_adds_a_default_system_turn_and_the_generation_prompt() -> None:
    prompt = render_chatml([Turn("user", "hi")])
    assert prompt == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    )


def count_chars(text: str) -> int:
    return len(text)


def test_fit_keeps_everything_that_fits() -> None:
    turns = to_turns([Message.system("S"), *tool_exchange("Paris")], [])
    kept, prompt, used = fit_turns(turns, render_chatml, count_chars, 10_000)
    assert kept == turns
    assert used == len(prompt)


def test_fit_drops_whole_old_exchanges_and_keeps_system_and_last() -> None:
    messages = [
        Message.system("S"),
        *tool_exchange("Paris"),
        *tool_exchange("Rome"),
        Message.user("And Oslo?"),
    ]
    turns = to_turns(messages, [])
    full = len(render_chatml(turns))
    last_two = [turns[0], *turns[5:]]
    kept, _, used = fit_turns(turns, render_chatml, count_chars, len(render_chatml(last_two)))
    assert kept == last_two
    assert kept[1].content == "Weather in Rome?"  # never starts at a tool result
    assert used < full
    kept, _, _ = fit_turns(turns, render_chatml, count_chars, len(render_chatml([turns[0], turns[-1]])))
    assert kept == [turns[0], turns[-1]]


def test_fit_refuses_when_system_and_last_message_alone_are_too_long() -> None:
    turns = to_turns([Message.system("S" * 500), Message.user("hi")], [])
    with pytest.raises(ContextOverflowError, match="AGENTDOWN_LOCAL_N_CTX"):
        fit_turns(turns, render_chatml, count_chars, 100)


def test_chatml_without_system_uses_the_templates_own_default() -> None:
    # The system turn each model's GGUF template writes when a conversation has none.
    qwen = (
        "{%- else %}\n        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. "
        "You are a helpful assistant.<|im_end|>\\n' }}\n    {%- endif %}"
    )
    smollm = (
        "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful AI "
        "assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}"
    )
    assert (
        template_default_system(qwen)
        == "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
    )
    assert (
        template_default_system(smollm)
        == "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
    )
    assert template_default_system("{{ '<|im_start|>' + message['role'] }}") is None
    assert template_default_system(None) is None
    prompt = render_chatml([Turn("user", "hi")], template_default_system(qwen))
    assert prompt.startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")
    # A conversation with its own system turn keeps it.
    assert render_chatml([Turn("system", "S"), Turn("user", "hi")], "D").startswith(
        "<|im_start|>system\nS<|im_end|>"
    )

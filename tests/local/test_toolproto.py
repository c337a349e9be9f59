"""The tool-call parser and the stream splitter, on outputs recorded from real models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentdown.models.base import ToolDefinition
from agentdown.models.local.toolproto import (
    ParsedCall,
    format_tool_call,
    format_tool_result,
    parse_output,
    tools_prompt,
)
from agentdown.models.local.toolstream import StreamSplitter

TOOLS = {"get_weather", "current_time", "calculator", "convert_units"}
RECORDED = json.loads((Path(__file__).parent / "recorded_outputs.json").read_text(encoding="utf-8"))


def calls(output: str, tools: set[str] = TOOLS) -> list[tuple[str, Any]]:
    return [(c.name, c.arguments) for c in parse_output(output, tools).calls]


@pytest.mark.parametrize("case", RECORDED, ids=[f"{c['model']}:{c['prompt'][:30]}" for c in RECORDED])
def test_recorded_outputs(case: dict[str, Any]) -> None:
    parsed = parse_output(case["raw"], TOOLS)
    assert [[c.name, c.arguments] for c in parsed.calls] == case["calls"]
    assert parsed.text == case["text"]
    assert parsed.form == case["form"]


def test_recorded_outputs_stream_without_leaking_calls() -> None:
    for case in RECORDED:
        for size in (1, 3, 7):
            streamed, parsed = stream_in_pieces(case["raw"], size)
            assert streamed == parsed.text, case["raw"]


def stream_in_pieces(output: str, size: int, tools: set[str] = TOOLS) -> tuple[str, Any]:
    splitter = StreamSplitter(tools)
    out = [splitter.feed(output[i : i + size]) for i in range(0, len(output), size)]
    parsed, rest = splitter.finish()
    return "".join(out) + rest, parsed


def test_tagged_call_qwen_native_form() -> None:
    out = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    parsed = parse_output(out, TOOLS)
    assert parsed.form == "tagged"
    assert parsed.text == ""
    assert parsed.calls == [ParsedCall("get_weather", {"city": "Paris"})]


def test_several_tagged_calls_with_text_and_a_missing_last_close_tag() -> None:
    out = (
        "Let me look both up.\n<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_call>\n'
        '{"name": "current_time", "arguments": {"timezone": "Asia/Tokyo"}}\n'
    )
    parsed = parse_output(out, TOOLS)
    assert parsed.text == "Let me look both up."
    assert [(c.name, c.arguments) for c in parsed.calls] == [
        ("get_weather", {"city": "Paris"}),
        ("current_time", {"timezone": "Asia/Tokyo"}),
    ]


def test_tagged_call_without_closing_tags_between_calls() -> None:
    out = (
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}'
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}'
    )
    assert calls(out) == [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]


def test_tagged_list_of_calls_and_fence_inside_tag() -> None:
    out = (
        '<tool_call>\n```json\n[{"name": "get_weather", "arguments": {"city": "Oslo"}}, '
        '{"name": "calculator", "arguments": {"expression": "1+1"}}]\n```\n</tool_call>'
    )
    assert calls(out) == [("get_weather", {"city": "Oslo"}), ("calculator", {"expression": "1+1"})]


def test_tagged_unknown_tool_is_still_a_call_so_the_loop_can_say_so() -> None:
    out = '<tool_call>{"name": "get_news", "arguments": {}}</tool_call>'
    assert calls(out) == [("get_news", {})]


def test_tagged_broken_json_keeps_the_name_and_the_raw_arguments() -> None:
    out = '<tool_call>{"name": "get_weather", "arguments": {city: Paris}}</tool_call>'
    (call,) = parse_output(out, TOOLS).calls
    assert call.name == "get_weather"
    assert call.arguments is None
    assert call.raw_arguments == "{city: Paris}"


def test_tagged_text_that_is_no_call_stays_text() -> None:
    out = "I would use <tool_call> tags, but nothing fits."
    parsed = parse_output(out, TOOLS)
    assert parsed.calls == []
    assert parsed.text == out


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ('{"name": "get_weather", "parameters": {"city": "Paris"}}', {"city": "Paris"}),
        ('{"tool": "get_weather", "args": {"city": "Paris"}}', {"city": "Paris"}),
        ('{"tool_name": "get_weather", "tool_input": {"city": "Paris"}}', {"city": "Paris"}),
        ('{"name": "get_weather", "arguments": "{\\"city\\": \\"Paris\\"}"}', {"city": "Paris"}),
        (
            '{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}',
            {"city": "Paris"},
        ),
        ('{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}', {"city": "Paris"}),
        ("{'name': 'get_weather', 'arguments': {'city': 'Paris'}}", {"city": "Paris"}),
        ('{"name": "get_weather", "arguments": {"city": "Paris",},}', {"city": "Paris"}),
        ('{"name": "get_weather", "arguments": null}', {}),
    ],
)
def test_bare_json_spellings(output: str, expected: dict[str, Any]) -> None:
    assert calls(output) == [("get_weather", expected)]


def test_call_with_no_arguments_key() -> None:
    assert calls('{"name": "current_time"}') == [("current_time", {})]
    # With other keys it is data, not a call.
    assert calls('{"name": "current_time", "value": 3}') == []


def test_non_object_arguments_are_passed_on_raw() -> None:
    (call,) = parse_output('{"name": "calculator", "arguments": [1, 2]}', TOOLS).calls
    assert call.arguments is None
    assert call.raw_arguments == "[1, 2]"


def test_fenced_call_after_prose() -> None:
    out = 'Sure, here it is:\n```json\n{"name": "calculator", "arguments": {"expression": "2*3"}}\n```'
    parsed = parse_output(out, TOOLS)
    assert parsed.form == "fenced"
    assert parsed.text == "Sure, here it is:"
    assert calls(out) == [("calculator", {"expression": "2*3"})]


def test_json_answers_are_not_calls() -> None:
    # Structured output or an unknown name must stay text, untouched.
    for out in (
        '{"name": "Rome", "country": "Italy"}',
        '{"name": "good morning", "arguments": {"message": "hola"}}',
        '```json\n{"city": "Paris", "temp": 18}\n```',
        "[1, 2, 3]",
        "Use {braces} freely.",
    ):
        parsed = parse_output(out, TOOLS)
        assert parsed.calls == [], out
        assert parsed.text == out


def test_a_list_counts_only_when_every_item_is_a_call() -> None:
    out = '[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "Rome"}]'
    assert calls(out) == []


def test_no_tools_offered_means_text() -> None:
    out = '<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>'
    assert parse_output(out, set()).calls == []
    assert parse_output(out, set()).text == out


def test_stream_splitter_streams_plain_text_at_once() -> None:
    splitter = StreamSplitter(TOOLS)
    assert splitter.feed("  Hello") == "Hello"
    assert splitter.feed(" world ") == " world"
    assert splitter.feed("!") == " !"
    parsed, rest = splitter.finish()
    assert (parsed.text, rest) == ("Hello world !", "")


def test_stream_splitter_holds_back_a_partial_tag_and_everything_after_a_marker() -> None:
    splitter = StreamSplitter(TOOLS)
    assert splitter.feed("Checking <tool") == "Checking"
    assert splitter.feed('_call>{"name": "get_weather", "arguments": {}}') == ""
    assert splitter.feed(" trailing text") == ""
    parsed, rest = splitter.finish()
    assert [c.name for c in parsed.calls] == ["get_weather"]
    assert parsed.text == "Checking\n\ntrailing text"
    assert rest == "\n\ntrailing text"


def test_stream_splitter_gives_back_held_text_that_was_no_call() -> None:
    out = "Set x = {a: 1} and use ``` fences ``` when you like."
    for size in (1, 2, 5, 100):
        streamed, parsed = stream_in_pieces(out, size)
        assert streamed == out
        assert parsed.calls == []


def test_stream_splitter_without_tools_never_holds_markup() -> None:
    splitter = StreamSplitter(set())
    assert splitter.feed("{") == "{"
    assert splitter.feed("<tool_call>") == "<tool_call>"


def test_prompt_lists_every_tool_and_the_format() -> None:
    tool = ToolDefinition("get_weather", "Weather.", {"type": "object", "properties": {}})
    prompt = tools_prompt([tool])
    assert '"name": "get_weather"' in prompt
    assert "<tool_call>" in prompt and "</tool_call>" in prompt
    assert "answer those directly" in prompt
    assert "must call" in tools_prompt([tool], required=True)


def test_history_formats_round_trip_through_the_parser() -> None:
    text = format_tool_call("get_weather", {"city": "Paris"})
    assert calls(text) == [("get_weather", {"city": "Paris"})]
    raw = format_tool_call("get_weather", None, "{city: Paris}")
    assert "{city: Paris}" in raw
    assert format_tool_result("18°C") == "<tool_response>\n18°C\n</tool_response>"


def test_random_markup_never_raises_and_streaming_matches_the_final_text() -> None:
    import random

    pieces = [
        "<tool_call>",
        "</tool_call>",
        "```json\n",
        "```",
        "{",
        "}",
        "[",
        "]",
        '"name": "get_weather"',
        '"arguments": {"city": "Paris"}',
        ", ",
        "'",
        '"',
        "\\",
        " text ",
        "\n",
        "<tool",
    ]
    rng = random.Random(8)
    for _ in range(3000):
        output = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        streamed, parsed = stream_in_pieces(output, rng.randint(1, 6))
        assert streamed == parsed.text, repr(output)


def test_calls_done_once_the_model_talks_on_after_a_closed_call() -> None:
    splitter = StreamSplitter(TOOLS)
    splitter.feed('<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>\n')
    assert not splitter.calls_done()
    splitter.feed("<tool_")
    assert not splitter.calls_done()  # may be a second call
    splitter.feed('call>{"name": "current_time", "arguments": {}}</tool_call>\nThe')
    assert not splitter.calls_done()
    splitter.feed(" weather in Paris")
    assert splitter.calls_done()
    parsed, rest = splitter.finish(cut_after_calls=True)
    assert [c.name for c in parsed.calls] == ["get_weather", "current_time"]
    assert parsed.text == rest == ""


def test_several_objects_in_one_fence_or_one_tag_are_several_calls() -> None:
    two = '{"name": "get_weather", "arguments": {"city": "Paris"}}\n{"name": "current_time", "arguments": {}}'
    expected = [("get_weather", {"city": "Paris"}), ("current_time", {})]
    fenced = parse_output(f"```json\n{two}\n```", TOOLS)
    assert (fenced.form, fenced.text) == ("fenced", "")
    assert [(c.name, c.arguments) for c in fenced.calls] == expected
    assert calls(f"<tool_call>\n{two}\n</tool_call>") == expected
    # Something else between the objects: not a pure list of calls, so only the calls count.
    mixed = parse_output(f"```json\n{two.replace(chr(10), ' and ')}\n```", TOOLS)
    assert [c.name for c in mixed.calls] == ["get_weather", "current_time"]

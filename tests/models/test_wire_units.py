"""Unit tests of the wire helpers: SSE decoding, stream assembly, message conversion."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agentdown.exceptions import ModelError
from agentdown.messages import Content, Message
from agentdown.models import ChatOptions, ChatResponse, ToolCallDelta, ToolDefinition
from agentdown.models.sse import SSEDecoder, sse_data
from agentdown.models.wire import StreamAssembler, build_request_body, message_to_openai, messages_to_openai
from agentdown.models.wire_server import (
    completion_to_openai,
    messages_from_openai,
    options_from_openai,
    stream_chunks_to_openai,
)


def decode_all(data: bytes, step: int) -> list[tuple[str, str]]:
    decoder = SSEDecoder()
    events: list[tuple[str, str]] = []
    for i in range(0, len(data), step):
        events.extend(decoder.feed(data[i : i + step]))
    events.extend(decoder.close())
    return events


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_sse_decoder_line_endings_comments_multiline(step: int, newline: bytes) -> None:
    raw = b"\n".join(
        [
            b": comment to ignore",
            b"",
            b"data: first",
            b"",
            b"event: custom",
            b"data:second line one",
            b"data: second line two",
            b"id: 7",
            b"",
            b"retry: 100",
            b"data: [DONE]",
            b"",
        ]
    ).replace(b"\n", newline)
    assert decode_all(raw, step) == [
        ("message", "first"),
        ("custom", "second line one\nsecond line two"),
        ("message", "[DONE]"),
    ]


def test_sse_decoder_flushes_last_event_without_blank_line() -> None:
    assert decode_all(b'data: {"a": 1}', 4) == [("message", '{"a": 1}')]
    assert decode_all(b"", 1) == []


def test_assembler_without_index_and_with_whole_calls() -> None:
    assembler = StreamAssembler()
    events = assembler.feed(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"id": "a", "function": {"name": "f", "arguments": '{"x": 1}'}},
                            {"id": "b", "function": {"name": "g", "arguments": "{}"}},
                        ]
                    },
                }
            ]
        }
    )
    assert events == [ToolCallDelta(0, "a", "f", '{"x": 1}'), ToolCallDelta(1, "b", "g", "{}")]
    result = assembler.result()
    assert [(c.call_id, c.name, c.arguments) for c in result.message.tool_calls] == [
        ("a", "f", {"x": 1}),
        ("b", "g", {}),
    ]
    assert result.usage.requests == 1


def test_assembler_non_object_arguments_are_kept_raw() -> None:
    assembler = StreamAssembler()
    assembler.feed(
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "x", "function": {"name": "f"}}]}}]}
    )
    assembler.feed(
        {"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": "[1, 2]"}}]}}]}
    )
    (call,) = assembler.result().message.tool_calls
    assert call.arguments is None
    assert call.raw_arguments == "[1, 2]"


def test_round_trip_through_server_wire() -> None:
    messages = [
        Message.system("sys"),
        Message(role="user", contents=[Content.from_text("look"), Content.from_data(b"img", "image/png")]),
        Message(role="assistant", contents=[Content.from_tool_call("f", {"a": 1}, call_id="c1")]),
        Message(role="tool", contents=[Content.from_tool_result("c1", "one"), Content.from_error("boom")]),
    ]
    messages[3].contents[1].call_id = "c1"
    back = messages_from_openai(messages_to_openai(messages))
    assert [m.role for m in back] == ["system", "user", "assistant", "tool"]
    assert back[1].contents[1].data == b"img"
    assert back[1].contents[1].media_type == "image/png"
    assert back[2].tool_calls[0].arguments == {"a": 1}
    assert [(r.call_id, r.name, r.text) for r in back[3].tool_results] == [
        ("c1", "f", "one"),
        ("c1", "f", "boom"),
    ]


def test_unsupported_contents_are_rejected_not_dropped() -> None:
    with pytest.raises(ModelError, match="media type 'video/mp4'"):
        messages_to_openai([Message(role="user", contents=[Content.from_data(b"v", "video/mp4")])])
    with pytest.raises(ModelError, match="tool_result"):
        messages_to_openai([Message(role="user", contents=[Content.from_tool_result("c", "x")])])
    with pytest.raises(ModelError, match="tool message"):
        messages_to_openai([Message(role="tool", contents=[Content.from_text("x")])])


def test_audio_and_pdf_parts() -> None:
    msg = Message(
        role="user",
        contents=[Content.from_data(b"RIFF", "audio/wav"), Content.from_data(b"%PDF", "application/pdf")],
    )
    (out,) = messages_to_openai([msg])
    assert out["content"][0] == {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    assert out["content"][1]["type"] == "file"
    assert out["content"][1]["file"]["file_data"].startswith("data:application/pdf;base64,")


def test_assistant_without_text_or_calls_sends_empty_content() -> None:
    (out,) = messages_to_openai([Message(role="assistant", contents=[Content.from_reasoning("r")])])
    assert out == {"role": "assistant", "content": ""}


def test_extra_body_overrides_and_options_model() -> None:
    body = build_request_body(
        "base",
        [Message.user("x")],
        [],
        ChatOptions(model="other", temperature=0.1, extra_body={"temperature": 0.9, "top_k": 4}),
        stream=False,
    )
    assert body["model"] == "other"
    assert body["temperature"] == 0.9
    assert body["top_k"] == 4


def test_options_from_openai() -> None:
    options = options_from_openai(
        {
            "model": "m",
            "messages": [],
            "max_tokens": 9,
            "stop": "X",
            "tool_choice": {"type": "function"},
            "foo": 1,
        }
    )
    assert (options.model, options.max_output_tokens, options.stop) == ("m", 9, ["X"])
    assert options.extra_body == {"tool_choice": {"type": "function"}, "foo": 1}


def test_server_chunks_assemble_back_to_the_same_response() -> None:
    response = ChatResponse(
        message=Message(
            role="assistant",
            contents=[
                Content.from_reasoning("think"),
                Content.from_text("hello world"),
                Content.from_tool_call("f", {"k": "a long value"}, call_id="c1"),
                Content.from_tool_call("g", None, call_id="c2", raw_arguments="{bad"),
            ],
        )
    )
    assembler = StreamAssembler()
    for chunk in stream_chunks_to_openai(response, "m", include_usage=True, fragment_size=3):
        assembler.feed(chunk)
    result = assembler.result()
    assert [(c.type, c.text) for c in result.message.contents[:2]] == [
        ("reasoning", "think"),
        ("text", "hello world"),
    ]
    assert [(c.call_id, c.arguments, c.raw_arguments) for c in result.message.tool_calls] == [
        ("c1", {"k": "a long value"}, None),
        ("c2", None, "{bad"),
    ]
    assert result.finish_reason == "tool_calls"
    body = completion_to_openai(response, "m")
    assert body["choices"][0]["message"]["reasoning_content"] == "think"
    assert body["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_definitions_in_body() -> None:
    tool = ToolDefinition("t", "d", {"type": "object"})
    body = build_request_body("m", [Message.user("x")], [tool], ChatOptions(tool_choice="none"), stream=True)
    assert body["tools"] == [
        {"type": "function", "function": {"name": "t", "description": "d", "parameters": {"type": "object"}}}
    ]
    assert body["tool_choice"] == "none"
    assert body["stream_options"] == {"include_usage": True}


async def test_sse_data_stops_at_done_and_flushes_at_eof() -> None:
    async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    got = [d async for d in sse_data(chunks(b"data: a\n\nda", b"ta: b\n\ndata: [DONE]\n\ndata: after\n\n"))]
    assert got == ["a", "b"]
    assert [d async for d in sse_data(chunks(b"data: tail"))] == ["tail"]


def test_user_text_parts() -> None:
    (single,) = messages_to_openai([Message.user("one")])
    assert single == {"role": "user", "content": "one"}
    two = Message(role="user", contents=[Content.from_text("a"), Content.from_text("b")])
    (multi,) = messages_to_openai([two])
    assert multi["content"] == [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]
    (empty,) = messages_to_openai([Message(role="user")])
    assert empty == {"role": "user", "content": ""}


def test_images_returned_by_tools_follow_the_results_as_a_user_message() -> None:
    png = b"\x89PNG\r\n\x1a\nfake"
    result = Content.from_tool_result(
        "c1",
        "a chart",
        name="plot",
        items=[
            Content.from_text("a chart"),
            Content.from_data(png, "image/png"),
            Content.from_data(b"PK", "application/zip"),
        ],
    )
    plain = Content.from_tool_result("c2", "42", name="add")
    wire = message_to_openai(Message(role="tool", contents=[result, plain]))
    assert [m["role"] for m in wire] == ["tool", "tool", "user"]
    assert wire[0] == {"role": "tool", "tool_call_id": "c1", "content": "a chart"}
    parts = wire[2]["content"]
    assert parts[0] == {"type": "text", "text": "Media returned by the tool calls above:"}
    assert parts[1] == {"type": "text", "text": "from plot (call c1)"}
    assert parts[2]["type"] == "image_url"
    assert parts[2]["image_url"]["url"].startswith("data:image/png;base64,")
    # What cannot be sent is said, not dropped.
    assert parts[3] == {
        "type": "text",
        "text": "[application/zip from plot (call c1) cannot be shown to the model]",
    }


def test_tool_results_without_media_add_no_message() -> None:
    wire = message_to_openai(
        Message(role="tool", contents=[Content.from_tool_result("c2", "42", name="add")])
    )
    assert wire == [{"role": "tool", "tool_call_id": "c2", "content": "42"}]


def test_the_plain_text_fast_path_sends_what_message_to_openai_builds() -> None:
    messages = [
        Message.system("be brief"),
        Message(role="system", contents=[Content(type="text", text=None)]),
        Message.user("hi"),
        Message(role="user", contents=[Content(type="text", text=None)]),
        Message.assistant("hello"),
        Message(role="assistant", contents=[Content(type="text", text=None)]),
        Message(role="assistant", contents=[]),
        Message(role="user", contents=[Content.from_text("a"), Content.from_text("b")]),
        Message(role="assistant", contents=[Content.from_tool_call("f", {"x": 1}, call_id="c1")]),
        Message(role="tool", contents=[Content.from_tool_result("c1", "ok", name="f")]),
    ]
    expected = [part for m in messages for part in message_to_openai(m)]
    assert messages_to_openai(messages) == expected
    assert [list(d) for d in messages_to_openai(messages)] == [list(d) for d in expected]  # key order too
    with pytest.raises(ModelError):  # a tool message of plain text is refused on both paths
        messages_to_openai([Message(role="tool", contents=[Content.from_text("x")])])

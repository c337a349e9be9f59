"""Stored thread messages as the model reads them: images a run made, images a user named."""

from __future__ import annotations

from agentdown.models.wire import messages_to_openai
from agentdown.runtime.agents_api.images import image_type
from agentdown.runtime.agents_api.objects import FILE_URI, message_object, text_block, to_model_message


def test_an_assistant_image_is_a_note_the_chat_model_accepts() -> None:
    # A code interpreter answer: text and the chart it saved. Chat models take no images in
    # assistant turns, so the next run on the thread must still be sendable.
    chart = {"type": "image_file", "image_file": {"file_id": "assistant-chart"}}
    body = message_object("thread_1", "assistant", [text_block("Here is the chart."), chart])
    message = to_model_message(body)
    assert message.role == "assistant"
    (wire,) = messages_to_openai([message])
    assert wire == {"role": "assistant", "content": "Here is the chart.\n[image file assistant-chart]"}


def test_a_user_image_names_its_file_until_the_run_reads_it() -> None:
    block = {"type": "image_file", "image_file": {"file_id": "assistant-dot"}}
    message = to_model_message(message_object("thread_1", "user", [text_block("what?"), block]))
    assert [c.type for c in message.contents] == ["text", "uri"]
    assert message.contents[1].uri == FILE_URI + "assistant-dot"


def test_image_types_come_from_the_bytes_not_the_name() -> None:
    assert image_type(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR") == "image/png"
    assert image_type(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00") == "image/jpeg"
    assert image_type(b"GIF89a\x01\x00\x01\x00\x00\x00") == "image/gif"
    assert image_type(b"RIFF\x24\x00\x00\x00WEBPVP8 ") == "image/webp"
    for other in (b"", b"RIFF\x24\x00\x00\x00WAVEfmt ", b"<svg xmlns=", b"%PDF-1.7", b"\x89PNX"):
        assert image_type(other) is None, other

"""The request body as bytes: the same JSON as encoding the whole body, with long texts encoded once."""

from __future__ import annotations

import json

from agentdown.messages import Content, Message
from agentdown.models import wire_payload
from agentdown.models.base import ChatOptions, ToolDefinition
from agentdown.models.wire import build_request_body
from agentdown.models.wire_payload import request_payload

LONG = "What is the weather like in Paris today, and should I take an umbrella? " * 10


def history() -> list[Message]:
    call = Content(type="tool_call", call_id="c1", name="weather", arguments={"city": "Paris"})
    result = Content(type="tool_result", call_id="c1", text="rain")
    return [
        Message.system("Be brief."),
        Message.user(LONG),
        Message(role="assistant", contents=[Content.from_text("Let me look."), call]),
        Message(role="tool", contents=[result]),
        Message.assistant(LONG + " Take one."),
        Message.user('é ü \u2028 "quoted" </script>'),
    ]


def test_the_bytes_are_the_body_json() -> None:
    tools = [
        ToolDefinition(name="weather", description="W.", parameters={"type": "object", "properties": {}})
    ]
    options = ChatOptions(temperature=0.2, max_output_tokens=50)
    for stream in (False, True):
        model, payload = request_payload("m", history(), tools, options, stream=stream)
        expected = build_request_body("m", history(), tools, options, stream=stream)
        assert model == "m" and json.loads(payload) == expected
    # Extra body keys are the caller's, messages included.
    custom = ChatOptions(extra_body={"messages": [{"role": "user", "content": "x"}], "foo": 1})
    _, payload = request_payload("m", history(), [], custom, stream=False)
    assert json.loads(payload)["messages"] == [{"role": "user", "content": "x"}]


def test_a_long_text_is_encoded_once_and_never_served_stale() -> None:
    messages = history()
    request_payload("m", messages, [], None, stream=False)
    text = messages[1].contents[0].text
    assert text is not None
    cached = wire_payload._fragments[id(text)]
    assert cached[1] is text
    # A copy sharing the string (what a session store hands out) reuses the fragment.
    again = Message(role="user", contents=[Content.from_text(text)])
    _, payload = request_payload("m", [again], [], None, stream=False)
    assert wire_payload._fragments[id(text)][2] is cached[2]
    assert json.loads(payload)["messages"] == [{"role": "user", "content": LONG}]
    # Another role with the same string, or another string: encoded as it is now.
    _, payload = request_payload(
        "m", [Message(role="assistant", contents=[Content.from_text(text)])], [], None, stream=False
    )
    assert json.loads(payload)["messages"] == [{"role": "assistant", "content": LONG}]
    messages[1].contents[0].text = LONG + "changed"
    _, payload = request_payload("m", messages[1:2], [], None, stream=False)
    assert json.loads(payload)["messages"] == [{"role": "user", "content": LONG + "changed"}]

"""Server-sent events under generated input.

The writers (the chat stream's :func:`~agentdown.server.sse.frame`, the Agents API's
``sse_frame``, ``/v1``'s data frames) and the reader
(:class:`~agentdown.models.sse.SSEDecoder`, which reads model servers' streams) must
round-trip any payload, however the bytes are chunked: newlines, CR, CRLF, colons,
U+2028, lone surrogates. The reader also follows the WHATWG event-stream rules on any
stream (checked against a reference written from the spec), and the clients users
have (the ``openai`` SDK, ``azure-ai-agents``) read what the writers write.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Any

import pytest
from azure.ai.agents.models._patch import BaseAgentEventHandler, _parse_event
from hypothesis import example, given, settings
from hypothesis import strategies as st
from openai._streaming import SSEDecoder as OpenAIDecoder

from agentdown.models.sse import SSEDecoder
from agentdown.server.agents_api.runs import sse_frame
from agentdown.server.openai_api import _data as openai_data_frame
from agentdown.server.sse import frame

pytestmark = pytest.mark.timeout(60)
PROFILE = settings.get_profile("properties")

# Every code point, lone surrogates included: a model or a tool can hand over any of them
# (JSON's "\ud83d" escape decodes to one), and a frame must still be written.
any_text = st.text(st.characters(exclude_categories=()), max_size=30)
tricky_text = st.sampled_from(
    ["\n", "\r", "\r\n", ":", ": x", "\u2028", "\u2029", "\x85", "\ufeff", "\ud83d", "\x00"]
)
texts = st.lists(any_text | tricky_text, max_size=4).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=6,
)
payloads = st.dictionaries(texts, json_values, max_size=3)
# Event names are the writers' own constants (no line breaks); any other text is fair.
event_names = st.text(
    st.characters(exclude_categories=(), exclude_characters="\r\n"), min_size=1, max_size=20
)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (mid-line, mid-CRLF, mid-UTF-8 sequence alike)."""
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in pairwise(points)]


def decode(chunks: list[bytes]) -> list[tuple[str, str]]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.close()


def same_json(a: Any, b: Any) -> bool:
    """Equality that holds for -0.0 and for floats written and read back (JSON has no NaN here)."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


WRITERS: dict[str, Callable[[str, dict[str, Any]], bytes]] = {
    "chat frame": frame,
    "agents sse_frame": sse_frame,
    "/v1 data frame": lambda _event, body: openai_data_frame(body),
}


@settings(PROFILE, max_examples=40)
@given(
    st.sampled_from(sorted(WRITERS)),
    event_names,
    st.lists(payloads, min_size=1, max_size=2),
    st.lists(st.integers(0, 10**6), max_size=8),
)
@example("chat frame", "delta", [{"content": "\ud83d"}], [])  # a lone surrogate: UnicodeEncodeError
@example("/v1 data frame", "x", [{"content": "half \udc00 an emoji"}], [3])
@example("chat frame", "delta", [{"content": "a\r\nb\rc\nd: e\u2028f"}], [1, 2, 3, 4, 5])
def test_every_payload_round_trips_however_it_is_chunked(
    writer: str, event: str, bodies: list[dict[str, Any]], cuts: list[int]
) -> None:
    stream = b"".join(WRITERS[writer](event, body) for body in bodies)
    stream.decode("utf-8")  # well-formed UTF-8, whatever the payload held
    events = decode(chunked(stream, cuts))
    expected_event = "message" if writer == "/v1 data frame" else event.removeprefix(" ")
    assert [name for name, _ in events] == [expected_event] * len(bodies)
    for (_, data), body in zip(events, bodies, strict=True):
        assert "\n" not in data  # one data line per frame, as the runtime's clients expect
        assert same_json(json.loads(data), body)
    # The openai SDK reads /v1 (and any of these) the same way.
    seen = list(OpenAIDecoder().iter_bytes(iter(chunked(stream, cuts))))
    assert [same_json(sse.json(), body) for sse, body in zip(seen, bodies, strict=True)] == [True] * len(
        bodies
    )


class _Frames(BaseAgentEventHandler[str]):
    """azure-ai-agents' own framing of a run stream; each event's text, unparsed."""

    def _process_event(self, event_data_str: str) -> str:
        return event_data_str


@settings(PROFILE, max_examples=25)
@given(
    st.sampled_from(["thread.run.created", "thread.message.delta", "done", "error"]),
    st.lists(payloads, min_size=1, max_size=2),
    st.lists(st.integers(0, 10**6), max_size=8),
)
def test_the_azure_sdk_reads_every_agents_api_frame(
    event: str, bodies: list[dict[str, Any]], cuts: list[int]
) -> None:
    stream = b"".join(sse_frame(event, body) for body in bodies)
    handler = _Frames()
    handler.initialize(iter(chunked(stream, cuts)), lambda *_: None)
    texts = list(handler)
    assert len(texts) == len(bodies)
    for text, body in zip(texts, bodies, strict=True):
        assert _parse_event(text)[0] == event
        (data_line,) = [line for line in text.split("\n") if line.startswith("data:")]
        assert same_json(json.loads(data_line.split(":", 1)[1].strip()), body)


def reference(stream: bytes) -> list[tuple[str, str]]:
    """The WHATWG event-stream interpretation, restricted to (event type, data) pairs.

    One deliberate difference, documented on :meth:`SSEDecoder.close`: an event the stream
    ends in without its blank line is still delivered (a model server that closes early).
    """
    text = stream.decode("utf-8", "replace").removeprefix("\ufeff")
    events: list[tuple[str, str]] = []
    data: list[str] = []
    event = ""
    for line in [*re.split(r"\r\n|\r|\n", text), ""]:
        if not line:
            if data:
                events.append((event or "message", "\n".join(data)))
            data, event = [], ""
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    return events


line_text = st.text(st.characters(exclude_categories=(), exclude_characters="\r\n"), max_size=12)
sse_lines = st.one_of(
    st.tuples(
        st.sampled_from(["data", "event", "id", "retry", "", "dat", " data", "DATA"]),
        st.sampled_from([":", ": ", ":  ", ""]),
        line_text,
    ).map("".join),
    st.just(""),
    line_text,
)


def _encode(line: str) -> bytes:
    return line.encode("utf-8", "surrogatepass")  # lone surrogates become invalid UTF-8 bytes


@PROFILE
@given(
    st.lists(st.tuples(sse_lines, st.sampled_from(["\n", "\r", "\r\n"])), max_size=12),
    st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff", b"\xe2\x82"]),
    st.lists(st.integers(0, 10**6), max_size=10),
)
@example([("data: a", "\n")], b"\xef\xbb\xbf", [])  # a leading BOM is not part of the first field name
@example([("data: \udc80", "\n"), ("", "\n")], b"", [])  # invalid UTF-8: replaced, not a crash
@example([("data: x", "\r"), ("", "\n")], b"", [8])  # CR, then LF in the next chunk: two lines
def test_the_decoder_reads_any_stream_as_the_spec_does(
    lines: list[tuple[str, str]], prefix: bytes, cuts: list[int]
) -> None:
    stream = prefix + b"".join(_encode(line) + end.encode() for line, end in lines)
    assert decode(chunked(stream, cuts)) == reference(stream)


def _byte_chunks(data: bytes) -> Iterator[bytes]:
    return (data[i : i + 1] for i in range(len(data)))


@PROFILE
@given(texts)
def test_one_byte_at_a_time_is_the_same_stream(text: str) -> None:
    stream = frame("delta", {"type": "delta", "content": text}) * 2
    assert decode(list(_byte_chunks(stream))) == decode([stream])

"""Property tests for server-sent events: what the server writes, the decoder reads back."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from agentdown.models.sse import SSEDecoder
from agentdown.server.sse import frame

pytestmark = pytest.mark.timeout(60)

# JSON values with every kind of awkward text: newlines, CR, colons, NUL, U+2028, astral planes.
_TEXT = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["\n", "\r", "\r\n", ":", "data: x", "\u2028", "\x00", "[DONE]", "event: x\n\n", "\ufeff"]
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)
_EVENT = st.from_regex(r"[a-z_.]{1,20}", fullmatch=True)


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (any offset: inside a UTF-8 sequence or a CRLF too)."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def _decode(chunks: list[bytes]) -> list[tuple[str, str]]:
    decoder = SSEDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    return events + decoder.close()


@given(
    st.lists(st.tuples(_EVENT, st.dictionaries(_TEXT, _JSON, max_size=4)), max_size=5),
    st.lists(st.integers(0, 10_000), max_size=8),
)
@example([("delta", {"content": "line one\nline two\r\nthree\rfour: five"})], [3, 7])
def test_frames_round_trip_through_the_decoder(
    frames: list[tuple[str, dict[str, Any]]], cuts: list[int]
) -> None:
    """Every frame comes back as its event name and the same JSON, however the bytes are cut."""
    stream = b"".join(frame(event, data) for event, data in frames)
    events = _decode(_chunked(stream, cuts))
    assert [(e, json.loads(d)) for e, d in events] == frames


@given(st.text(min_size=1, max_size=30))
@example("delta\ndata: {}")
@example("a\rb")
def test_an_event_name_cannot_forge_frames(event: str) -> None:
    """An event name with a line break would start a field (or a frame) of its own: refused."""
    if "\n" in event or "\r" in event:
        with pytest.raises(ValueError, match="event name"):
            frame(event, {"type": "x"})
    else:
        decoded = _decode([frame(event, {"type": "x"})])
        assert decoded == [(event, '{"type":"x"}')]


@given(st.binary(max_size=200), st.lists(st.integers(0, 1000), max_size=6))
@example(b"data: \xff\xfe\n\n", [])
@example(b"data: caf\xc3", [])
def test_the_decoder_reads_any_bytes_the_same_however_they_are_cut(data: bytes, cuts: list[int]) -> None:
    """A model server's stream is untrusted: no byte sequence crashes the decoder, and chunking never
    changes what it reads (invalid UTF-8 becomes U+FFFD, as the SSE standard says)."""
    whole = _decode([data])
    assert _decode(_chunked(data, cuts)) == whole
    for event, payload in whole:
        assert isinstance(event, str) and isinstance(payload, str)


@given(
    st.lists(
        st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=20), min_size=1, max_size=5
    )
)
def test_multi_line_data_joins_with_newlines(lines: list[str]) -> None:
    """``data:`` lines of one frame join with LF, whatever line ending each one used."""
    endings = ["\n", "\r\n", "\r"]
    text = "".join(f"data: {line}{endings[i % 3]}" for i, line in enumerate(lines)) + "\n"
    assert _decode([text.encode()]) == [("message", "\n".join(lines))]

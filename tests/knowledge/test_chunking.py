"""Chunking strategies: the service's shapes and limits, and chunks that respect them."""

from __future__ import annotations

import itertools

import pytest

from agentdown.knowledge import Chunking, ChunkingError, chunk_text, count_tokens


def test_auto_and_none_are_800_400_and_served_as_static() -> None:
    for value in (None, {"type": "auto"}):
        chunking = Chunking.from_api(value)
        assert (chunking.kind, chunking.max_chunk_size_tokens, chunking.chunk_overlap_tokens) == (
            "auto",
            800,
            400,
        )
        assert chunking.to_api() == {
            "type": "static",
            "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400},
        }


def test_static_round_trips() -> None:
    value = {"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 50}}
    chunking = Chunking.from_api(value)
    assert chunking == Chunking("static", 100, 50)
    assert chunking.to_api() == value
    assert Chunking.from_api(
        {"type": "static", "static": {"max_chunk_size_tokens": 4096, "chunk_overlap_tokens": 0}}
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 99, "chunk_overlap_tokens": 0}},
            "max_chunk_size_tokens must be between 100 and 4096, got 99",
        ),
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 4097, "chunk_overlap_tokens": 0}},
            "max_chunk_size_tokens must be between 100 and 4096, got 4097",
        ),
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 101}},
            "chunk_overlap_tokens must be between 0 and half of max_chunk_size_tokens (100), got 101",
        ),
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": -1}},
            "chunk_overlap_tokens must be between 0",
        ),
        (
            {"type": "static", "static": {"max_chunk_size_tokens": "800", "chunk_overlap_tokens": 0}},
            "max_chunk_size_tokens must be an integer",
        ),
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 800.0, "chunk_overlap_tokens": 0}},
            "max_chunk_size_tokens must be an integer",
        ),
        (
            {"type": "static", "static": {"max_chunk_size_tokens": True, "chunk_overlap_tokens": 0}},
            "max_chunk_size_tokens must be an integer",
        ),
        ({"type": "static", "static": {"max_chunk_size_tokens": 800}}, "chunk_overlap_tokens is required"),
        ({"type": "static"}, "chunking_strategy.static is required"),
        ({"type": "other"}, "chunking_strategy.type must be 'auto' or 'static'"),
        ({"type": "auto", "static": {}}, "takes no other fields"),
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 0, "x": 1}},
            "unknown field(s) in chunking_strategy.static: 'x'",
        ),
        ("auto", "must be an object"),
    ],
)
def test_static_validation(value: object, message: str) -> None:
    with pytest.raises(ChunkingError) as info:
        Chunking.from_api(value)  # type: ignore[arg-type]
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


def test_chunks_respect_size_and_overlap() -> None:
    sentences = [f"Sentence number {i} talks about topic {i % 7} in some detail." for i in range(400)]
    text = " ".join(sentences)
    chunking = Chunking("static", 120, 40)
    chunks = chunk_text(text, chunking)
    assert len(chunks) > 5
    assert [c.index for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert chunk.tokens == count_tokens(chunk.text) <= 120
        assert not chunk.text.startswith(" ") and chunk.text == chunk.text.strip()
    # Consecutive chunks overlap (the next one starts inside the previous one), and
    # together they cover the text: its first and last words are there, no sentence lost.
    for before, after in itertools.pairwise(chunks):
        head = after.text[:30]
        assert head in before.text
    joined = " ".join(c.text for c in chunks)
    for sentence in sentences:
        assert sentence.split(" in ")[0] in joined


def test_no_overlap_partitions_the_text() -> None:
    text = "word " * 1000
    chunks = chunk_text(text, Chunking("static", 100, 0))
    assert sum(c.text.count("word") for c in chunks) == 1000


def test_cuts_end_at_sentences_and_never_split_characters() -> None:
    text = ("Dies ist ein Satz über Größe. 日本語の文です。 " * 300).strip()
    chunks = chunk_text(text, Chunking("static", 100, 30))
    for chunk in chunks:
        assert "\ufffd" not in chunk.text
        assert chunk.tokens <= 100
    ends = sum(c.text.endswith((".", "。")) for c in chunks[:-1])
    assert ends >= len(chunks[:-1]) // 2


def test_blank_text_has_no_chunks() -> None:
    assert chunk_text("", Chunking()) == []
    assert chunk_text(" \n\t ", Chunking()) == []
    (only,) = chunk_text("short", Chunking())
    assert (only.index, only.text, only.tokens) == (0, "short", 1)

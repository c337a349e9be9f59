"""The knowledge core's value types and errors: what parsing, chunking and the indexes exchange."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "AUTO_CHUNK_OVERLAP_TOKENS",
    "AUTO_MAX_CHUNK_SIZE_TOKENS",
    "Chunk",
    "Chunking",
    "ChunkingError",
    "IndexedFile",
    "KnowledgeError",
    "ParseError",
    "SearchHit",
]

# The service's "auto" strategy (documented by OpenAI and Azure AI Agents).
AUTO_MAX_CHUNK_SIZE_TOKENS = 800
AUTO_CHUNK_OVERLAP_TOKENS = 400
MIN_CHUNK_SIZE_TOKENS = 100
MAX_CHUNK_SIZE_TOKENS = 4096


class KnowledgeError(Exception):
    """Base of the knowledge core's errors."""


class ParseError(KnowledgeError):
    """A file cannot be parsed (unsupported type, corrupt content).

    ``str(error)`` is a complete, user-facing sentence: the Agents API shows it as the
    vector-store file's ``last_error.message``.
    """


class ChunkingError(KnowledgeError, ValueError):
    """A ``chunking_strategy`` the service would refuse; the message names the field and its range."""


@dataclass(frozen=True, slots=True)
class Chunking:
    """How a file is cut into chunks, in tokens of :func:`~agentdown.knowledge.count_tokens`."""

    kind: Literal["auto", "static"] = "auto"
    max_chunk_size_tokens: int = AUTO_MAX_CHUNK_SIZE_TOKENS
    chunk_overlap_tokens: int = AUTO_CHUNK_OVERLAP_TOKENS

    def __post_init__(self) -> None:
        _check_sizes(self.max_chunk_size_tokens, self.chunk_overlap_tokens, "Chunking")

    @classmethod
    def from_api(cls, value: Mapping[str, Any] | None) -> Chunking:
        """The strategy of an Agents API ``chunking_strategy`` (``None`` is ``auto``).

        Shapes: ``{"type": "auto"}`` and ``{"type": "static", "static":
        {"max_chunk_size_tokens": N, "chunk_overlap_tokens": M}}`` with
        100 <= N <= 4096 and 0 <= M <= N / 2; anything else is a :class:`ChunkingError`.
        """
        if value is None:
            return cls()
        if not isinstance(value, Mapping):
            raise ChunkingError(
                f"chunking_strategy must be an object with a 'type' of 'auto' or 'static', got {_show(value)}"
            )
        kind = value.get("type")
        if kind == "auto":
            extra = sorted(set(value) - {"type"})
            if extra:
                raise ChunkingError(
                    f"chunking_strategy of type 'auto' takes no other fields, got {', '.join(map(repr, extra))}"
                )
            return cls()
        if kind != "static":
            raise ChunkingError(f"chunking_strategy.type must be 'auto' or 'static', got {_show(kind)}")
        extra = sorted(set(value) - {"type", "static"})
        if extra:
            raise ChunkingError(f"unknown field(s) in chunking_strategy: {', '.join(map(repr, extra))}")
        static = value.get("static")
        if not isinstance(static, Mapping):
            raise ChunkingError(
                "chunking_strategy.static is required for type 'static': an object with "
                "'max_chunk_size_tokens' and 'chunk_overlap_tokens'"
            )
        extra = sorted(set(static) - {"max_chunk_size_tokens", "chunk_overlap_tokens"})
        if extra:
            raise ChunkingError(
                f"unknown field(s) in chunking_strategy.static: {', '.join(map(repr, extra))}"
            )
        size = _integer(static, "max_chunk_size_tokens")
        overlap = _integer(static, "chunk_overlap_tokens")
        _check_sizes(size, overlap, "chunking_strategy.static")
        return cls("static", size, overlap)

    def to_api(self) -> dict[str, Any]:
        """The strategy as the service serves it back: always ``static`` with its numbers
        (the service reports ``auto`` as the static 800/400 it stands for)."""
        return {
            "type": "static",
            "static": {
                "max_chunk_size_tokens": self.max_chunk_size_tokens,
                "chunk_overlap_tokens": self.chunk_overlap_tokens,
            },
        }


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _integer(static: Mapping[str, Any], name: str) -> int:
    if name not in static:
        raise ChunkingError(f"chunking_strategy.static.{name} is required")
    value = static[name]
    # bool is an int in Python, never in JSON's sense of a count.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ChunkingError(f"chunking_strategy.static.{name} must be an integer, got {_show(value)}")
    return value


def _check_sizes(size: int, overlap: int, where: str) -> None:
    if not MIN_CHUNK_SIZE_TOKENS <= size <= MAX_CHUNK_SIZE_TOKENS:
        raise ChunkingError(
            f"{where}.max_chunk_size_tokens must be between {MIN_CHUNK_SIZE_TOKENS} and "
            f"{MAX_CHUNK_SIZE_TOKENS}, got {size}"
        )
    if not 0 <= overlap <= size // 2:
        raise ChunkingError(
            f"{where}.chunk_overlap_tokens must be between 0 and half of max_chunk_size_tokens "
            f"({size // 2}), got {overlap}"
        )


@dataclass(frozen=True, slots=True)
class Chunk:
    """One piece of a file's text, as indexed and searched."""

    index: int
    """Position in the file, from 0."""
    text: str
    tokens: int
    """Its length in tokens (at most the strategy's ``max_chunk_size_tokens``)."""


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result: a chunk of a file and how well it matched, in [0, 1]."""

    file_id: str
    filename: str
    score: float
    text: str
    chunk_index: int


@dataclass(frozen=True, slots=True)
class IndexedFile:
    """What indexing a file produced."""

    file_id: str
    chunks: int
    usage_bytes: int
    """Bytes of the index the file takes (its chunks' text and vectors)."""

"""Parse, chunk, embed and index one file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agentdown.knowledge.base import Chunk, Chunking, IndexedFile, ParseError
from agentdown.knowledge.chunking import chunk_text
from agentdown.knowledge.index import StoreIndex
from agentdown.knowledge.parsing import parse_file

__all__ = ["ingest_file"]


async def ingest_file(
    index: StoreIndex,
    path: Path,
    *,
    file_id: str,
    filename: str,
    chunking: Chunking,
    content_type: str | None = None,
) -> IndexedFile:
    """Index the file at ``path`` into ``index`` as ``file_id`` (replacing an earlier version).

    A file that cannot be parsed, or holds no text, raises :class:`ParseError`; the
    parsing and the chunking run in a worker thread.
    """

    def prepare() -> list[Chunk]:
        text = parse_file(path, filename, content_type)
        if not text.strip():
            raise ParseError(f"{filename} holds no text to index")
        return chunk_text(text, chunking)

    chunks = await asyncio.to_thread(prepare)
    return await index.add_file(file_id, filename, chunks)

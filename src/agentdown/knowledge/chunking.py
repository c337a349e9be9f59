"""Cutting text into overlapping chunks of at most N tokens, as the service's static strategy does.

The text is tokenized once; windows of ``max_chunk_size_tokens`` advance by
``max - overlap`` tokens. A window's end is moved back (by at most a quarter of the
window) to the last token that starts a word, ideally a sentence or paragraph, so a
chunk does not end in the middle of a word; its start is moved the same way, forward
within the overlap. Chunks are cut on the UTF-8 bytes of tokens, at character
boundaries, so no character is ever split.
"""

from __future__ import annotations

from itertools import accumulate

from agentdown.knowledge.base import Chunk, Chunking
from agentdown.knowledge.tokens import encoding

__all__ = ["chunk_text"]

_SPACE = frozenset(b" \t\r\n")
_SENTENCE_END = frozenset(b".!?;:\n")


def chunk_text(text: str, chunking: Chunking) -> list[Chunk]:
    """The chunks of ``text``; none for empty or blank text."""
    if not text.strip():
        return []
    enc = encoding()
    tokens = enc.encode_ordinary(text)
    pieces = enc.decode_tokens_bytes(tokens)
    data = b"".join(pieces)
    offsets = [0, *accumulate(len(p) for p in pieces)]
    size = chunking.max_chunk_size_tokens
    overlap = chunking.chunk_overlap_tokens
    total = len(tokens)
    chunks: list[Chunk] = []
    start = 0
    while start < total:
        end = min(start + size, total)
        if end < total:
            end = _snap_end(pieces, start, end, size // 4)
        body, count = _body(data, offsets, start, end, size)
        if body:
            chunks.append(Chunk(index=len(chunks), text=body, tokens=count))
        if end >= total:
            break
        nxt = max(end - overlap, start + 1)
        if overlap:
            nxt = _snap_start(pieces, nxt, end, overlap // 4)
        start = nxt
    return chunks


def _snap_end(pieces: list[bytes], start: int, end: int, slack: int) -> int:
    """The best cut in (end - slack, end]: after a sentence end, else before a word."""
    floor = max(start + 1, end - slack)
    word = None
    for cut in range(end, floor - 1, -1):
        before, after = pieces[cut - 1], pieces[cut]
        if before and before[-1] in _SENTENCE_END and (not after or after[0] in _SPACE):
            return cut
        if word is None and after and after[0] in _SPACE:
            word = cut
    return word if word is not None else end


def _snap_start(pieces: list[bytes], start: int, end: int, slack: int) -> int:
    """A start in [start, start + slack) that begins a word, if there is one before ``end``."""
    for cut in range(start, min(start + slack, end)):
        piece = pieces[cut]
        if piece and piece[0] in _SPACE:
            return cut
    return start


def _body(data: bytes, offsets: list[int], start: int, end: int, size: int) -> tuple[str, int]:
    """The window's text, stripped, and its own token count, which is what ``tokens`` promises:
    re-tokenized alone, a window may count one more (a widened character, a merge at
    its edge), so it is shortened by a token until it fits."""
    while True:
        body = _decode(data, offsets[start], offsets[end]).strip()
        count = len(encoding().encode_ordinary(body)) if body else 0
        if count <= size or end - start <= 1:
            return body, count
        end -= 1


def _decode(data: bytes, lo: int, hi: int) -> str:
    # A token may hold part of a multi-byte character: widen to whole characters
    # (continuation bytes are 0b10xxxxxx), so the overlap may repeat one character.
    while lo > 0 and (data[lo] & 0xC0) == 0x80:
        lo -= 1
    while hi < len(data) and (data[hi] & 0xC0) == 0x80:
        hi += 1
    return data[lo:hi].decode("utf-8", errors="replace")

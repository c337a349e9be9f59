"""BERT's uncased WordPiece tokenizer (as Hugging Face ``tokenizers`` runs it for MiniLM), in Python.

Normaliser: drop control characters, whitespace to spaces, CJK ideographs set apart,
lowercase, accents stripped (NFD, combining marks removed). Pre-tokenizer: split on
whitespace and on each punctuation character. Model: greedy longest-match WordPiece with
``##`` continuations; a word of more than 100 characters, or with no match, is ``[UNK]``.
Tested against the reference ids of the model's own tokenizer (tests/knowledge).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from functools import lru_cache

__all__ = ["WordPiece"]


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    # BERT counts all non-letter/number ASCII as punctuation, e.g. "^", "$", "`".
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x2A6DF
        or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F
        or 0x2B820 <= cp <= 0x2CEAF
        or 0xF900 <= cp <= 0xFAFF
        or 0x2F800 <= cp <= 0x2FA1F
    )


def _normalize(text: str) -> str:
    out: list[str] = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD:
            continue
        cat = unicodedata.category(ch)
        if ch in "\t\n\r" or cat == "Zs":
            out.append(" ")
        elif cat.startswith("C"):
            continue
        elif _is_cjk(cp):
            out.append(f" {ch} ")
        else:
            out.append(ch)
    lowered = "".join(out).lower()
    if lowered.isascii():
        return lowered
    return "".join(c for c in unicodedata.normalize("NFD", lowered) if unicodedata.category(c) != "Mn")


class WordPiece:
    """Text to vocabulary ids, ``[CLS] ... [SEP]`` not included."""

    def __init__(self, vocab: Mapping[str, int], *, unk: str = "[UNK]", max_word_chars: int = 100) -> None:
        self.vocab = dict(vocab)
        self.unk_id = self.vocab[unk]
        self.cls_id = self.vocab["[CLS]"]
        self.sep_id = self.vocab["[SEP]"]
        self.pad_id = self.vocab["[PAD]"]
        self._max = max_word_chars
        # Most words repeat: a per-tokenizer cache makes a corpus several times faster.
        self._word = lru_cache(maxsize=200_000)(self._word_ids)

    def words(self, text: str) -> list[str]:
        words: list[str] = []
        for piece in _normalize(text).split():
            if piece.isalnum():
                words.append(piece)
                continue
            current: list[str] = []
            for ch in piece:
                if _is_punctuation(ch):
                    if current:
                        words.append("".join(current))
                        current = []
                    words.append(ch)
                else:
                    current.append(ch)
            if current:
                words.append("".join(current))
        return words

    def _word_ids(self, word: str) -> tuple[int, ...]:
        if len(word) > self._max:
            return (self.unk_id,)
        vocab = self.vocab
        ids: list[int] = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return (self.unk_id,)
            ids.append(found)
            start = end
        return tuple(ids)

    def encode(self, text: str, *, limit: int | None = None) -> list[int]:
        """The ids of ``text``, at most ``limit`` of them."""
        ids: list[int] = []
        for word in self.words(text):
            ids.extend(self._word(word))
            if limit is not None and len(ids) >= limit:
                return ids[:limit]
        return ids

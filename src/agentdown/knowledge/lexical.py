"""BM25 over our own inverted index, scored with numpy, ranking exactly as FTS5's ``bm25()``.

Why: FTS5 scores every chunk holding any query word and has no top-k pruning, so at
100k chunks one query costs ~17 ms. The same scores from CSR posting arrays in numpy
cost ~1 ms (docs/knowledge.md has the numbers).

Exactness, by construction rather than by imitation:

* **Tokens.** Text is cut at ASCII non-alphanumerics (always separators for
  ``unicode61``); each piece is tokenized *by FTS5 itself* (an in-memory FTS5 table
  with the index's tokenizer) once, and cached. So lower-casing, diacritics, Unicode
  categories and the Porter stemmer are SQLite's, never a re-implementation.
* **Scores.** FTS5's formula (fts5_aux.c): per phrase ``idf * f*(k1+1) / (f + k1*(1-b+b*D/avgdl))``
  with ``idf = log((N-n+0.5)/(n+0.5))`` clamped to 1e-6, k1 = 1.2, b = 0.75, summed in
  phrase order, in doubles; returned negated as ``bm25()`` does.
* A query word that FTS5 would read as a phrase of several tokens (``foo_bar``) is not
  scored here: ``Postings.search`` (knowledge.segments) returns ``None`` and the caller
  asks FTS5.

This module tokenizes and encodes one file's postings; knowledge.segments searches and
merges them, knowledge.lexstore keeps them in the index's SQLite file.
"""

from __future__ import annotations

import re
import sqlite3
import struct
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["K1", "LEXICAL_STAMP", "TOKENIZE", "B", "FileTerms", "Tokenizer", "file_terms", "tokenizer"]

TOKENIZE = "porter unicode61 remove_diacritics 2"
"""The FTS5 tokenizer of the chunks table; the lexical index asks it for every token."""
LEXICAL_STAMP = f"2:{sqlite3.sqlite_version}"
"""Written in ``meta`` with the postings: another format or SQLite (whose stemmer could
differ) means they are rebuilt from the chunks' text."""
K1 = 1.2
B = 0.75
_PIECE = re.compile(r"[^\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+")
_CACHE_MAX = 500_000
_HEADER = struct.Struct("<4sIIB")
_MAGIC = b"lex1"


class Tokenizer:
    """FTS5's tokens of a text, each piece tokenized by SQLite once and cached."""

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(f"CREATE VIRTUAL TABLE t USING fts5(text, tokenize='{TOKENIZE}')")
        self._db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        self._cache: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()

    def _learn(self, pieces: Iterable[str]) -> None:
        todo = [p for p in dict.fromkeys(pieces) if p not in self._cache]
        if not todo:
            return
        with self._lock:
            if len(self._cache) + len(todo) > _CACHE_MAX:
                self._cache.clear()  # bounded: a corpus of ids or hashes must not grow it forever
            self._db.executemany("INSERT INTO t (rowid, text) VALUES (?, ?)", enumerate(todo, 1))
            found: dict[int, list[str]] = {}
            for doc, term in self._db.execute("SELECT doc, term FROM v ORDER BY doc, offset"):
                found.setdefault(doc, []).append(term)
            self._db.execute("DELETE FROM t")
            for i, piece in enumerate(todo, 1):
                self._cache[piece] = tuple(found.get(i, ()))

    def counts(self, text: str) -> tuple[dict[str, int], int]:
        """Each token's count in ``text``, and the number of tokens (FTS5's column size)."""
        pieces = Counter(_PIECE.findall(text))
        cache = self._cache
        if any(p not in cache for p in pieces):
            self._learn(pieces)
            cache = self._cache
        out: dict[str, int] = {}
        total = 0
        for piece, n in pieces.items():
            tokens = cache.get(piece)
            if tokens is None:  # dropped by a clear between learning and here
                self._learn([piece])
                tokens = self._cache[piece]
            for token in tokens:
                out[token] = out.get(token, 0) + n
                total += n
        return out, total

    def phrase(self, word: str) -> tuple[str, ...]:
        """The tokens FTS5 reads in the quoted query word ``word`` (several = a phrase)."""
        pieces = _PIECE.findall(word)
        self._learn(pieces)
        return tuple(t for p in pieces for t in self._cache.get(p, ()))


_TOKENIZER: Tokenizer | None = None
_TOKENIZER_LOCK = threading.Lock()


def tokenizer() -> Tokenizer:
    """The process's tokenizer (the tokenizer configuration is the same for every index)."""
    global _TOKENIZER
    with _TOKENIZER_LOCK:
        if _TOKENIZER is None:
            _TOKENIZER = Tokenizer()
        return _TOKENIZER


@dataclass
class FileTerms:
    """One file's postings as stored: per chunk its id, length and (term id, tf) pairs."""

    chunk_ids: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int32]
    counts: npt.NDArray[np.int32]
    """Distinct terms per chunk: the chunk's slice of ``terms``/``tfs``."""
    terms: npt.NDArray[np.int32]
    tfs: npt.NDArray[np.uint32]

    def encode(self) -> bytes:
        import numpy as np

        wide = bool(len(self.tfs)) and int(self.tfs.max()) > 0xFFFF
        tfs = self.tfs.astype(np.uint32 if wide else np.uint16)
        head = _HEADER.pack(_MAGIC, len(self.chunk_ids), len(self.terms), 4 if wide else 2)
        return b"".join(
            [
                head,
                self.chunk_ids.astype("<i8").tobytes(),
                self.lengths.astype("<i4").tobytes(),
                self.counts.astype("<i4").tobytes(),
                self.terms.astype("<i4").tobytes(),
                tfs.astype("<u4" if wide else "<u2").tobytes(),
            ]
        )

    @classmethod
    def decode(cls, blob: bytes) -> FileTerms:
        """Raises ``ValueError`` for anything but a blob :meth:`encode` wrote."""
        import numpy as np

        if len(blob) < _HEADER.size:
            raise ValueError("postings blob too short")
        magic, n, nnz, width = _HEADER.unpack_from(blob)
        if magic != _MAGIC or width not in (2, 4):
            raise ValueError("not a postings blob")
        sizes = [8 * n, 4 * n, 4 * n, 4 * nnz, width * nnz]
        if _HEADER.size + sum(sizes) != len(blob):
            raise ValueError("postings blob of the wrong length")
        at = _HEADER.size
        parts = []
        for size, dtype in zip(
            sizes, ["<i8", "<i4", "<i4", "<i4", "<u4" if width == 4 else "<u2"], strict=True
        ):
            parts.append(np.frombuffer(blob, dtype=dtype, count=size // np.dtype(dtype).itemsize, offset=at))
            at += size
        ids, lengths, counts, terms, tfs = parts
        if int(counts.sum()) != nnz or (n and int(counts.min()) < 0):
            raise ValueError("postings blob with inconsistent counts")
        return cls(ids, lengths, counts, terms, tfs.astype(np.uint32))


def file_terms(
    chunk_ids: Sequence[int], texts: Sequence[str], term_id: dict[str, int], fresh: dict[str, int], start: int
) -> FileTerms:
    """Tokenize a file's chunks; terms not in ``term_id`` get ids from ``start + len(fresh)`` on, in ``fresh``."""
    import numpy as np

    tok = tokenizer()
    lengths: list[int] = []
    counts: list[int] = []
    terms: list[int] = []
    tfs: list[int] = []
    next_id = start + len(fresh)
    for text in texts:
        tf, total = tok.counts(text)
        lengths.append(total)
        counts.append(len(tf))
        for term, n in tf.items():
            tid = term_id.get(term)
            if tid is None:
                tid = fresh.get(term)
                if tid is None:
                    tid = fresh[term] = next_id
                    next_id += 1
            terms.append(tid)
            tfs.append(n)
    return FileTerms(
        np.asarray(chunk_ids, dtype=np.int64),
        np.asarray(lengths, dtype=np.int32),
        np.asarray(counts, dtype=np.int32),
        np.asarray(terms, dtype=np.int32),
        np.asarray(tfs, dtype=np.uint32),
    )

"""Incremental BM25 postings: a main segment, a delta segment and the main's dead files.

Why: building one CSR index over every chunk (a stable argsort of all postings) costs
seconds at 100k chunks, and a write made it happen again at the next search. Now a
write only adds to a small *delta* segment, a removed or replaced file of the *main*
segment is only masked out, and the two are merged (in O(postings), without sorting)
once the delta and the dead rows exceed a fraction of the main (knowledge.lexstore).

The statistics BM25 uses stay FTS5's exactly: N is the live rows of both segments,
avgdl their total tokens over N, and a term's document frequency its live postings
in both; a row's score is summed over the query's phrases in order, in doubles, as
in :mod:`agentdown.knowledge.lexical` (whose docstring has the formula).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentdown.knowledge.lexical import K1, B, FileTerms

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Postings", "Segment", "merge"]

_HEADER = struct.Struct("<4sQQQQB")
_MAGIC = b"lxm1"


@dataclass
class Segment:
    """Postings of a set of files in CSR form: term id → (rows, tfs); row → chunk id.

    A file's rows are contiguous (``file_starts``), so masking a file out is a slice.
    """

    chunk_ids: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int32]
    file_seqs: npt.NDArray[np.int64]
    """Each file's ``lex_docs.seq``: a new one for every version of a file, never reused."""
    file_starts: npt.NDArray[np.int64]
    offsets: npt.NDArray[np.int64]
    """Term id t's postings are ``rows[offsets[t]:offsets[t + 1]]``."""
    rows: npt.NDArray[np.int32]
    tfs: npt.NDArray[np.unsignedinteger[Any]]

    @property
    def n_rows(self) -> int:
        return len(self.chunk_ids)

    @property
    def width(self) -> int:
        """One more than the largest term id it can hold."""
        return len(self.offsets) - 1

    def span(self, tid: int) -> tuple[int, int]:
        if tid + 1 >= len(self.offsets):
            return 0, 0
        return int(self.offsets[tid]), int(self.offsets[tid + 1])

    def nbytes(self) -> int:
        parts = (
            self.chunk_ids,
            self.lengths,
            self.file_seqs,
            self.file_starts,
            self.offsets,
            self.rows,
            self.tfs,
        )
        return int(sum(a.nbytes for a in parts))

    @classmethod
    def empty(cls) -> Segment:
        import numpy as np

        return cls(
            np.zeros(0, np.int64),
            np.zeros(0, np.int32),
            np.zeros(0, np.int64),
            np.zeros(1, np.int64),
            np.zeros(1, np.int64),
            np.zeros(0, np.int32),
            np.zeros(0, np.uint16),
        )

    @classmethod
    def build(cls, files: Sequence[tuple[int, FileTerms]]) -> Segment:
        """From files' stored postings, ``(seq, terms)`` each (a sort of all their postings)."""
        import numpy as np

        if not files:
            return cls.empty()
        parts = [f for _, f in files]
        chunk_ids = np.concatenate([f.chunk_ids for f in parts]).astype(np.int64)
        lengths = np.concatenate([f.lengths for f in parts]).astype(np.int32)
        counts = np.concatenate([f.counts for f in parts])
        terms = np.concatenate([f.terms for f in parts])
        tfs = np.concatenate([f.tfs for f in parts])
        starts = np.zeros(len(parts) + 1, np.int64)
        np.cumsum([len(f.chunk_ids) for f in parts], out=starts[1:])
        rows = np.repeat(np.arange(len(chunk_ids), dtype=np.int32), counts)
        order = np.argsort(terms, kind="stable")
        width = int(terms.max()) + 1 if len(terms) else 1
        if len(terms) and int(terms.min()) < 1:
            raise ValueError("postings name a term id below 1")
        offsets = np.zeros(width + 1, np.int64)
        np.cumsum(np.bincount(terms, minlength=width), out=offsets[1:])
        return cls(
            chunk_ids,
            lengths,
            np.asarray([s for s, _ in files], np.int64),
            starts,
            offsets,
            rows[order],
            _narrow(tfs[order]),
        )

    def encode(self) -> bytes:
        wide = self.tfs.dtype == _u4()
        head = _HEADER.pack(
            _MAGIC, self.n_rows, len(self.file_seqs), self.width, len(self.rows), 4 if wide else 2
        )
        return b"".join(
            [
                head,
                self.chunk_ids.astype("<i8").tobytes(),
                self.lengths.astype("<i4").tobytes(),
                self.file_seqs.astype("<i8").tobytes(),
                self.file_starts.astype("<i8").tobytes(),
                self.offsets.astype("<i8").tobytes(),
                self.rows.astype("<i4").tobytes(),
                self.tfs.astype("<u4" if wide else "<u2").tobytes(),
            ]
        )

    @classmethod
    def decode(cls, blob: bytes) -> Segment:
        """Raises ``ValueError`` for anything but a blob :meth:`encode` wrote."""
        import numpy as np

        if len(blob) < _HEADER.size:
            raise ValueError("main segment blob too short")
        magic, n, nf, width, nnz, w = _HEADER.unpack_from(blob)
        if magic != _MAGIC or w not in (2, 4):
            raise ValueError("not a main segment blob")
        layout = [
            ("<i8", n),
            ("<i4", n),
            ("<i8", nf),
            ("<i8", nf + 1),
            ("<i8", width + 1),
            ("<i4", nnz),
            ("<u4" if w == 4 else "<u2", nnz),
        ]
        if _HEADER.size + sum(np.dtype(d).itemsize * c for d, c in layout) != len(blob):
            raise ValueError("main segment blob of the wrong length")
        at = _HEADER.size
        parts = []
        for dtype, count in layout:
            parts.append(np.frombuffer(blob, dtype=dtype, count=count, offset=at))
            at += np.dtype(dtype).itemsize * count
        seg = cls(*parts)
        ok = (
            seg.file_starts[0] == 0
            and seg.file_starts[-1] == n
            and seg.offsets[0] == 0
            and seg.offsets[-1] == nnz
            and bool(np.all(np.diff(seg.file_starts) >= 0))
            and bool(np.all(np.diff(seg.offsets) >= 0))
            and (not nnz or (int(seg.rows.min()) >= 0 and int(seg.rows.max()) < n))
        )
        if not ok:
            raise ValueError("main segment blob with inconsistent offsets")
        return seg


def merge(base: Segment, keep_files: npt.NDArray[np.bool_] | None, extra: Segment) -> Segment:
    """``base`` without its files not kept, then ``extra``: one segment, in O(postings).

    Both are sorted by term; each term's postings in the result are base's live ones
    then extra's, so every entry's place is computed, not sorted for.
    """
    import numpy as np

    if keep_files is not None and bool(keep_files.all()):
        keep_files = None
    if keep_files is None and not extra.n_rows and not len(extra.file_seqs):
        return base
    width = max(base.width, extra.width)
    base_counts = np.diff(base.offsets)
    entry_terms = np.repeat(np.arange(base.width, dtype=np.int32), base_counts)
    if keep_files is None:
        b_rows, b_tfs, b_terms = base.rows, base.tfs, entry_terms
        chunk_ids, lengths, seqs = base.chunk_ids, base.lengths, base.file_seqs
        starts = base.file_starts
    else:
        live = np.repeat(keep_files, np.diff(base.file_starts))
        remap = np.cumsum(live, dtype=np.int64) - 1
        entry_live = live[base.rows]
        b_rows = remap[base.rows[entry_live]].astype(np.int32)
        b_tfs = base.tfs[entry_live]
        b_terms = entry_terms[entry_live]
        chunk_ids, lengths = base.chunk_ids[live], base.lengths[live]
        seqs = base.file_seqs[keep_files]
        sizes = np.diff(base.file_starts)[keep_files]
        starts = np.zeros(len(sizes) + 1, np.int64)
        np.cumsum(sizes, out=starts[1:])
    n_base = len(chunk_ids)
    b_counts = np.bincount(b_terms, minlength=width)
    e_counts = np.zeros(width, np.int64)
    e_counts[: extra.width] = np.diff(extra.offsets)
    b_cum = np.zeros(width + 1, np.int64)
    np.cumsum(b_counts, out=b_cum[1:])
    e_cum = np.zeros(width + 1, np.int64)
    np.cumsum(e_counts, out=e_cum[1:])
    e_terms = np.repeat(np.arange(extra.width, dtype=np.int32), np.diff(extra.offsets))
    nnz = len(b_rows) + len(extra.rows)
    rows = np.empty(nnz, np.int32)
    wide = b_tfs.dtype == _u4() or extra.tfs.dtype == _u4()
    tfs: npt.NDArray[np.unsignedinteger[Any]] = np.empty(nnz, np.uint32 if wide else np.uint16)
    # Entry i of base (term t) goes after the extra postings of terms < t; entry j of
    # extra after all base postings of terms <= t.
    dest_b = np.arange(len(b_rows), dtype=np.int64) + e_cum[b_terms]
    dest_e = np.arange(len(extra.rows), dtype=np.int64) + b_cum[e_terms + 1]
    rows[dest_b] = b_rows
    rows[dest_e] = extra.rows + n_base
    tfs[dest_b] = b_tfs
    tfs[dest_e] = extra.tfs
    offsets = b_cum + e_cum
    return Segment(
        np.concatenate([chunk_ids, extra.chunk_ids]),
        np.concatenate([lengths, extra.lengths]),
        np.concatenate([seqs, extra.file_seqs]),
        np.concatenate([starts, extra.file_starts[1:] + n_base]),
        offsets,
        rows,
        tfs,
    )


class Postings:
    """What a search reads: the main segment minus its dead files, plus the delta."""

    def __init__(
        self,
        main: Segment,
        main_token: str,
        keep_files: npt.NDArray[np.bool_] | None,
        delta: Segment,
        term_id: dict[str, int],
        generation: int,
    ) -> None:
        import numpy as np

        self.main = main
        self.main_token = main_token
        self.keep_files = keep_files
        self.delta = delta
        self.term_id = term_id
        self.generation = generation
        self.dead: npt.NDArray[np.bool_] | None = None
        self.dead_rows = np.zeros(0, np.int64)
        if keep_files is not None and not bool(keep_files.all()):
            self.dead = np.repeat(~keep_files, np.diff(main.file_starts))
            self.dead_rows = np.flatnonzero(self.dead)
        else:
            self.keep_files = None
        self.chunk_ids = np.concatenate([main.chunk_ids, delta.chunk_ids])
        lengths = np.concatenate([main.lengths, delta.lengths])
        live = np.ones(len(lengths), bool)
        live[self.dead_rows] = False
        self.total_rows = int(live.sum())
        self.total_tokens = int(lengths[live].sum(dtype=np.int64))
        self.live_id_sum = int(self.chunk_ids[live].sum(dtype=np.int64))
        self.avgdl = self.total_tokens / self.total_rows if self.total_rows else 0.0
        self._lengths = lengths.astype(np.float64)
        self._norm: npt.NDArray[np.float64] | None = None

    def nbytes(self) -> int:
        return self.main.nbytes() + self.delta.nbytes() + int(self.chunk_ids.nbytes + self._lengths.nbytes)

    def _main_count(self, lo: int, hi: int) -> int:
        import numpy as np

        if self.dead is None or lo == hi:
            return hi - lo
        return hi - lo - int(np.count_nonzero(self.dead[self.main.rows[lo:hi]]))

    def doc_frequency(self, token: str) -> int:
        tid = self.term_id.get(token)
        if tid is None:
            return 0
        d_lo, d_hi = self.delta.span(tid)
        return self._main_count(*self.main.span(tid)) + d_hi - d_lo

    def search(self, phrases: Sequence[tuple[str, ...]], limit: int) -> list[tuple[int, float]] | None:
        """The best ``limit`` (chunk id, ``bm25()``) of the OR of ``phrases``, best first,
        ties by chunk id; ``None`` if a phrase has several tokens (FTS5 must answer)."""
        import numpy as np

        if any(len(p) > 1 for p in phrases):
            return None
        n_rows = self.total_rows
        if not n_rows or limit < 1:
            return []
        if self._norm is None:
            self._norm = K1 * ((1 - B) + (B * self._lengths) / self.avgdl)
        norm = self._norm
        n_main = self.main.n_rows
        scores = np.zeros(len(self.chunk_ids), dtype=np.float64)
        touched = False
        for phrase in phrases:
            if not phrase:
                continue  # a word FTS5 reads as no token matches nothing
            tid = self.term_id.get(phrase[0])
            if tid is None:
                continue
            m_lo, m_hi = self.main.span(tid)
            d_lo, d_hi = self.delta.span(tid)
            n = self._main_count(m_lo, m_hi) + d_hi - d_lo
            if not n:
                continue
            idf = float(np.log((n_rows - n + 0.5) / (n + 0.5)))
            if idf <= 0.0:
                idf = 1e-6
            # Rows of the two segments are distinct, so each row still sums its phrases
            # in query order, as FTS5 does (the dead rows are zeroed below).
            if m_lo != m_hi:
                rows = self.main.rows[m_lo:m_hi]
                f = self.main.tfs[m_lo:m_hi].astype(np.float64)
                scores[rows] += idf * ((f * (K1 + 1.0)) / (f + norm[rows]))
            if d_lo != d_hi:
                d_rows = self.delta.rows[d_lo:d_hi].astype(np.int64) + n_main
                f = self.delta.tfs[d_lo:d_hi].astype(np.float64)
                scores[d_rows] += idf * ((f * (K1 + 1.0)) / (f + norm[d_rows]))
            touched = True
        if not touched:
            return []
        if len(self.dead_rows):
            scores[self.dead_rows] = 0.0
        hit = np.flatnonzero(scores)
        if len(hit) > limit:
            # The limit-th best score; everything above it, and its ties, are kept.
            kth = np.partition(scores[hit], len(hit) - limit)[len(hit) - limit]
            hit = hit[scores[hit] >= kth]
        ids = self.chunk_ids[hit]
        order = np.lexsort((ids, -scores[hit]))[:limit]
        return [(int(ids[i]), -float(scores[hit[i]])) for i in order]


def _narrow(tfs: npt.NDArray[np.unsignedinteger[Any]]) -> npt.NDArray[np.unsignedinteger[Any]]:
    import numpy as np

    return tfs.astype(np.uint16) if not len(tfs) or int(tfs.max()) <= 0xFFFF else tfs.astype(np.uint32)


def _u4() -> np.dtype[np.uint32]:
    import numpy as np

    return np.dtype(np.uint32)

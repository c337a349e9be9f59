"""One vector store's index: a SQLite file with the chunks, an FTS5 (BM25) index and vectors.

Why this shape:

* SQLite's FTS5 is BM25 in the standard library: no service, no extra package.
* Vectors are float32 BLOBs beside the chunks and are searched by brute force with
  numpy over a matrix kept in memory (rebuilt after a write). sqlite-vec would keep
  them in SQLite, but it is a loadable extension, and many Python builds (this
  project's CI's among them) compile ``sqlite3`` without extension loading. Brute force
  is exact and, at 100k chunks of 256 dimensions, a few milliseconds
  (docs/knowledge.md has the numbers).
* Every SQLite call runs on the index's own single worker thread, never on the event
  loop, and always on the same connection (SQLite connections are not shared across threads).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from agentdown.knowledge.base import Chunk, IndexedFile, KnowledgeError, SearchHit
from agentdown.knowledge.fusion import RRF_K, bm25_score, fts_query, query_terms, rrf
from agentdown.knowledge.lexical import LEXICAL_STAMP, TOKENIZE, tokenizer
from agentdown.knowledge.lexstore import SCHEMA as LEXICAL_SCHEMA
from agentdown.knowledge.lexstore import LexicalStore, meta, snapshot, transaction
from agentdown.knowledge.segments import Postings
from agentdown.models.embeddings import Embedder

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["SearchMode", "StoreIndex"]

logger = logging.getLogger("agentdown.knowledge")

SearchMode = Literal["fused", "bm25", "vector"]
LexicalEngine = Literal["numpy", "fts5"]
T = TypeVar("T")

SCHEMA_VERSION = "1"
COARSE_MIN_ROWS = 20_000
"""From this many vectors on, candidates come from a projection (see ``_Matrix.coarse``)."""
COARSE_DIMS = 64
COARSE_POOL = 1000
"""Candidates re-ranked exactly after the projected scan."""
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    file_id TEXT PRIMARY KEY, filename TEXT NOT NULL, chunks INTEGER NOT NULL, bytes INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, file_id TEXT NOT NULL, chunk_index INTEGER NOT NULL,
    text TEXT NOT NULL, tokens INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_file ON chunks (file_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content='chunks', content_rowid='id', tokenize='{TOKENIZE}'
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, 'row');
CREATE TABLE IF NOT EXISTS vectors (chunk_id INTEGER PRIMARY KEY, model TEXT NOT NULL, vec BLOB NOT NULL);
"""
_SCHEMA += LEXICAL_SCHEMA


@dataclass
class _Matrix:
    """The vectors of one model, normalised, in memory, with the chunk id of each row."""

    model: str
    generation: int
    ids: npt.NDArray[np.int64]
    vectors: npt.NDArray[np.float32]
    projection: npt.NDArray[np.float32] | None = None
    """For large indexes, the top principal axes of the vectors (dims x COARSE_DIMS)."""
    coarse: npt.NDArray[np.float32] | None = None
    """The vectors projected on them: a quarter of the bytes to scan for candidates."""


class StoreIndex:
    """The index of one vector store (see the module docstring).

    Open with :meth:`open`; every method but :meth:`usage_bytes` and :meth:`files`
    (quick reads) is a coroutine whose SQLite work happens on the index's thread.
    """

    def __init__(
        self,
        path: Path,
        embedder: Embedder | None,
        connection: sqlite3.Connection,
        executor: concurrent.futures.ThreadPoolExecutor,
    ) -> None:
        self.path = path
        self.embedder = embedder
        self._db = connection
        self._executor = executor
        self._generation = 0
        self._matrix: _Matrix | None = None
        self._count: tuple[int, int] | None = None
        self._middle: tuple[int, int | None] | None = None
        self._helper: concurrent.futures.ThreadPoolExecutor | None = None
        self._reader: tuple[int, sqlite3.Connection] | None = None
        """The second thread's connection and the generation it was opened at."""
        self._lock = threading.Lock()
        self._closed = False
        self._lex = LexicalStore()
        self._data_version: int | None = None
        """SQLite's count of other connections' commits, last seen (see _notice_writes)."""
        self.lexical: LexicalEngine = "numpy"
        """Who scores BM25: our postings with numpy (default; FTS5 answers queries it
        cannot, see knowledge.lexical), or FTS5 itself (the bench compares them)."""
        self.rrf_k = RRF_K
        self.common_fraction = 0.5
        """Query words in more than this fraction of the chunks are left out of BM25 (when
        others remain); at 0.5 their IDF is ~0 in FTS5, so the ranking is unchanged."""
        self.candidates = 50
        """How many hits each retriever contributes to the fusion (at least 5x the results asked)."""
        self.merge_fraction = 0.2
        """A write merges the BM25 delta into the main segment once the delta and the dead
        rows exceed this fraction of the main (and ``merge_min_rows``): see knowledge.segments."""
        self.merge_min_rows = 5000

    @classmethod
    def open(cls, path: Path, embedder: Embedder | None) -> StoreIndex:
        """Open (creating if need be) the index file at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentdown-index")
        try:
            connection = executor.submit(_connect, path).result()
        except BaseException:
            executor.shutdown(wait=False)
            raise
        return cls(path, embedder, connection, executor)

    # -- running on the index thread ---------------------------------------------------------

    async def _run(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise KnowledgeError(f"the index {self.path.name} is closed")
        return await asyncio.wrap_future(self._executor.submit(fn))

    def _call(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise KnowledgeError(f"the index {self.path.name} is closed")
        return self._executor.submit(fn).result()

    # -- writing -------------------------------------------------------------------------------

    async def add_file(self, file_id: str, filename: str, chunks: Sequence[Chunk]) -> IndexedFile:
        """Index ``chunks`` as the file ``file_id``, replacing whatever it had (idempotent)."""
        vectors: list[list[float]] | None = None
        model = None
        if self.embedder is not None and chunks:
            vectors = await self.embedder.embed([c.text for c in chunks])
            model = self.embedder.name
            if len(vectors) != len(chunks):
                raise KnowledgeError(f"the embedder returned {len(vectors)} vectors for {len(chunks)} chunks")
        blobs = _blobs(vectors) if vectors is not None else None
        return await self._commit(lambda: self._write(file_id, filename, chunks, model, blobs))

    def _write(
        self,
        file_id: str,
        filename: str,
        chunks: Sequence[Chunk],
        model: str | None,
        blobs: list[bytes] | None,
    ) -> IndexedFile:
        db = self._db
        size = sum(len(c.text.encode("utf-8")) for c in chunks) + sum(len(b) for b in blobs or ())
        fresh: dict[str, int] | None = None
        rowids: list[int] = []
        with transaction(db):  # readers see the old file or the new one, never half of it
            self._delete(file_id)
            for i, chunk in enumerate(chunks):
                cur = db.execute(
                    "INSERT INTO chunks (file_id, chunk_index, text, tokens) VALUES (?, ?, ?, ?)",
                    (file_id, chunk.index, chunk.text, chunk.tokens),
                )
                rowid = cur.lastrowid
                assert rowid is not None
                rowids.append(rowid)
                db.execute("INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)", (rowid, chunk.text))
                if blobs is not None and model is not None:
                    db.execute(
                        "INSERT INTO vectors (chunk_id, model, vec) VALUES (?, ?, ?)",
                        (rowid, model, blobs[i]),
                    )
            db.execute(
                "INSERT INTO files (file_id, filename, chunks, bytes) VALUES (?, ?, ?, ?)",
                (file_id, filename, len(chunks), size),
            )
            # The delta's row is written with the chunks: a crash leaves both or neither.
            fresh = self._lex.write_file(db, file_id, rowids, [c.text for c in chunks])
        self._lex.committed(fresh)
        self._generation += 1
        self._maybe_merge()
        return IndexedFile(file_id=file_id, chunks=len(chunks), usage_bytes=size)

    def _delete(self, file_id: str) -> None:
        db = self._db
        rows = db.execute("SELECT id, text FROM chunks WHERE file_id = ?", (file_id,)).fetchall()
        for rowid, text in rows:
            db.execute(
                "INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', ?, ?)", (rowid, text)
            )
        db.execute(
            "DELETE FROM vectors WHERE chunk_id IN (SELECT id FROM chunks WHERE file_id = ?)", (file_id,)
        )
        db.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
        db.execute("DELETE FROM files WHERE file_id = ?", (file_id,))
        self._lex.delete(db, file_id)

    # -- our BM25 postings (knowledge.lexical, segments, lexstore) -----------------------------

    @property
    def _postings(self) -> Postings | None:
        return self._lex.view

    def _load_postings(self) -> Postings:
        """The postings of the current generation: the cached view, brought up to date
        (the delta's new files only), or rebuilt from the chunks' text when they are
        stale or do not match the chunks (an older index, another SQLite, damage)."""
        self._notice_writes()
        cached = self._lex.view
        if cached is not None and cached.generation == self._generation:
            return cached
        try:
            with snapshot(self._db):
                return self._lex.load(self._db, self._generation)
        except ValueError as exc:
            logger.warning("index %s: rebuilding its BM25 postings (%s)", self.path.name, exc)
        self._rebuild_postings()
        with snapshot(self._db):
            return self._lex.load(self._db, self._generation)

    def _rebuild_postings(self) -> None:
        self._lex.rebuild(self._db, self._generation)

    def _maybe_merge(self) -> None:
        """After a write, within its lock (the shared index's lease included)."""
        try:
            if self._lex.wants_merge(self._db, self.merge_fraction, self.merge_min_rows):
                self._lex.merge(self._db, self._generation)
        except ValueError as exc:  # stale or damaged: the next search rebuilds them
            logger.warning("index %s: BM25 postings not merged (%s)", self.path.name, exc)

    async def merge_postings(self) -> bool:
        """Merge the BM25 delta into the main segment now; ``False`` if there was nothing to do."""
        return await self._commit(lambda: self._lex.merge(self._db, self._generation))

    def _notice_writes(self) -> None:
        """Another process's commit (SQLite's data_version moved) makes every cache stale."""
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        if version != self._data_version:
            if self._data_version is not None:
                self._generation += 1
            self._data_version = int(version)

    def _numpy_bm25(self, query: str, limit: int) -> list[tuple[int, float]] | None:
        """BM25 from our postings; ``None`` when FTS5 must answer (a phrase in the query)."""
        postings = self._load_postings()
        tok = tokenizer()
        words = query_terms(query)
        phrases = [tok.phrase(w) for w in words]
        total = postings.total_rows
        if len(phrases) >= 2 and total >= 1000:
            # As for FTS5 (_useful_terms): words in over half of the chunks score ~0.
            useful = [
                p
                for p in phrases
                if len(p) != 1 or postings.doc_frequency(p[0]) <= total * self.common_fraction
            ]
            phrases = useful or phrases
        return postings.search(phrases, limit)

    async def remove_file(self, file_id: str) -> None:
        """Drop the file's chunks; nothing happens for a file not in the index."""

        def remove() -> None:
            with transaction(self._db):
                self._delete(file_id)
            self._generation += 1
            self._maybe_merge()

        await self._commit(remove)

    # -- hooks of a shared index (knowledge.shared) ------------------------------------------

    async def _commit(self, write: Callable[[], T]) -> T:
        """Run one write on the index thread; a shared index wraps it in its writer lease."""
        return await self._run(write)

    async def _before_read(self) -> None:
        """Called before every search; a shared index refreshes its local copy here."""

    async def refresh(self) -> None:
        """Bring a shared index's local copy up to date (nothing to do for a local one)."""

    def _checkpoint(self) -> None:
        """Fold the WAL into the main file, so that the file alone is the whole index."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def _reopen(self, replace_with: Path | None) -> None:
        """On the index thread: close, put the file ``replace_with`` in place of the index
        (when given), and open it again."""
        if self._helper is not None:
            self._helper.submit(self._close_reader).result()
        self._db.close()
        if replace_with is not None:
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            os.replace(replace_with, self.path)
        self._db = _connect(self.path)
        self._generation += 1
        self._matrix = None
        self._lex.forget()
        self._data_version = None

    # -- reading -------------------------------------------------------------------------------

    def usage_bytes(self) -> int:
        """Bytes the store's chunks and vectors take, summed over its files."""
        return int(
            self._call(lambda: self._db.execute("SELECT COALESCE(SUM(bytes), 0) FROM files").fetchone()[0])
        )

    def files(self) -> list[str]:
        """The ids of the files indexed, sorted."""
        return [
            r[0]
            for r in self._call(
                lambda: self._db.execute("SELECT file_id FROM files ORDER BY file_id").fetchall()
            )
        ]

    async def search(
        self, query: str, *, max_results: int = 10, score_threshold: float = 0.0, mode: SearchMode = "fused"
    ) -> list[SearchHit]:
        """The best chunks for ``query``, highest score first, scores in [0, 1].

        ``fused`` ranks by reciprocal rank fusion of BM25 and vector similarity (BM25
        alone without an embedder); ``bm25`` and ``vector`` use one retriever. Hits
        scoring below ``score_threshold`` are left out.
        """
        if max_results < 1:
            return []
        if mode not in ("fused", "bm25", "vector"):
            raise KnowledgeError(f"unknown search mode {mode!r}: use 'fused', 'bm25' or 'vector'")
        use_vectors = mode in ("fused", "vector") and self.embedder is not None
        if mode == "vector" and not use_vectors:
            raise KnowledgeError("vector search needs an embedder, and this index has none")
        qvec = None
        if use_vectors:
            assert self.embedder is not None
            (qvec,) = await self.embedder.embed([query])
        await self._before_read()
        await self._run(self._notice_writes)
        want = max(self.candidates, 5 * max_results) if mode == "fused" else max_results
        semantic: list[tuple[int, float]] = []
        if qvec is None:
            lexical = await self._lexical(query, want)
        else:
            # The matrix is built on the index thread (it reads SQLite); the product runs on
            # another thread meanwhile FTS5 answers on this one: fused costs the slower of
            # the two, not their sum (numpy and SQLite both release the GIL).
            cached, model = self._matrix, self.embedder.name if self.embedder is not None else ""
            fresh = cached is not None and cached.generation == self._generation and cached.model == model
            matrix = cached if fresh else await self._run(self._vectors)
            pending = asyncio.ensure_future(self._lexical(query, want)) if mode == "fused" else None
            semantic = await asyncio.to_thread(_nearest, matrix, qvec, want)
            lexical = await pending if pending is not None else []
        if mode == "bm25":
            scored = [(rowid, bm25_score(raw)) for rowid, raw in lexical]
        elif mode == "vector":
            scored = [(rowid, max(0.0, min(1.0, sim))) for rowid, sim in semantic]
        else:
            # Without an embedder "fused" is the fusion of one ranking: the same rank-based
            # scores, so a score_threshold means the same with or without vectors.
            rankings = [[r for r, _ in lexical]] + ([[r for r, _ in semantic]] if qvec is not None else [])
            scored = rrf(rankings, k=self.rrf_k)
        kept = [(r, sc) for r, sc in scored if sc >= score_threshold][:max_results]
        return await self._run(lambda: self._hits(kept))

    async def _lexical(self, query: str, limit: int) -> list[tuple[int, float]]:
        """BM25's best ``limit`` chunks; a large index is searched in two halves at once.

        FTS5 scores every chunk that holds a query word, so on a large index the time
        is that scoring: the two halves (by rowid) are scored on two threads, each over
        its own connection (SQLite releases the GIL), and their best merged. The scores
        are the same as of one query: the statistics BM25 uses are the whole index's.
        """
        if self.lexical == "numpy":
            found = await self._run(lambda: self._numpy_bm25(query, limit))
            if found is not None:
                return found
        plan = await self._run(lambda: self._bm25_plan(query))
        if plan is None:
            return []
        match, middle = plan
        if middle is None:
            return await self._run(lambda: _bm25_rows(self._db, match, limit, None, None))
        upper = asyncio.wrap_future(self._second().submit(self._bm25_upper, match, limit, middle))
        lower = await self._run(lambda: _bm25_rows(self._db, match, limit, None, middle - 1))
        merged = sorted([*lower, *await upper], key=lambda row: row[1])
        return merged[:limit]

    def _bm25_plan(self, query: str) -> tuple[str, int | None] | None:
        match = fts_query(self._useful_terms(query_terms(query)))
        if match is None:
            return None
        return match, self._middle_rowid()

    def _middle_rowid(self) -> int | None:
        """The rowid halving the chunks, once they are many enough for two threads to pay."""
        if self._chunk_count() < SPLIT_MIN_CHUNKS:
            return None
        if self._middle is None or self._middle[0] != self._generation:
            row = self._db.execute(
                "SELECT id FROM chunks ORDER BY id LIMIT 1 OFFSET ?", (self._chunk_count() // 2,)
            ).fetchone()
            self._middle = (self._generation, int(row[0]) if row is not None else None)
        return self._middle[1]

    def _second(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._helper is None:
            self._helper = concurrent.futures.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="agentdown-index-2"
            )
        return self._helper

    def _bm25_upper(self, match: str, limit: int, middle: int) -> list[tuple[int, float]]:
        """On the second thread, over its own connection (opened again after a reopen)."""
        if self._reader is None or self._reader[0] != self._generation:
            if self._reader is not None:
                self._reader[1].close()
            self._reader = (self._generation, _connect(self.path))
        return _bm25_rows(self._reader[1], match, limit, middle, None)

    def _close_reader(self) -> None:
        if self._reader is not None:
            self._reader[1].close()
            self._reader = None

    def _useful_terms(self, terms: list[str]) -> list[str]:
        """``terms`` without those in more than half of the chunks, if others remain.

        FTS5 clamps the IDF of such a term to ~0, so it adds nothing to any score, but
        matching it means scoring nearly every chunk: dropping it keeps the ranking of
        the chunks that matter and saves most of the time of a query.
        """
        if len(terms) < 2:
            return terms
        total = self._chunk_count()
        if total < 1000:
            return terms
        marks = ",".join("?" * len(terms))
        frequent = {
            term
            for term, docs in self._db.execute(
                f"SELECT term, doc FROM chunks_vocab WHERE term IN ({marks})", terms
            )
            if docs > total * self.common_fraction
        }
        return [t for t in terms if t not in frequent] or terms

    def _chunk_count(self) -> int:
        if self._count is None or self._count[0] != self._generation:
            self._count = (
                self._generation,
                int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]),
            )
        return self._count[1]

    def _vectors(self) -> _Matrix | None:
        import numpy as np

        assert self.embedder is not None
        model = self.embedder.name
        cached = self._matrix
        if cached is not None and cached.generation == self._generation and cached.model == model:
            return cached
        rows = self._db.execute(
            "SELECT chunk_id, vec FROM vectors WHERE model = ? ORDER BY chunk_id", (model,)
        ).fetchall()
        if not rows:
            other = self._db.execute("SELECT model FROM vectors LIMIT 1").fetchone()
            if other is not None:
                logger.warning(
                    "index %s holds vectors of %s, not of the current embedder %s: vector search "
                    "finds nothing until its files are indexed again",
                    self.path.name,
                    other[0],
                    model,
                )
            self._matrix = None
            return None
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        self._matrix = _Matrix(model, self._generation, ids, vectors)
        if len(rows) >= COARSE_MIN_ROWS and vectors.shape[1] > 2 * COARSE_DIMS:
            # A brute-force scan is bound by memory bandwidth (100k x 256 floats = 100 MB per
            # query). Candidates come from a PCA projection to COARSE_DIMS dimensions instead,
            # and are re-ranked exactly (docs/knowledge.md has the recall of this step).
            rng = np.random.default_rng(0)
            sample = vectors[rng.choice(len(rows), size=min(len(rows), 8192), replace=False)]
            _, _, vt = np.linalg.svd(sample, full_matrices=False)
            projection = np.ascontiguousarray(vt[:COARSE_DIMS].T, dtype=np.float32)
            self._matrix.projection = projection
            self._matrix.coarse = np.ascontiguousarray(vectors @ projection)
        return self._matrix

    def _hits(self, scored: list[tuple[int, float]]) -> list[SearchHit]:
        if not scored:
            return []
        marks = ",".join("?" * len(scored))
        rows = self._db.execute(
            f"SELECT c.id, c.file_id, f.filename, c.text, c.chunk_index FROM chunks c "
            f"JOIN files f ON f.file_id = c.file_id WHERE c.id IN ({marks})",
            [r for r, _ in scored],
        ).fetchall()
        by_id: dict[int, tuple[Any, ...]] = {row[0]: row for row in rows}
        return [
            SearchHit(file_id=row[1], filename=row[2], score=score, text=row[3], chunk_index=row[4])
            for rowid, score in scored
            if (row := by_id.get(rowid)) is not None
        ]

    # -- lifecycle -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the database; later calls raise :class:`KnowledgeError`."""
        if self._closed:
            return
        if self._helper is not None:
            await asyncio.wrap_future(self._helper.submit(self._close_reader))
            self._helper.shutdown(wait=False)
        await self._run(self._db.close)
        self._closed = True
        self._executor.shutdown(wait=False)

    def __repr__(self) -> str:
        return f"StoreIndex({str(self.path)!r})"


def _bm25_rows(
    db: sqlite3.Connection, match: str, limit: int, low: int | None, high: int | None
) -> list[tuple[int, float]]:
    bounds = "" if low is None else " AND rowid >= ?"
    bounds += "" if high is None else " AND rowid <= ?"
    args = [match, *(b for b in (low, high) if b is not None), limit]
    rows = db.execute(
        f"SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?{bounds} ORDER BY rank LIMIT ?",
        args,
    ).fetchall()
    return [(int(r), float(s)) for r, s in rows]


SPLIT_MIN_CHUNKS = 20_000
"""From this many chunks on, BM25 scores the two halves of the index on two threads."""


def _nearest(matrix: _Matrix | None, qvec: list[float], limit: int) -> list[tuple[int, float]]:
    """The ``limit`` rows most similar to ``qvec`` by cosine, best first (exact, brute force)."""
    import numpy as np

    if matrix is None or not len(matrix.ids):
        return []
    q = np.asarray(qvec, dtype=np.float32)
    if q.shape[0] != matrix.vectors.shape[1]:
        raise KnowledgeError(
            f"the query vector has {q.shape[0]} dimensions, the index's {matrix.vectors.shape[1]}"
        )
    norm = float(np.linalg.norm(q))
    if norm == 0.0:
        return []
    q = q / norm
    if matrix.coarse is not None and matrix.projection is not None:
        rough = matrix.coarse @ (q @ matrix.projection)
        pool = min(len(rough), max(COARSE_POOL, 10 * limit))
        rows = np.argpartition(rough, len(rough) - pool)[len(rough) - pool :]
        sims = matrix.vectors[rows] @ q
    else:
        rows = None
        sims = matrix.vectors @ q
    n = min(limit, len(sims))
    top = np.argpartition(sims, len(sims) - n)[len(sims) - n :]
    top = top[np.argsort(-sims[top], kind="stable")]
    picked = rows[top] if rows is not None else top
    return [(int(matrix.ids[i]), float(s)) for i, s in zip(picked, sims[top], strict=True)]


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=10000")
        db.executescript(_SCHEMA)
        found = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if found is None:
            db.execute("INSERT INTO meta (key, value) VALUES ('schema', ?)", (SCHEMA_VERSION,))
        if meta(db, "lexical") is None and db.execute("SELECT 1 FROM chunks LIMIT 1").fetchone() is None:
            # A new (or empty) index: its postings, none yet, are current. An older index
            # with chunks has no stamp, and its postings are built at its first search.
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('lexical', ?)", (LEXICAL_STAMP,))
        elif found[0] != SCHEMA_VERSION:
            raise KnowledgeError(
                f"{path} is an index of schema {found[0]}, this agentdown reads {SCHEMA_VERSION}"
            )
    except sqlite3.DatabaseError as exc:
        db.close()
        raise KnowledgeError(f"{path} is not a usable index: {exc}") from exc
    except BaseException:
        db.close()
        raise
    return db


def _blobs(vectors: list[list[float]]) -> list[bytes]:
    import numpy as np

    matrix = np.asarray(vectors, dtype=np.float32)
    if matrix.ndim != 2 or not matrix.shape[1]:
        raise KnowledgeError("the embedder returned vectors of no or unequal dimensions")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    # Stored normalised: a dot product is then the cosine similarity.
    matrix = matrix / norms
    return [row.tobytes() for row in matrix]

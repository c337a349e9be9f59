"""Our BM25 postings in the index's SQLite file, and the view of them a search reads.

Tables (beside the chunks, in the same file, so they travel with shared snapshots):

* ``lex_terms (id, term)``: term ids, only ever appended (ids run from 1 without gaps).
* ``lex_docs (seq, file_id, rows, postings)``: one row per indexed file. Every version
  of a file gets a new ``seq`` (AUTOINCREMENT: never reused). ``postings`` is the
  file's :class:`FileTerms` blob while the file is in the *delta*, NULL once merged
  into the main segment.
* ``lex_main (token, rows, segment)``: the main segment (:class:`Segment`) and a
  random token naming its content (a process keeps the decoded segment while the
  token is the same).

A write inserts its file's ``lex_docs`` row in the transaction that writes its
chunks; a removal deletes the row, which makes the main's rows of that file dead (its
seq is no longer in ``lex_docs``). So whichever process reads, the persisted state
is always consistent with the chunks. A merge is one transaction, taken with the
store's write lock (the writer's, or the shared index's lease): it replaces
``lex_main`` and clears the merged blobs; a crash before its commit leaves the
previous main and delta, which SQLite's rollback keeps intact.
"""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from collections.abc import Iterator, Sequence

from agentdown.knowledge.lexical import LEXICAL_STAMP, FileTerms, file_terms
from agentdown.knowledge.segments import Postings, Segment, merge

__all__ = ["SCHEMA", "LexicalStore", "snapshot", "transaction"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS lex_terms (id INTEGER PRIMARY KEY, term TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS lex_docs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, file_id TEXT NOT NULL UNIQUE, rows INTEGER NOT NULL, postings BLOB
);
CREATE TABLE IF NOT EXISTS lex_main (
    id INTEGER PRIMARY KEY CHECK (id = 1), token TEXT NOT NULL, rows INTEGER NOT NULL, segment BLOB NOT NULL
);
"""
_BATCH = 500


@contextlib.contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    # The connection is in autocommit mode (isolation_level=None), so the transaction is
    # explicit; IMMEDIATE takes the write lock up front instead of failing at commit.
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@contextlib.contextmanager
def snapshot(db: sqlite3.Connection) -> Iterator[None]:
    """A read transaction: several SELECTs see one state, whatever other processes commit."""
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.execute("COMMIT")


def meta(db: sqlite3.Connection, key: str) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


class LexicalStore:
    """One index's postings: the persisted tables above and the decoded view in memory."""

    def __init__(self) -> None:
        self.view: Postings | None = None
        self._terms: dict[str, int] | None = None
        self._epoch: str | None = None
        self._max_tid = 0
        self._main: tuple[str, Segment] | None = None

    def forget(self) -> None:
        """After the file was replaced: keep only the main segment, named by its token."""
        self.view = None
        self._terms = None
        self._epoch = None
        self._max_tid = 0

    # -- writing (inside the writer's transaction) -------------------------------------------

    def terms(self, db: sqlite3.Connection) -> dict[str, int] | None:
        """lex_terms as the current transaction sees it (read incrementally); ``None``
        while the postings are stale (another stamp): writes then skip them, and the
        next search rebuilds them all."""
        if meta(db, "lexical") != LEXICAL_STAMP:
            return None
        epoch = meta(db, "lexical_epoch") or ""
        if self._terms is None or epoch != self._epoch:
            self._terms = dict(db.execute("SELECT term, id FROM lex_terms"))
            self._epoch = epoch
            self._max_tid = max(self._terms.values(), default=0)
        else:
            # Other processes' writes added these (ours are added at commit).
            for term, tid in db.execute("SELECT term, id FROM lex_terms WHERE id > ?", (self._max_tid,)):
                self._terms[term] = tid
                self._max_tid = max(self._max_tid, tid)
        return self._terms

    def write_file(
        self, db: sqlite3.Connection, file_id: str, rowids: Sequence[int], texts: Sequence[str]
    ) -> dict[str, int] | None:
        """The file's postings into the delta; the new terms, to :meth:`committed` after commit."""
        terms = self.terms(db)
        if terms is None:
            return None
        fresh: dict[str, int] = {}
        postings = file_terms(rowids, texts, terms, fresh, self._max_tid + 1)
        db.executemany("INSERT INTO lex_terms (id, term) VALUES (?, ?)", [(i, t) for t, i in fresh.items()])
        db.execute(
            "INSERT INTO lex_docs (file_id, rows, postings) VALUES (?, ?, ?)",
            (file_id, len(rowids), postings.encode()),
        )
        return fresh

    def committed(self, fresh: dict[str, int] | None) -> None:
        # Only once committed: a rolled-back id must not be reused.
        if fresh and self._terms is not None:
            self._terms.update(fresh)
            self._max_tid = max(self._max_tid, *fresh.values())

    @staticmethod
    def delete(db: sqlite3.Connection, file_id: str) -> None:
        db.execute("DELETE FROM lex_docs WHERE file_id = ?", (file_id,))

    # -- reading ---------------------------------------------------------------------------

    def load(self, db: sqlite3.Connection, generation: int) -> Postings:
        """The view of the state the current transaction sees, reusing what is decoded
        already (the main segment by token, the delta's files by seq). Raises
        ``ValueError`` when the postings are stale or do not match the chunks."""
        import numpy as np

        terms = self.terms(db)
        if terms is None:
            raise ValueError("they were written by another version")
        if len(terms) != self._max_tid:
            raise ValueError("term ids are missing from lex_terms")
        row = db.execute("SELECT token, rows FROM lex_main WHERE id = 1").fetchone()
        if row is None:
            token, main = "", Segment.empty()
        elif self._main is not None and self._main[0] == row[0]:
            token, main = self._main
        else:
            (blob,) = db.execute("SELECT segment FROM lex_main WHERE id = 1").fetchone()
            token, main = str(row[0]), Segment.decode(blob)
            if main.n_rows != row[1]:
                raise ValueError("the main segment's size does not match lex_main")
            self._main = (token, main)
        docs = db.execute("SELECT seq, rows, postings IS NULL FROM lex_docs").fetchall()
        merged = np.asarray([seq for seq, _, done in docs if done], np.int64)
        keep = np.isin(main.file_seqs, merged)
        if int(keep.sum()) != len(merged):
            raise ValueError("a merged file is missing from the main segment")
        delta = self._delta(db, {seq: rows for seq, rows, done in docs if not done})
        for seg in (main, delta):
            if seg.width - 1 > self._max_tid:
                raise ValueError("postings name a term id that is not in lex_terms")
        view = Postings(main, token, keep, delta, terms, generation)
        count, total = db.execute("SELECT count(*), COALESCE(SUM(id), 0) FROM chunks").fetchone()
        if view.total_rows != count or view.live_id_sum != total:
            raise ValueError("they do not cover the chunks")
        self.view = view
        return view

    def _delta(self, db: sqlite3.Connection, wanted: dict[int, int]) -> Segment:
        """The delta segment of the files ``wanted`` (seq → rows): the previous one
        without the files gone from it, plus the new files' postings."""
        import numpy as np

        prev = self.view.delta if self.view is not None else Segment.empty()
        known = set(prev.file_seqs.tolist())
        new = sorted(seq for seq in wanted if seq not in known)
        files: list[tuple[int, FileTerms]] = []
        for at in range(0, len(new), _BATCH):
            part = new[at : at + _BATCH]
            marks = ",".join("?" * len(part))
            found = dict(db.execute(f"SELECT seq, postings FROM lex_docs WHERE seq IN ({marks})", part))
            for seq in part:
                terms = FileTerms.decode(found[seq])
                if len(terms.chunk_ids) != wanted[seq]:
                    raise ValueError("a file's postings do not match its row count")
                files.append((seq, terms))
        keep = np.isin(prev.file_seqs, np.asarray(list(wanted), np.int64))
        return merge(prev, keep, Segment.build(files))

    # -- merging and rebuilding (inside the store's write lock) -------------------------------

    @staticmethod
    def wants_merge(db: sqlite3.Connection, fraction: float, min_rows: int) -> bool:
        """Whether the delta and the dead rows together outgrew ``fraction`` of the main."""
        delta, live = db.execute(
            "SELECT COALESCE(SUM(CASE WHEN postings IS NULL THEN 0 ELSE rows END), 0), "
            "COALESCE(SUM(CASE WHEN postings IS NULL THEN rows ELSE 0 END), 0) FROM lex_docs"
        ).fetchone()
        row = db.execute("SELECT rows FROM lex_main WHERE id = 1").fetchone()
        main = int(row[0]) if row is not None else 0
        churn = int(delta) + (main - int(live))
        return churn >= min_rows and churn > fraction * main

    def merge(self, db: sqlite3.Connection, generation: int) -> bool:
        """Fold the delta into the main and drop the dead rows; ``False`` if nothing to do."""
        with transaction(db):
            view = self.load(db, generation)
            if view.keep_files is None and not len(view.delta.file_seqs):
                return False
            main = merge(view.main, view.keep_files, view.delta)
            token = uuid.uuid4().hex
            self._store_main(db, token, main)
        self._install(token, main, generation)
        return True

    def rebuild(self, db: sqlite3.Connection, generation: int) -> None:
        """All postings again from the chunks' text, straight into a new main segment."""
        self.forget()
        self._main = None
        try:
            with transaction(db):
                db.execute("DROP TABLE IF EXISTS lex_files")  # the format before segments
                db.execute("DELETE FROM lex_docs")
                db.execute("DELETE FROM lex_main")
                db.execute("DELETE FROM lex_terms")
                epoch = uuid.uuid4().hex
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('lexical_epoch', ?)", (epoch,))
                db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('lexical', ?)", (LEXICAL_STAMP,))
                files: list[tuple[int, FileTerms]] = []
                terms: dict[str, int] = {}
                for (file_id,) in db.execute("SELECT file_id FROM files ORDER BY file_id").fetchall():
                    rows = db.execute(
                        "SELECT id, text FROM chunks WHERE file_id = ? ORDER BY id", (file_id,)
                    ).fetchall()
                    fresh: dict[str, int] = {}
                    postings = file_terms(
                        [r[0] for r in rows], [r[1] for r in rows], terms, fresh, len(terms) + 1
                    )
                    terms.update(fresh)
                    db.executemany(
                        "INSERT INTO lex_terms (id, term) VALUES (?, ?)", [(i, t) for t, i in fresh.items()]
                    )
                    cur = db.execute(
                        "INSERT INTO lex_docs (file_id, rows, postings) VALUES (?, ?, NULL)",
                        (file_id, len(rows)),
                    )
                    assert cur.lastrowid is not None
                    files.append((cur.lastrowid, postings))
                main = Segment.build(files)
                token = uuid.uuid4().hex
                self._store_main(db, token, main)
        except BaseException:
            self.forget()
            raise
        self._terms, self._epoch, self._max_tid = terms, epoch, len(terms)
        self._install(token, main, generation)

    def _store_main(self, db: sqlite3.Connection, token: str, main: Segment) -> None:
        db.execute(
            "INSERT OR REPLACE INTO lex_main (id, token, rows, segment) VALUES (1, ?, ?, ?)",
            (token, main.n_rows, main.encode()),
        )
        db.execute("UPDATE lex_docs SET postings = NULL WHERE postings IS NOT NULL")

    def _install(self, token: str, main: Segment, generation: int) -> None:
        assert self._terms is not None
        self._main = (token, main)
        self.view = Postings(main, token, None, Segment.empty(), self._terms, generation)

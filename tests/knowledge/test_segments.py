"""Incremental BM25 postings (knowledge.segments, knowledge.lexstore): a write only adds
to the delta, removals are masked, merges keep FTS5's exact scores, other processes'
writes are seen, and a crash in the middle of a merge loses nothing."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_lexical import assert_same, both, build, corpus, queries

from agentdown.knowledge import Chunk, StoreIndex
from agentdown.knowledge.lexical import FileTerms, file_terms
from agentdown.knowledge.lexstore import LexicalStore
from agentdown.knowledge.segments import Segment, merge

SRC = str(Path(__file__).resolve().parents[2] / "src")


def chunks(rng: random.Random, n: int) -> list[Chunk]:
    return [Chunk(i, t, 10) for i, t in enumerate(corpus(rng, n))]


async def top10_equal(index: StoreIndex, seed: int) -> None:
    """FTS5's bm25() and ours: every score, and the same top 10 hits through search()."""
    for query in [*queries(seed, 25), "zircon", "quartz river"]:
        assert_same(*await both(index, query))
        index.lexical = "fts5"
        want = [(h.file_id, h.chunk_index, h.score) for h in await index.search(query, mode="bm25")]
        index.lexical = "numpy"
        got = [(h.file_id, h.chunk_index, h.score) for h in await index.search(query, mode="bm25")]
        assert got == want, query


def test_merge_equals_a_build_of_the_live_files() -> None:
    rng = random.Random(4)
    terms: dict[str, int] = {}
    files: list[tuple[int, FileTerms]] = []
    next_row = 1
    for seq in range(1, 9):
        texts = corpus(rng, rng.randint(0, 30))
        fresh: dict[str, int] = {}
        ids = list(range(next_row, next_row + len(texts)))
        next_row += len(texts)
        files.append((seq, file_terms(ids, texts, terms, fresh, len(terms) + 1)))
        terms.update(fresh)
    base, extra = Segment.build(files[:5]), Segment.build(files[5:])
    keep = [True, False, True, True, False]
    got = merge(base, np.asarray(keep), extra)
    want = Segment.build([f for f, k in zip(files, [*keep, True, True, True], strict=True) if k])

    def pairs(seg: Segment, tid: int) -> list[tuple[int, int]]:
        lo, hi = seg.span(tid)
        ids, tfs = seg.chunk_ids[seg.rows[lo:hi]].tolist(), seg.tfs[lo:hi].tolist()
        return sorted(zip(ids, tfs, strict=True))

    # The same chunks with the same tfs for every term (order within a term is free).
    for t in range(1, len(terms) + 1):
        assert pairs(got, t) == pairs(want, t)
    assert got.chunk_ids.tolist() == want.chunk_ids.tolist()
    assert got.lengths.tolist() == want.lengths.tolist()
    assert got.file_seqs.tolist() == want.file_seqs.tolist()
    assert got.file_starts.tolist() == want.file_starts.tolist()
    again = Segment.decode(got.encode())
    assert again.rows.tolist() == got.rows.tolist() and again.offsets.tolist() == got.offsets.tolist()


async def test_adds_and_removes_after_the_first_build_score_as_fts5(tmp_path: Path) -> None:
    index = await build(tmp_path / "s.sqlite", files=8)
    index.merge_min_rows = 10**9  # merges happen only when asked, below
    assert await index.merge_postings()
    await top10_equal(index, 20)
    main = index._postings.main if index._postings is not None else None
    rng = random.Random(21)
    # Removed from the main, replaced in it, added, added then removed from the delta.
    await index.remove_file("file3")
    await index.add_file("file5", "file5-again.txt", chunks(rng, 30))
    await index.add_file("new", "new.txt", [Chunk(0, "zircon river zircon", 1), *chunks(rng, 20)[1:]])
    await index.add_file("gone", "gone.txt", chunks(rng, 15))
    await index.remove_file("gone")
    await index.add_file("empty", "empty.txt", [])
    await top10_equal(index, 22)
    view = index._postings
    assert view is not None and view.main is main  # the first search after the writes reused the main
    assert view.dead is not None and len(view.delta.file_seqs) == 3
    assert [h.file_id for h in await index.search("zircon", mode="bm25")] == ["new"]
    # Merged: no delta, no dead rows, the same scores.
    assert await index.merge_postings()
    view = index._postings
    assert view is not None and view.dead is None and not view.delta.n_rows
    await top10_equal(index, 22)
    assert not await index.merge_postings()
    await index.aclose()


async def test_writes_merge_once_the_delta_outgrows_the_fraction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = StoreIndex.open(tmp_path / "s.sqlite", None)
    index.merge_min_rows, index.merge_fraction = 50, 0.5
    merges: list[int] = []
    original = LexicalStore.merge

    def counted(self: LexicalStore, db: sqlite3.Connection, generation: int) -> bool:
        merges.append(generation)
        return original(self, db, generation)

    monkeypatch.setattr(LexicalStore, "merge", counted)
    rng = random.Random(8)
    for f in range(12):
        await index.add_file(f"file{f}", f"file{f}.txt", chunks(rng, 30))
        if f % 3 == 2:
            await index.remove_file(f"file{f - 1}")
    # Geometric: each merge once the churn passes half of the main (>= 50 rows).
    assert 3 <= len(merges) <= 6
    await top10_equal(index, 30)
    await index.aclose()
    # Reopened: the persisted main and delta are used as they are.
    again = StoreIndex.open(tmp_path / "s.sqlite", None)

    def no_rebuild() -> None:
        raise AssertionError("the stored postings should have been used")

    monkeypatch.setattr(again, "_rebuild_postings", no_rebuild)
    await top10_equal(again, 31)
    await again.aclose()


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from agentdown.knowledge import Chunk, StoreIndex

    async def main():
        index = StoreIndex.open(__import__("pathlib").Path(sys.argv[1]), None)
        index.merge_min_rows = int(sys.argv[2])
        await index.add_file("other", "other.txt", [Chunk(0, "quartz zircon river", 1), Chunk(1, "quartz", 1)])
        await index.remove_file("file1")
        await index.aclose()

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("merge_rows", ["1", "1000000000"])
async def test_another_processs_writes_are_seen(tmp_path: Path, merge_rows: str) -> None:
    path = tmp_path / "s.sqlite"
    index = await build(path)
    index.merge_min_rows = 10**9
    await index.merge_postings()
    await top10_equal(index, 40)
    env = {**os.environ, "PYTHONPATH": SRC}
    subprocess.run([sys.executable, "-c", WRITER, str(path), merge_rows], check=True, env=env, timeout=60)
    # Its chunks, its removal and (first case) its merge, with FTS5's scores.
    await top10_equal(index, 41)
    found = await index.search("quartz", mode="bm25")
    assert [h.file_id for h in found] == ["other", "other"]
    assert "file1" not in {h.file_id for q in queries(42, 10) for h in await index.search(q, mode="bm25")}
    # And this process's term ids do not collide with the ones the other one added.
    await index.add_file("mine", "mine.txt", [Chunk(0, "quartz basalt opal", 1)])
    await top10_equal(index, 43)
    assert {h.file_id for h in await index.search("opal quartz", mode="bm25")} == {"mine", "other"}
    await index.aclose()


async def test_an_error_in_the_middle_of_a_merge_leaves_the_index_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = await build(tmp_path / "s.sqlite")
    index.merge_min_rows = 10**9
    await index.merge_postings()
    await index.add_file("late", "late.txt", [Chunk(0, "zircon", 1)])
    await index.remove_file("file2")
    original = LexicalStore._store_main

    def failing(self: LexicalStore, db: sqlite3.Connection, token: str, main: Segment) -> None:
        original(self, db, token, main)
        raise OSError("disk gone")

    monkeypatch.setattr(LexicalStore, "_store_main", failing)
    with pytest.raises(OSError, match="disk gone"):
        await index.merge_postings()
    monkeypatch.undo()
    await top10_equal(index, 50)  # this process: the view from before the merge
    await index.aclose()
    again = StoreIndex.open(tmp_path / "s.sqlite", None)
    monkeypatch.setattr(again, "_rebuild_postings", lambda: pytest.fail("nothing should need a rebuild"))
    await top10_equal(again, 51)
    assert await again.merge_postings()
    await top10_equal(again, 52)
    await again.aclose()


CRASHER = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from pathlib import Path
    from agentdown.knowledge import Chunk, StoreIndex
    from agentdown.knowledge.lexstore import LexicalStore

    original = LexicalStore._store_main

    def die(self, db, token, main):
        original(self, db, token, main)  # written, not committed
        os.kill(os.getpid(), signal.SIGKILL)

    async def main():
        index = StoreIndex.open(Path(sys.argv[1]), None)
        index.merge_min_rows = 10**9
        await index.add_file("late", "late.txt", [Chunk(0, "zircon " * 3000, 1)] * 50)
        await index.remove_file("file4")
        LexicalStore._store_main = die
        await index.merge_postings()

    asyncio.run(main())
    """
)


async def test_a_process_killed_in_the_middle_of_a_merge_corrupts_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.sqlite"
    index = await build(path, files=10, per_file=60)
    index.merge_min_rows = 10**9
    await index.merge_postings()
    await index.aclose()
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run([sys.executable, "-c", CRASHER, str(path)], env=env, timeout=60, check=False)
    assert done.returncode == -9
    again = StoreIndex.open(path, None)
    monkeypatch.setattr(again, "_rebuild_postings", lambda: pytest.fail("nothing should need a rebuild"))
    await top10_equal(again, 60)  # the writes before the merge are there, in the delta
    assert [h.file_id for h in await again.search("zircon", mode="bm25", max_results=3)] == ["late"] * 3
    assert await again.merge_postings()
    await top10_equal(again, 61)
    await again.aclose()


async def test_a_damaged_main_segment_is_rebuilt(tmp_path: Path) -> None:
    index = await build(tmp_path / "s.sqlite")
    await index.merge_postings()
    want = [await index.search(q, mode="bm25", max_results=20) for q in queries(70, 20)]
    await index.aclose()
    db = sqlite3.connect(tmp_path / "s.sqlite")
    db.execute("UPDATE lex_main SET segment = substr(segment, 1, 100)")
    db.commit()
    db.close()
    again = StoreIndex.open(tmp_path / "s.sqlite", None)
    assert [await again.search(q, mode="bm25", max_results=20) for q in queries(70, 20)] == want
    await top10_equal(again, 71)
    await again.aclose()

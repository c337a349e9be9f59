"""Our BM25 postings (knowledge.lexical): the same ranking and scores as FTS5's bm25(),
kept right through adds, replaces and removes, persisted, rebuilt when stale or damaged,
and never broken by what a user types."""

from __future__ import annotations

import math
import random
import sqlite3
from pathlib import Path

import pytest

from agentdown.knowledge import Chunk, StoreIndex
from agentdown.knowledge.lexical import TOKENIZE, tokenizer

# Words the Porter stemmer folds together, case, diacritics, digits, and scripts
# beyond ASCII, so that every path of the tokenizer is exercised against FTS5's.
WORDS = (  # noqa: SIM905
    "run running runs ran runner connection connected connecting connects generous generously "
    "Café café CAFÉ naïve naive Straße strasse résumé resume İstanbul Ωmega ωmega 日本語 文章 "
    "x86_64 foo_bar ﬁne e\u0301te\u0301 2024 3.14 v1.2.3 don't it's UPPER lower MiXeD "
    "river harbour quenmar zorblat kelvor ostia amber basalt cobalt dune ember fjord glacier"
).split()


def corpus(rng: random.Random, n: int) -> list[str]:
    return [
        " ".join(
            rng.choice(WORDS) + rng.choice(["", "", ",", ".", "!", "-", "/"])
            for _ in range(rng.randint(0, 40))
        )
        for _ in range(n)
    ]


async def build(path: Path, seed: int = 1, files: int = 6, per_file: int = 40) -> StoreIndex:
    rng = random.Random(seed)
    index = StoreIndex.open(path, None)
    for f in range(files):
        texts = corpus(rng, per_file)
        await index.add_file(f"file{f}", f"file{f}.txt", [Chunk(i, t, 10) for i, t in enumerate(texts)])
    return index


def queries(seed: int = 2, n: int = 60) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 6))) for _ in range(n)]


async def both(
    index: StoreIndex, query: str, limit: int = 400
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    index.lexical = "fts5"
    fts = await index._lexical(query, limit)
    index.lexical = "numpy"
    ours = await index._run(lambda: index._numpy_bm25(query, limit))
    assert ours is not None or "_" in query  # only a phrase (foo_bar) goes to FTS5
    return fts, ours if ours is not None else fts


def assert_same(fts: list[tuple[int, float]], ours: list[tuple[int, float]]) -> None:
    # Every match, the same score to the last bits; order the same but for ties.
    assert len(fts) == len(ours)
    assert dict(fts).keys() == dict(ours).keys() or len(fts) == 400
    for (_, a), (_, b) in zip(
        sorted(fts, key=lambda r: (r[1], r[0])), sorted(ours, key=lambda r: (r[1], r[0])), strict=True
    ):
        assert math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
    assert [s for _, s in ours] == sorted(s for _, s in ours)


def test_tokens_are_fts5s() -> None:
    db = sqlite3.connect(":memory:")
    db.execute(f"CREATE VIRTUAL TABLE t USING fts5(text, tokenize='{TOKENIZE}')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    rng = random.Random(5)
    texts = [*corpus(rng, 50), "".join(chr(c) for c in range(1, 0x3000, 7)), "a\x00b", "", "___", "🙂 ok🙂ok"]
    for i, text in enumerate(texts, 1):
        db.execute("INSERT INTO t (rowid, text) VALUES (?, ?)", (i, text))
    for i, text in enumerate(texts, 1):
        want: dict[str, int] = {}
        for (term,) in db.execute("SELECT term FROM v WHERE doc = ?", (i,)):
            want[term] = want.get(term, 0) + 1
        got, total = tokenizer().counts(text)
        assert got == want, text
        assert total == sum(want.values())


async def test_scores_equal_fts5s(tmp_path: Path) -> None:
    index = await build(tmp_path / "s.sqlite")
    for query in queries():
        assert_same(*await both(index, query))
    await index.aclose()


async def test_adds_replaces_and_removes_keep_it_right(tmp_path: Path) -> None:
    index = await build(tmp_path / "s.sqlite")
    rng = random.Random(9)
    await index.remove_file("file2")
    await index.add_file("file0", "again.txt", [Chunk(i, t, 1) for i, t in enumerate(corpus(rng, 25))])
    await index.add_file("new", "new.txt", [Chunk(0, "zircon river zircon", 1)])
    for query in [*queries(3, 30), "zircon"]:
        fts, ours = await both(index, query)
        assert_same(fts, ours)
    found = await index.search("zircon", mode="bm25")
    assert [h.file_id for h in found] == ["new"]
    await index.remove_file("new")
    assert await index.search("zircon", mode="bm25") == []
    await index.aclose()


async def test_persisted_and_reloaded_without_a_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = await build(tmp_path / "s.sqlite")
    before = [await index.search(q, mode="bm25", max_results=20) for q in queries(4, 20)]
    await index.aclose()
    again = StoreIndex.open(tmp_path / "s.sqlite", None)

    def no_rebuild() -> None:
        raise AssertionError("the stored postings should have been used")

    monkeypatch.setattr(again, "_rebuild_postings", no_rebuild)
    after = [await again.search(q, mode="bm25", max_results=20) for q in queries(4, 20)]
    assert after == before
    await again.aclose()


@pytest.mark.parametrize("damage", ["stamp", "blob", "row", "old index", "term ids"])
async def test_stale_or_damaged_postings_are_rebuilt(tmp_path: Path, damage: str) -> None:
    index = await build(tmp_path / "s.sqlite")
    want = [await index.search(q, mode="bm25", max_results=20) for q in queries(6, 20)]
    await index.aclose()
    db = sqlite3.connect(tmp_path / "s.sqlite")
    if damage == "stamp":
        db.execute("UPDATE meta SET value = '0:3.0.0' WHERE key = 'lexical'")
    elif damage == "blob":
        db.execute("UPDATE lex_docs SET postings = substr(postings, 1, 30) WHERE file_id = 'file1'")
    elif damage == "row":
        db.execute("DELETE FROM lex_docs WHERE file_id = 'file3'")
    elif damage == "term ids":
        db.execute("DELETE FROM lex_terms WHERE id > 3")
    else:  # an index written before the postings existed
        db.execute("DROP TABLE lex_docs")
        db.execute("DROP TABLE lex_terms")
        db.execute("DELETE FROM meta WHERE key = 'lexical'")
    db.commit()
    db.close()
    index = StoreIndex.open(tmp_path / "s.sqlite", None)
    got = [await index.search(q, mode="bm25", max_results=20) for q in queries(6, 20)]
    assert got == want
    # Rebuilt and stored: the postings cover the chunks again, and FTS5 agrees.
    for query in queries(7, 20):
        assert_same(*await both(index, query))
    await index.add_file("later", "later.txt", [Chunk(0, "zircon", 1)])
    assert [h.file_id for h in await index.search("zircon", mode="bm25")] == ["later"]
    await index.aclose()


async def test_hostile_queries_never_fail(tmp_path: Path) -> None:
    index = await build(tmp_path / "s.sqlite")
    hostile = [
        "",
        "   ",
        '"',
        '"unbalanced',
        "NEAR(a b)",
        "river AND",
        "col:umn * ^river",
        "-river",
        "river OR OR",
        "\x00river\x00",
        "🙂🙂",
        "foo_bar x86_64",
        "___",
        "'; DROP TABLE chunks; --",
        "river " * 50_000,
        "".join(chr(c) for c in range(32, 0x2FFF, 3)),
    ]
    for query in hostile:
        fts, ours = await both(index, query)
        assert_same(fts, ours)
        for mode in ("fused", "bm25"):
            await index.search(query, mode=mode)  # type: ignore[arg-type]
    # A word FTS5 reads as a phrase is answered by FTS5, with its phrase semantics.
    hits = await index.search("foo_bar", mode="bm25", max_results=50)
    assert hits and all("foo" in h.text.lower() and "bar" in h.text.lower() for h in hits)
    await index.aclose()

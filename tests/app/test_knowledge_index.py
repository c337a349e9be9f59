"""Knowledge folders indexed incrementally by content hash; symlinks out of the app refused at index time."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from agentdown.app.catalog import load_app
from agentdown.app.knowledge_indexes import knowledge_dir
from agentdown.knowledge.base import Chunking
from agentdown.knowledge.folder_search import STILL_INDEXING, KnowledgeSearchTool
from agentdown.knowledge.folders import FolderIndex
from agentdown.sessions import Session
from agentdown.tools.context import FunctionInvocationContext

AGENT = "---\nname: Helper\ndescription: Helps.\nknowledge: [docs/]\n---\nAnswer from the docs.\n"


def app_with(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "app"
    for rel, text in {"main.agent.md": AGENT, **files}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def folder(root: Path, tmp_path: Path, chunking: Chunking | None = None) -> FolderIndex:
    return FolderIndex(
        "main",
        root,
        ["docs"],
        tmp_path / "data" / "main.sqlite",
        chunking=chunking or Chunking(),
        embedder=None,
    )


def touch_later(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    later = time.time() + 5
    os.utime(path, (later, later))


async def test_add_change_delete_reparse_only_what_changed(tmp_path: Path) -> None:
    root = app_with(
        tmp_path, {"docs/a.md": "Alpha refunds take 14 days.", "docs/sub/b.txt": "Beta shipping."}
    )
    index = folder(root, tmp_path)
    try:
        first = await index.sync()
        assert sorted(first.added) == ["docs/a.md", "docs/sub/b.txt"] and first.parsed == first.added
        again = await index.sync()
        assert again.parsed == [] and sorted(again.unchanged) == ["docs/a.md", "docs/sub/b.txt"]

        touch_later(root / "docs" / "a.md", "Alpha refunds now take 30 days.")
        (root / "docs" / "c.md").write_text("Gamma warranty is two years.")
        (root / "docs" / "sub" / "b.txt").unlink()
        changed = await index.sync()
        assert changed.updated == ["docs/a.md"] and changed.added == ["docs/c.md"]
        assert changed.removed == ["docs/sub/b.txt"] and sorted(changed.parsed) == ["docs/a.md", "docs/c.md"]
        assert changed.unchanged == []
        hits = await index.search("refunds", max_results=5)
        assert [h.text for h in hits] == ["Alpha refunds now take 30 days."]
        assert await index.search("shipping", max_results=5) == []
        assert len(index.index.files()) == 2

        # Same content, new mtime: hashed, not parsed.
        touch_later(root / "docs" / "c.md", "Gamma warranty is two years.")
        same = await index.sync()
        assert same.parsed == [] and "docs/c.md" in same.unchanged
        manifest = json.loads(index.manifest_path.read_text())
        assert set(manifest["files"]) == {"docs/a.md", "docs/c.md"}
        assert manifest["files"]["docs/a.md"]["sha256"] and manifest["files"]["docs/a.md"][
            "file_id"
        ].startswith("kf_")
    finally:
        await index.aclose()


async def test_a_new_process_reuses_the_manifest_and_a_new_chunking_reindexes(tmp_path: Path) -> None:
    root = app_with(tmp_path, {"docs/a.md": "Alpha."})
    one = folder(root, tmp_path)
    await one.sync()
    await one.aclose()
    two = folder(root, tmp_path)
    assert (await two.sync()).parsed == []
    await two.aclose()
    three = folder(root, tmp_path, Chunking("static", 200, 20))
    assert (await three.sync()).updated == ["docs/a.md"]
    await three.aclose()


async def test_an_unparsable_file_is_reported_not_fatal_and_not_reparsed(tmp_path: Path) -> None:
    root = app_with(tmp_path, {"docs/a.md": "Alpha.", "docs/bad.pdf": "not a pdf", "docs/logo.png": "x"})
    index = folder(root, tmp_path)
    try:
        report = await index.sync()
        assert report.added == ["docs/a.md"] and report.ignored == ["docs/logo.png"]
        assert [f for f, _ in report.failed] == ["docs/bad.pdf"] and "PDF" in report.failed[0][1]
        again = await index.sync()
        assert again.parsed == [] and [f for f, _ in again.failed] == ["docs/bad.pdf"]
    finally:
        await index.aclose()


async def test_symlinks_and_hidden_files_are_not_indexed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("the password is hunter2")
    root = app_with(
        tmp_path, {"docs/a.md": "Alpha.", "docs/.git/config.md": "hidden", "docs/.notes.md": "hidden"}
    )
    os.symlink(outside / "secret.md", root / "docs" / "leak.md")  # a file link out: refused
    os.symlink(outside, root / "docs" / "linked")  # a folder link: not followed
    os.symlink(root / "docs" / "a.md", root / "docs" / "alias.md")  # inside the app: indexed
    index = folder(root, tmp_path)
    try:
        report = await index.sync()
        assert sorted(report.added) == ["docs/a.md", "docs/alias.md"]
        assert [f for f, _ in report.failed] == ["docs/leak.md"]
        assert "a symlink out of the app folder" in report.failed[0][1]
        assert await index.search("password hunter2", max_results=5) == []
        # A file that turns into a link out of the app after it was indexed is dropped.
        (root / "docs" / "a.md").unlink()
        os.symlink(outside / "secret.md", root / "docs" / "a.md")
        later = await index.sync()
        assert "docs/a.md" in [f for f, _ in later.failed]
        assert await index.search("hunter2", max_results=5) == []
    finally:
        await index.aclose()


async def test_the_catalog_tool_searches_the_agents_index_with_session_markers(tmp_path: Path) -> None:
    root = app_with(tmp_path, {"docs/a.md": "Refunds take 14 days.", "docs/b.md": "Shipping is free."})
    env = {
        "OPENAI_API_KEY": "x",
        "AGENTDOWN_DATA_DIR": str(tmp_path / "data"),
        "AGENTDOWN_EMBEDDING_MODEL": "none",
    }
    catalog = load_app(root, environ=env)
    try:
        agent = catalog.build_agent("main")
        tool = next(t for t in agent.tools if t.name == "file_search")
        session = Session()
        ctx = FunctionInvocationContext(tool=tool, arguments={}, session=session)
        first = await tool.invoke({"query": "refunds"}, ctx)
        second = await tool.invoke({"query": "shipping"}, ctx)
        assert "【0†docs/a.md】" in first and "【1†docs/b.md】" in second
        other = await tool.invoke(
            {"query": "shipping"}, FunctionInvocationContext(tool=tool, arguments={}, session=Session())
        )
        assert "【0†docs/b.md】" in other  # another session counts from 0
        where = knowledge_dir(root, env)
        assert where.parent == tmp_path / "data" / "knowledge" and where.name.startswith("app-app-")
        assert (where / "main.sqlite").is_file() and (where / "main.manifest.json").is_file()
    finally:
        await catalog.aclose()


async def test_an_unchanged_folder_resyncs_without_reading_files(tmp_path: Path) -> None:
    words = [
        "refund",
        "shipping",
        "warranty",
        "invoice",
        "delivery",
        "customer",
        "account",
        "payment",
        "order",
        "support",
    ]
    text = " ".join(words[(i * 7) % len(words)] + f"{i % 997}" for i in range(20000)) + "\n"
    files = {f"docs/f{i:03}.md": text for i in range(8)}  # ~1 MB (docs/knowledge.md has the 5 MB numbers)
    root = app_with(tmp_path, files)
    index = folder(root, tmp_path)
    try:
        started = time.perf_counter()
        report = await index.sync()
        cold = time.perf_counter() - started
        started = time.perf_counter()
        await index.sync()
        warm = time.perf_counter() - started
        print(f"\n1 MB: cold {cold:.2f} s ({report.chunks} chunks), unchanged re-sync {warm * 1000:.1f} ms")
        assert report.files == 8 and warm < 1.0
    finally:
        await index.aclose()


class SlowEmbedder:
    """Takes its time per file, so a first sync is still running when a search comes."""

    name = "slow-test"
    dimensions = 4

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        await asyncio.sleep(0.3)
        return [[1.0, float(len(t)), 0.0, 1.0] for t in texts]


async def test_a_search_during_the_first_sync_answers_from_what_is_indexed(tmp_path: Path) -> None:
    root = app_with(tmp_path, {f"docs/f{i}.md": f"Refunds note number {i}." for i in range(6)})
    index = FolderIndex(
        "main",
        root,
        ["docs"],
        tmp_path / "data" / "main.sqlite",
        chunking=Chunking(),
        embedder=SlowEmbedder(),
    )
    index.wait_seconds = 1.0
    tool = KnowledgeSearchTool(index)
    try:
        started = time.perf_counter()
        text = await tool.invoke({"query": "refunds"}, FunctionInvocationContext(tool=tool, arguments={}))
        assert time.perf_counter() - started < 3.0
        assert STILL_INDEXING in text and not index.ready
        assert 0 < text.count("【") < 6
        report = await index.start()
        assert len(report.added) == 6 and index.ready
        done = await tool.invoke({"query": "refunds"}, FunctionInvocationContext(tool=tool, arguments={}))
        assert STILL_INDEXING not in done and done.count("【") == 6 + 1  # six results and the example marker
    finally:
        await index.aclose()

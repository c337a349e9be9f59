"""An index of folders on disk, kept up to date by content hash: Markdown agents' ``knowledge``.

:class:`FolderIndex` owns one :class:`~agentdown.knowledge.StoreIndex` and a manifest
beside it (``<name>.manifest.json``: relative path -> sha256, size, mtime, file id,
chunks, error). :meth:`FolderIndex.sync` walks the sources and

* skips a file whose size and mtime are those of the manifest without reading it, and a
  file whose content hash is unchanged without parsing it;
* re-indexes a changed file (its old chunks are replaced in one transaction);
* removes the chunks of files that are gone;
* records a file that cannot be parsed as failed, with the reason (not fatal: the
  others are indexed; it is not parsed again until it changes).

A change of chunking or of embedding model re-indexes every file. Only one sync of an
index runs at a time. Guards: the walk does not follow symlinked folders, skips hidden
names (``.git``, ``.venv``...), and refuses any file whose real path is outside
``root`` (a symlink out of the app folder), so a file the agent's author did not put in
the folder can never be read into the index.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentdown.knowledge.base import Chunking, SearchHit
from agentdown.knowledge.index import StoreIndex
from agentdown.knowledge.ingest import ingest_file
from agentdown.knowledge.parsing import SUPPORTED_EXTENSIONS
from agentdown.models.embeddings import Embedder

__all__ = ["FolderIndex", "SyncReport", "scan_sources"]

logger = logging.getLogger("agentdown.knowledge")

MANIFEST_VERSION = 1
MAX_FILE_BYTES = 64 * 1024 * 1024
"""A knowledge file above this is reported as failed, not read."""
_EXTENSIONS = frozenset((*SUPPORTED_EXTENSIONS, ".markdown", ".htm", ".text"))
_GLOB = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class _Candidate:
    rel: str
    real: Path
    size: int
    mtime_ns: int


@dataclass(slots=True)
class SyncReport:
    """What one :meth:`FolderIndex.sync` did."""

    name: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    """``(relative path, reason)``, including unchanged files that failed before."""
    ignored: list[str] = field(default_factory=list)
    """Files of types that cannot be indexed, found while walking a folder."""
    chunks: int = 0
    """Chunks in the index after the sync."""
    parsed: list[str] = field(default_factory=list)
    """The files read and parsed by this sync (added, updated and newly failed)."""
    seconds: float = 0.0

    @property
    def files(self) -> int:
        return len(self.added) + len(self.updated) + len(self.unchanged)

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": len(self.unchanged),
            "removed": self.removed,
            "failed": [{"file": f, "reason": r} for f, r in self.failed],
            "ignored": self.ignored,
            "files": self.files,
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
        }


def _inside(real: Path, root: Path) -> bool:
    return real == root or root in real.parents


def scan_sources(
    root: Path, sources: Sequence[str]
) -> tuple[dict[str, _Candidate], list[tuple[str, str]], list[str]]:
    """The indexable files of ``sources`` (relative folders, files, globs) under ``root``:
    candidates by relative path, refused files with the reason, ignored files. Blocking."""
    real_root = Path(os.path.realpath(root))
    found: dict[str, _Candidate] = {}
    refused: list[tuple[str, str]] = []
    ignored: list[str] = []

    def consider(path: Path, explicit: bool) -> None:
        try:
            rel = path.relative_to(root).as_posix()
        except ValueError:
            return
        if rel in found or any(p.startswith(".") for p in Path(rel).parts[:-1]):
            return
        real = Path(os.path.realpath(path))
        if not _inside(real, real_root):
            refused.append((rel, f"a symlink out of the app folder (to {real}): not indexed"))
            return
        if real.suffix.lower() not in _EXTENSIONS:
            if explicit:
                refused.append((rel, f"unsupported file type {real.suffix or '(none)'}"))
            else:
                ignored.append(rel)
            return
        try:
            st = real.stat()
        except OSError as exc:
            refused.append((rel, f"cannot read it: {exc.strerror or exc}"))
            return
        if st.st_size > MAX_FILE_BYTES:
            refused.append(
                (rel, f"{st.st_size} bytes, over the {MAX_FILE_BYTES} bytes a knowledge file may have")
            )
            return
        found[rel] = _Candidate(rel, real, st.st_size, st.st_mtime_ns)

    def walk(top: Path) -> None:
        for folder, dirs, files in os.walk(top, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith("."):
                    consider(Path(folder) / name, explicit=False)

    for source in sources:
        if any(c in _GLOB for c in source):
            for match in sorted(root.glob(source)):
                if match.is_dir() and not match.is_symlink():
                    walk(match)
                elif match.is_file():
                    consider(match, explicit=False)
            continue
        target = root / source if source != "." else root
        real = Path(os.path.realpath(target))
        if not _inside(real, real_root):
            refused.append((source, f"leads out of the app folder (to {real}): not indexed"))
        elif real.is_dir():
            walk(target)
        elif real.is_file():
            consider(target, explicit=True)
        else:
            refused.append((source, "does not exist (any more)"))
    return found, refused, ignored


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_id_of(rel: str) -> str:
    """A stable id for the file at ``rel`` (its path's hash: the same file keeps its id)."""
    return "kf_" + hashlib.sha256(rel.encode("utf-8")).hexdigest()[:24]


class FolderIndex:
    """The index of some folders of an app (see the module docstring)."""

    def __init__(
        self,
        name: str,
        root: Path,
        sources: Sequence[str],
        index_path: Path,
        *,
        chunking: Chunking,
        embedder: Embedder | None,
        rescan_seconds: float = 2.0,
    ) -> None:
        self.name = name
        self.root = root
        self.sources = tuple(sources)
        self.index_path = index_path
        self.manifest_path = index_path.with_name(index_path.stem + ".manifest.json")
        self.chunking = chunking
        self.embedder = embedder
        self.rescan_seconds = rescan_seconds
        """A search starts a new sync when the last one started longer ago than this."""
        self.wait_seconds = 5.0
        """How long a search waits for the sync it started before answering from what is indexed."""
        self.last_report: SyncReport | None = None
        self._index: StoreIndex | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[SyncReport] | None = None
        self._last_sync = 0.0
        self._failures_logged = False

    @property
    def index(self) -> StoreIndex:
        if self._index is None:
            self._index = StoreIndex.open(self.index_path, self.embedder)
        return self._index

    @property
    def ready(self) -> bool:
        """Whether a first sync has completed (searches before that see part of the files)."""
        return self.last_report is not None

    def _settings(self) -> dict[str, Any]:
        c = self.chunking
        return {
            "version": MANIFEST_VERSION,
            "embedder": self.embedder.name if self.embedder is not None else None,
            "chunking": [c.kind, c.max_chunk_size_tokens, c.chunk_overlap_tokens],
        }

    def _load_manifest(self) -> tuple[dict[str, dict[str, Any]], bool]:
        """The manifest's files, and whether they were indexed with other settings."""
        try:
            raw = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}, False
        if not isinstance(raw, dict) or not isinstance(raw.get("files"), dict):
            return {}, False
        files = {str(k): v for k, v in raw["files"].items() if isinstance(v, dict)}
        # Another chunking or embedder: every file is indexed again.
        return files, raw.get("settings") != self._settings()

    def _save_manifest(self, files: dict[str, dict[str, Any]]) -> None:
        self.manifest_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest_path.with_name(f"{self.manifest_path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"settings": self._settings(), "files": files}, indent=1), encoding="utf-8")
        os.replace(tmp, self.manifest_path)

    async def sync(self) -> SyncReport:
        """Bring the index up to date with the folders (one sync at a time)."""
        async with self._lock:
            self._last_sync = time.monotonic()
            report = await self._sync()
            self.last_report = report
            return report

    async def _sync(self) -> SyncReport:
        started = time.perf_counter()
        report = SyncReport(self.name)
        index = self.index
        found, refused, report.ignored = await asyncio.to_thread(scan_sources, self.root, self.sources)
        report.failed.extend(refused)
        old, stale = await asyncio.to_thread(self._load_manifest)
        files: dict[str, dict[str, Any]] = {}
        dirty = 0
        for rel, cand in found.items():
            entry = old.get(rel)
            if (
                entry is not None
                and not stale
                and entry.get("size") == cand.size
                and entry.get("mtime_ns") == cand.mtime_ns
            ):
                files[rel] = entry
                self._unchanged(report, rel, entry)
                continue
            try:
                digest = await asyncio.to_thread(_sha256, cand.real)
            except OSError as exc:
                report.failed.append((rel, f"cannot read it: {exc.strerror or exc}"))
                continue
            if entry is not None and not stale and entry.get("sha256") == digest:
                files[rel] = {**entry, "size": cand.size, "mtime_ns": cand.mtime_ns}
                self._unchanged(report, rel, entry)
                continue
            file_id = file_id_of(rel)
            record: dict[str, Any] = {
                "sha256": digest,
                "size": cand.size,
                "mtime_ns": cand.mtime_ns,
                "file_id": file_id,
                "chunks": 0,
                "error": None,
            }
            report.parsed.append(rel)
            try:
                indexed = await ingest_file(
                    index, cand.real, file_id=file_id, filename=rel, chunking=self.chunking
                )
                record["chunks"] = indexed.chunks
                (report.updated if entry is not None else report.added).append(rel)
            except Exception as exc:  # one bad file must not stop the others
                record["error"] = str(exc) or type(exc).__name__
                report.failed.append((rel, record["error"]))
                with contextlib.suppress(Exception):
                    await index.remove_file(file_id)  # its earlier content is no longer the file's
            files[rel] = record
            dirty += 1
            if dirty % 25 == 0:
                await asyncio.to_thread(self._save_manifest, {**old, **files})
        kept = {str(e.get("file_id")) for e in files.values()}
        for rel, entry in old.items():
            if rel not in files and rel not in dict(refused):
                await index.remove_file(str(entry.get("file_id")))
                report.removed.append(rel)
            elif rel in dict(refused):
                await index.remove_file(str(entry.get("file_id")))
        for stray in set(index.files()) - kept:
            await index.remove_file(stray)  # indexed by a sync that stopped before its manifest
        await asyncio.to_thread(self._save_manifest, files)
        report.chunks = sum(int(e.get("chunks") or 0) for e in files.values())
        report.seconds = time.perf_counter() - started
        return report

    @staticmethod
    def _unchanged(report: SyncReport, rel: str, entry: dict[str, Any]) -> None:
        if entry.get("error"):
            report.failed.append((rel, str(entry["error"])))  # failed before, still the same content
        else:
            report.unchanged.append(rel)

    def start(self) -> asyncio.Task[SyncReport]:
        """A sync in the background (the running one, if any)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.sync(), name=f"knowledge-{self.name}")
            self._task.add_done_callback(self._log)
        return self._task

    def _log(self, task: asyncio.Task[SyncReport]) -> None:
        """A background sync's outcome in the log: failures are never silent."""
        if task.cancelled():
            return
        if task.exception() is not None:
            logger.error("indexing the knowledge of %s failed", self.name, exc_info=task.exception())
            return
        report = task.result()
        if report.parsed or report.removed:
            logger.info(
                "knowledge of %s: %d files, %d chunks (%d added, %d updated, %d removed) in %.2f s",
                self.name,
                report.files,
                report.chunks,
                len(report.added),
                len(report.updated),
                len(report.removed),
                report.seconds,
            )
        fresh = set(report.parsed)
        for path, reason in report.failed:
            if self._failures_logged is False or path in fresh:
                logger.warning("knowledge of %s: %s is not indexed: %s", self.name, path, reason)
        self._failures_logged = True

    async def search(
        self, query: str, *, max_results: int, score_threshold: float = 0.0, wait: float | None = None
    ) -> list[SearchHit]:
        """The best chunks for ``query``, after a sync when the last one is older than
        ``rescan_seconds``; waits at most ``wait`` (default :attr:`wait_seconds`) seconds
        for it, else answers from what is indexed so far (a first sync of a big folder goes
        on in the background)."""
        running = self._task is not None and not self._task.done()
        if running or time.monotonic() - self._last_sync > self.rescan_seconds or not self.ready:
            task = self.start()
            await asyncio.wait({task}, timeout=self.wait_seconds if wait is None else wait)
        return await self.index.search(query, max_results=max_results, score_threshold=score_threshold)

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self._index is not None:
            await self._index.aclose()
            self._index = None

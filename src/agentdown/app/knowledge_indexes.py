"""The indexes of an app's ``knowledge`` folders: one per agent, in the data dir.

``<data dir>/knowledge/app-<app folder name>-<hash of its real path>/<agent slug>.sqlite``
with ``<agent slug>.manifest.json`` beside it (the hash keeps two apps that have an
agent of the same slug apart). Built and kept up to date by
:class:`~agentdown.knowledge.folders.FolderIndex`; searched through
:class:`~agentdown.knowledge.folder_search.KnowledgeSearchTool`.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from agentdown.app.spec import AgentSpec
from agentdown.knowledge.folder_search import KnowledgeSearchTool
from agentdown.knowledge.folders import FolderIndex, SyncReport
from agentdown.models.embeddings import Embedder, embedder_from_env
from agentdown.sessions.config import data_dir

__all__ = ["AppKnowledge", "knowledge_dir"]

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def knowledge_dir(app_dir: Path, environ: Mapping[str, str]) -> Path:
    """Where the indexes of the app at ``app_dir`` live."""
    real = os.path.realpath(app_dir)
    digest = hashlib.sha256(real.encode("utf-8")).hexdigest()[:10]
    name = _UNSAFE.sub("_", Path(real).name)[:40] or "app"
    return data_dir(environ) / "knowledge" / f"app-{name}-{digest}"


class AppKnowledge:
    """The knowledge indexes of one app's agents, opened on first use."""

    def __init__(self, app_dir: Path, environ: Mapping[str, str]) -> None:
        self.app_dir = app_dir
        self.environ = environ
        self.root = knowledge_dir(app_dir, environ)
        self._embedder: Embedder | None = None
        self._embedder_chosen = False
        self._folders: dict[str, FolderIndex] = {}

    @property
    def embedder(self) -> Embedder | None:
        if not self._embedder_chosen:
            self._embedder = embedder_from_env(self.environ)
            self._embedder_chosen = True
        return self._embedder

    def folder(self, spec: AgentSpec) -> FolderIndex:
        """The index of ``spec``'s knowledge (``spec.knowledge`` must be set)."""
        assert spec.knowledge is not None
        found = self._folders.get(spec.slug)
        if found is None:
            found = FolderIndex(
                spec.slug,
                self.app_dir,
                spec.knowledge.paths,
                self.root / f"{spec.slug}.sqlite",
                chunking=spec.knowledge.chunking,
                embedder=self.embedder,
            )
            self._folders[spec.slug] = found
        return found

    def tool(self, spec: AgentSpec) -> KnowledgeSearchTool:
        assert spec.knowledge is not None
        return KnowledgeSearchTool(
            self.folder(spec),
            max_num_results=spec.knowledge.max_num_results,
            score_threshold=spec.knowledge.score_threshold,
        )

    async def sync(self, specs: Iterable[AgentSpec]) -> list[SyncReport]:
        """Index the knowledge of ``specs`` now (those without knowledge are left out)."""
        return [await self.folder(s).sync() for s in specs if s.knowledge is not None]

    def start(self, specs: Iterable[AgentSpec]) -> list[asyncio.Task[SyncReport]]:
        """Index the knowledge of ``specs`` in the background (searches answer meanwhile)."""
        return [self.folder(s).start() for s in specs if s.knowledge is not None]

    async def aclose(self) -> None:
        folders, self._folders = list(self._folders.values()), {}
        for folder in folders:
            await folder.aclose()

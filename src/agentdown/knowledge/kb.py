"""All the vector stores' indexes of one app, one SQLite file each under ``<data dir>/knowledge``."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agentdown.knowledge.base import KnowledgeError, SearchHit
from agentdown.knowledge.index import StoreIndex
from agentdown.models.embeddings import Embedder

if TYPE_CHECKING:
    # Imported on use: it needs the azure extra, which a local-only app does not install.
    from agentdown.knowledge.shared import IndexSync

__all__ = ["STORE_ID_PATTERN", "KnowledgeBase", "check_store_id"]

STORE_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,128}")
"""Store ids become file names: no dots, no slashes, so no path can be forged from one."""


def check_store_id(store_id: str) -> str:
    """``store_id`` if it is safe as a file name, else a :class:`KnowledgeError`."""
    if not isinstance(store_id, str) or not STORE_ID_PATTERN.fullmatch(store_id):
        raise KnowledgeError(f"invalid vector store id {store_id!r}: 1-128 letters, digits, '_' or '-'")
    return store_id


class KnowledgeBase:
    """Opens each store's :class:`StoreIndex` once and searches across stores."""

    def __init__(self, root: Path, embedder: Embedder | None, *, sync: IndexSync | None = None) -> None:
        """``sync`` shares every store's index with other processes through Azure Blob
        Storage (:mod:`agentdown.knowledge.shared`); the files under ``root`` are then
        local copies."""
        self.root = root
        self.embedder = embedder
        self.sync = sync
        self._indexes: dict[str, StoreIndex] = {}

    def path_of(self, store_id: str) -> Path:
        return self.root / f"{check_store_id(store_id)}.sqlite"

    def index(self, store_id: str) -> StoreIndex:
        """The index of ``store_id``, created on first use, then cached."""
        found = self._indexes.get(store_id)
        if found is None:
            path = self.path_of(store_id)
            if self.sync is not None:
                from agentdown.knowledge.shared import SharedStoreIndex

                found = SharedStoreIndex.open_shared(path, self.embedder, self.sync, store_id)
            else:
                found = StoreIndex.open(path, self.embedder)
            self._indexes[store_id] = found
        return found

    async def delete(self, store_id: str) -> None:
        """Close and remove the index of ``store_id`` (nothing happens if it has none)."""
        path = self.path_of(store_id)
        index = self._indexes.pop(store_id, None)
        if index is not None:
            await index.aclose()

        def remove() -> None:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{path}{suffix}").unlink()

        await asyncio.to_thread(remove)
        if self.sync is not None:
            await self.sync.delete(store_id)

    async def search(
        self, store_ids: Sequence[str], query: str, *, max_results: int = 10, score_threshold: float = 0.0
    ) -> list[SearchHit]:
        """The best hits over all of ``store_ids``, highest score first."""
        ids = list(dict.fromkeys(store_ids))
        for store_id in ids:
            check_store_id(store_id)
        results = await asyncio.gather(
            *(
                self.index(s).search(query, max_results=max_results, score_threshold=score_threshold)
                for s in ids
            )
        )
        merged = [hit for hits in results for hit in hits]
        merged.sort(key=lambda h: -h.score)
        return merged[:max_results]

    async def aclose(self) -> None:
        indexes, self._indexes = list(self._indexes.values()), {}
        for index in indexes:
            await index.aclose()

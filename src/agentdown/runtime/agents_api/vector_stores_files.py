"""The files of a vector store (kind ``vector_store_file``) and its file batches.

A store file's id is the file's id, under the store (``parent``). It is created
``in_progress`` with a job on the ingestion queue (:mod:`.ingest`), and ends
``completed`` (with its ``usage_bytes``), ``failed`` (``last_error``: a file that
cannot be parsed fails alone, the others complete) or ``cancelled`` (its batch was).
Adding a file the store already has changes nothing, unless it had failed or been
cancelled: then it is ingested again.

A batch (kind ``vector_store_file_batch``) is the files added by one request; its
``file_counts`` and ``status`` are those of its files, read when it is read.
Cancelling it cancels its files not yet done; a file being ingested at that moment
is left out of the index when its ingestion ends.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentdown.runtime.agents_api.errors import not_found
from agentdown.runtime.agents_api.ids import PREFIXES, is_record_id, new_record_id
from agentdown.runtime.agents_api.objects import now
from agentdown.runtime.agents_api.store import Record, RecordExistsError, mutate, public
from agentdown.runtime.agents_api.vector_stores import (
    BATCH_KIND,
    FILE_KIND,
    Move,
    VectorStores,
    empty_counts,
    move_counts,
)
from agentdown.runtime.agents_api.vector_stores_sources import Source

if TYPE_CHECKING:
    from agentdown.runtime.agents_api.context import AgentsApi

__all__ = ["StoreFiles", "check_chunking"]


def check_chunking(raw: Mapping[str, Any] | None, field: str) -> dict[str, Any]:
    """``raw`` validated as a chunking strategy; the strategy as it is served. A 400 naming ``field``."""
    from agentdown.knowledge import Chunking, ChunkingError
    from agentdown.runtime.agents_api.vector_stores import bad_chunking

    try:
        served: dict[str, Any] = Chunking.from_api(dict(raw) if raw is not None else None).to_api()
    except ChunkingError as exc:
        raise bad_chunking(exc, field) from None
    return served


class StoreFiles:
    def __init__(self, api: AgentsApi, stores: VectorStores) -> None:
        self.api = api
        self.store = api.store
        self.stores = stores

    def _body(
        self, store_id: str, source: Source, chunking: dict[str, Any], batch_id: str | None
    ) -> dict[str, Any]:
        blob = source.blob
        return {
            "id": source.file_id,
            "object": "vector_store.file",
            "usage_bytes": 0,
            "created_at": now(),
            "vector_store_id": store_id,
            "status": "in_progress",
            "last_error": None,
            "chunking_strategy": chunking,
            "_batch_id": batch_id,
            "_queued_at": time.time(),
            "_filename": source.filename,
            "_source": None
            if blob is None
            else {"container": blob.container, "blob": blob.blob, "uri": blob.uri},
        }

    async def add(
        self, store: Record, sources: Sequence[Source], chunking: dict[str, Any], batch_id: str | None = None
    ) -> list[dict[str, Any]]:
        """Add ``sources`` to ``store`` and queue their ingestion; the store files' bodies."""
        if not sources:
            return []
        ingest = await self.api.ensure_ingest()
        store_id = store.id
        # Counted first: a crash before the files exist leaves counts that the next read recounts,
        # never a finished file that went uncounted.
        await move_counts(self.store, store_id, [(None, "in_progress", 0)] * len(sources))
        bodies: list[dict[str, Any]] = []
        queued: list[str] = []
        corrections: list[Move] = []
        for source in sources:
            body = self._body(store_id, source, chunking, batch_id)
            try:
                await self.store.create(FILE_KIND, store_id, source.file_id, body)
            except RecordExistsError:
                corrections.append(("in_progress", None, 0))
                existing, retried = await self._again(store_id, source.file_id, chunking, batch_id)
                if existing is None:
                    continue
                body = existing.body
                if retried is not None:
                    corrections.append(retried)
                    queued.append(source.file_id)
            else:
                queued.append(source.file_id)
            bodies.append(public(body))
        await move_counts(self.store, store_id, corrections)
        for file_id in queued:
            await ingest.enqueue(store_id, file_id)
        return bodies

    async def _again(
        self, store_id: str, file_id: str, chunking: dict[str, Any], batch_id: str | None
    ) -> tuple[Record | None, Move | None]:
        """A file added again: joins the batch; ingested again if it had failed or was cancelled."""
        moved: list[Move] = []

        def change(body: dict[str, Any]) -> dict[str, Any]:
            moved.clear()
            if batch_id is not None:
                body["_batch_id"] = batch_id
            old = body.get("status")
            if old in ("failed", "cancelled"):
                body.update(
                    status="in_progress",
                    last_error=None,
                    usage_bytes=0,
                    chunking_strategy=chunking,
                    _queued_at=time.time(),
                )
                body.pop("_lease", None)
                moved.append((str(old), "in_progress", 0))
            return body

        record = await mutate(self.store, FILE_KIND, store_id, file_id, change)
        return record, (moved[0] if moved else None)

    async def require(self, store_id: str, file_id: str) -> Record:
        record = None
        if is_record_id(file_id):
            record = await self.store.get(FILE_KIND, store_id, file_id)
        if record is None:
            raise not_found("vector store file", file_id)
        return record

    async def delete(self, store_id: str, file_id: str) -> bool:
        """Remove the file from the store and its index (the file itself stays)."""
        record = await self.require(store_id, file_id)
        if not await self.store.delete(FILE_KIND, store_id, file_id):
            return False
        status = str(record.body.get("status"))
        await self.api.knowledge().index(store_id).remove_file(file_id)
        await move_counts(self.store, store_id, [(status, None, -int(record.body.get("usage_bytes") or 0))])
        return True

    # --- batches --------------------------------------------------------------------------

    async def create_batch(
        self, store: Record, sources: Sequence[Source], chunking: dict[str, Any]
    ) -> dict[str, Any]:
        batch_id = new_record_id(PREFIXES["vector_store_file_batch"])
        counts = {**empty_counts(), "in_progress": len(sources), "total": len(sources)}
        body = {
            "id": batch_id,
            "object": "vector_store.files_batch",
            "created_at": now(),
            "vector_store_id": store.id,
            "status": "in_progress" if sources else "completed",
            "file_counts": counts,
        }
        record = await self.store.create(BATCH_KIND, store.id, batch_id, body)
        await self.add(store, sources, chunking, batch_id)
        return await self.batch_view(record)

    async def require_batch(self, store_id: str, batch_id: str) -> Record:
        record = None
        if is_record_id(batch_id):
            record = await self.store.get(BATCH_KIND, store_id, batch_id)
        if record is None:
            raise not_found("vector store file batch", batch_id)
        return record

    async def _batch_files(self, store_id: str, batch_id: str) -> list[Record]:
        files: list[Record] = []
        after: str | None = None
        while True:
            page = await self.store.list(
                FILE_KIND, store_id, limit=100, order="asc", after=after, where={"_batch_id": batch_id}
            )
            files.extend(page.records)
            if not page.has_more or not page.records:
                return files
            after = page.records[-1].id

    async def batch_view(self, record: Record) -> dict[str, Any]:
        """The batch with the counts and status of its files now."""
        counts = empty_counts()
        for file in await self._batch_files(record.parent, record.id):
            status = str(file.body.get("status"))
            counts[status if status in counts else "failed"] += 1
            counts["total"] += 1
        body = dict(record.body)
        if body.get("status") != "cancelled":
            body["status"] = "in_progress" if counts["in_progress"] else "completed"
        body["file_counts"] = counts
        return public(body)

    async def cancel_batch(self, record: Record) -> dict[str, Any]:
        store_id = record.parent
        marked = await mutate(
            self.store, BATCH_KIND, store_id, record.id, lambda b: {**b, "status": "cancelled"}
        )
        if marked is None:
            raise not_found("vector store file batch", record.id)
        moves: list[Move] = []
        for file in await self._batch_files(store_id, record.id):
            if file.body.get("status") != "in_progress":
                continue

            cancelled: list[bool] = []

            def change(body: dict[str, Any], cancelled: list[bool] = cancelled) -> dict[str, Any] | None:
                cancelled.clear()
                if body.get("status") != "in_progress":
                    return None
                cancelled.append(True)
                return {**body, "status": "cancelled"}

            if await mutate(self.store, FILE_KIND, store_id, file.id, change) is not None and cancelled:
                moves.append(("in_progress", "cancelled", 0))
        await move_counts(self.store, store_id, moves)
        return await self.batch_view(marked)

"""Vector stores: records (kind ``vector_store``), their counts, expiry and search.

A store's ``file_counts`` and ``usage_bytes`` are kept on its record and moved by
every change of one of its files (:func:`move_counts`): the file's own record is
written first (compare-and-set, so only one writer makes a given change) and the
store's counts after it. A crash between the two leaves the counts behind; a store
still ``in_progress`` is therefore recounted from its files when it is read and its
counts are older than :data:`RECOUNT_SECONDS`. ``status`` is ``in_progress`` while a
file is, else ``completed``; ``expired`` once ``expires_at`` has passed, for good.

Expiry: ``expires_after = {"anchor": "last_active_at", "days": N}`` puts
``expires_at`` N days after ``last_active_at``, which every search of the store moves
to now (:meth:`VectorStores.search`). Reads report a store past ``expires_at`` as
``expired`` (and write it so); :meth:`VectorStores.sweep` does it for every store,
from the ingestion service, every ``AGENTDOWN_VECTOR_STORE_SWEEP_SECONDS`` (600).
An expired store cannot be searched nor get files; it can be read and deleted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agentdown.runtime.agents_api.errors import ApiProblem, bad_request, not_found
from agentdown.runtime.agents_api.ids import PREFIXES, is_record_id, new_record_id
from agentdown.runtime.agents_api.objects import now as created_now
from agentdown.runtime.agents_api.store import AgentsStore, Record, mutate, public
from agentdown.runtime.agents_api.vector_stores_schemas import ExpiresAfter, VectorStoreUpdate

if TYPE_CHECKING:
    from agentdown.knowledge import SearchHit
    from agentdown.runtime.agents_api.context import AgentsApi

__all__ = [
    "BATCH_KIND",
    "DAY_SECONDS",
    "FILE_KIND",
    "RECOUNT_SECONDS",
    "STORE_KIND",
    "VectorStores",
    "clock",
    "empty_counts",
    "move_counts",
]

logger = logging.getLogger("agentdown.agents_api")

STORE_KIND = "vector_store"
FILE_KIND = "vector_store_file"
BATCH_KIND = "vector_store_file_batch"
DAY_SECONDS = 86_400
RECOUNT_SECONDS = 5.0
FILE_STATUSES = ("in_progress", "completed", "failed", "cancelled")

clock: Callable[[], float] = time.time
"""The time of expiry (``last_active_at``, ``expires_at``); tests replace it to travel in time."""


def now() -> int:
    return int(clock())


def empty_counts() -> dict[str, int]:
    return {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0}


Move = tuple[str | None, str | None, int]
"""A file's change: old status (``None``: added), new status (``None``: removed), usage bytes added."""


def _status(body: Mapping[str, Any]) -> str:
    if body.get("status") == "expired":
        return "expired"
    return "in_progress" if body["file_counts"]["in_progress"] > 0 else "completed"


def _expires_at(last_active: int, policy: Mapping[str, Any] | None) -> int | None:
    return None if not policy else last_active + int(policy["days"]) * DAY_SECONDS


def expiry_due(body: Mapping[str, Any]) -> bool:
    expires = body.get("expires_at")
    return body.get("status") != "expired" and expires is not None and clock() >= float(expires)


async def move_counts(store: AgentsStore, store_id: str, moves: Sequence[Move]) -> Record | None:
    """Apply files' status changes to the store's counts and status; ``None`` if the store is gone."""
    if not moves:
        return await store.get(STORE_KIND, "", store_id)

    def change(body: dict[str, Any]) -> dict[str, Any]:
        counts = {**empty_counts(), **body.get("file_counts", {})}
        usage = int(body.get("usage_bytes") or 0)
        for old, new, added in moves:
            counts["total"] += (new is not None) - (old is not None)
            if old is not None:
                counts[old] -= 1
            if new is not None:
                counts[new] += 1
            usage += added
        if min(*counts.values(), usage) < 0:
            body["_recount"] = True  # a move got ahead of another: recount on the next read
            counts = {k: max(v, 0) for k, v in counts.items()}
        body.update(file_counts=counts, usage_bytes=max(usage, 0))
        body["status"] = _status(body)
        return body

    return await mutate(store, STORE_KIND, "", store_id, change)


class VectorStores:
    """The vector stores of the API; their files and batches are in :mod:`.vector_store_files`."""

    def __init__(self, api: AgentsApi) -> None:
        self.api = api
        self.store = api.store

    # --- records --------------------------------------------------------------------------

    def new_body(
        self,
        owner: str,
        name: str | None,
        expires_after: ExpiresAfter | None,
        metadata: Mapping[str, str] | None,
        chunking: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        active = now()
        policy = expires_after.model_dump() if expires_after is not None else None
        return {
            "id": new_record_id(PREFIXES["vector_store"]),
            "object": "vector_store",
            "created_at": created_now(),
            "name": name or "",
            "usage_bytes": 0,
            "file_counts": empty_counts(),
            "status": "completed",
            "expires_after": policy,
            "expires_at": _expires_at(active, policy),
            "last_active_at": active,
            "metadata": dict(metadata or {}),
            "_owner": owner,
            "_chunking": dict(chunking) if chunking is not None else None,
            "_counted_at": time.time(),
        }

    async def find(self, store_id: str, owner: str | None) -> Record | None:
        """The store if it exists (and, with ``owner``, the caller may see it); marked expired when due."""
        if not is_record_id(store_id) or not store_id.startswith(PREFIXES["vector_store"] + "_"):
            return None
        record = await self.store.get(STORE_KIND, "", store_id)
        if record is None or (owner is not None and record.body.get("_owner", "") != owner):
            return None
        if expiry_due(record.body):
            record = await self._expire(store_id) or record
        return record

    async def require(self, store_id: str, owner: str | None, param: str | None = None) -> Record:
        record = await self.find(store_id, owner)
        if record is None:
            problem = not_found("vector store", store_id)
            raise ApiProblem(404, problem.message, problem.code, param=param)
        return record

    async def require_active(self, store_id: str, owner: str | None, param: str | None = None) -> Record:
        """The store, which must not have expired (it takes files and searches)."""
        record = await self.require(store_id, owner, param)
        if record.body.get("status") == "expired":
            raise ApiProblem(
                400,
                f"vector store {store_id!r} has expired (at {record.body.get('expires_at')}); "
                "create a new one, or give the next one a longer expires_after",
                "vector_store_expired",
                param=param,
            )
        return record

    async def _expire(self, store_id: str) -> Record | None:
        def change(body: dict[str, Any]) -> dict[str, Any] | None:
            return {**body, "status": "expired"} if expiry_due(body) else None

        return await mutate(self.store, STORE_KIND, "", store_id, change)

    async def view(self, record: Record) -> dict[str, Any]:
        """The served body, recounted first when it may be behind (see the module docstring)."""
        body = record.body
        stale = time.time() - float(body.get("_counted_at") or 0) > RECOUNT_SECONDS
        if body.get("_recount") or (body.get("status") == "in_progress" and stale):
            record = await self.recount(record.id) or record
        return public(record.body)

    async def recount(self, store_id: str) -> Record | None:
        """Counts and usage from the store's files, written to the store."""
        counts = empty_counts()
        usage = 0
        after: str | None = None
        while True:
            page = await self.store.list(FILE_KIND, store_id, limit=100, order="asc", after=after)
            for file in page.records:
                status = str(file.body.get("status"))
                counts[status if status in FILE_STATUSES else "failed"] += 1
                counts["total"] += 1
                usage += int(file.body.get("usage_bytes") or 0)
            if not page.has_more or not page.records:
                break
            after = page.records[-1].id

        def change(body: dict[str, Any]) -> dict[str, Any]:
            body.update(file_counts=counts, usage_bytes=usage, _counted_at=time.time())
            body.pop("_recount", None)
            body["status"] = _status(body)
            return body

        return await mutate(self.store, STORE_KIND, "", store_id, change)

    async def modify(self, record: Record, changes: VectorStoreUpdate) -> dict[str, Any]:
        def change(body: dict[str, Any]) -> dict[str, Any] | None:
            sent = changes.model_fields_set
            if "name" in sent and changes.name is not None:
                body["name"] = changes.name
            if "metadata" in sent and changes.metadata is not None:
                body["metadata"] = changes.metadata  # replaced as a whole, as the service does
            if "expires_after" in sent:
                policy = changes.expires_after.model_dump() if changes.expires_after is not None else None
                body["expires_after"] = policy
                body["expires_at"] = _expires_at(int(body["last_active_at"]), policy)
            return body

        updated = await mutate(self.store, STORE_KIND, "", record.id, change)
        if updated is None:
            raise not_found("vector store", record.id)
        return await self.view(updated)

    async def delete(self, record: Record) -> bool:
        """Remove the store, then its files' records, its batches and its index."""
        deleted = await self.store.delete(STORE_KIND, "", record.id)
        await self.store.delete_children(FILE_KIND, record.id)
        await self.store.delete_children(BATCH_KIND, record.id)
        await self.api.knowledge().delete(record.id)
        return deleted

    # --- search and expiry ----------------------------------------------------------------

    async def touch(self, store_id: str) -> None:
        """``last_active_at`` is now, and ``expires_at`` moves with it."""
        active = now()

        def change(body: dict[str, Any]) -> dict[str, Any] | None:
            if body.get("status") == "expired":
                return None
            return {
                **body,
                "last_active_at": active,
                "expires_at": _expires_at(active, body.get("expires_after")),
            }

        await mutate(self.store, STORE_KIND, "", store_id, change)

    async def search(
        self,
        store_ids: Sequence[str],
        query: str,
        max_results: int = 20,
        score_threshold: float = 0.0,
        owner: str | None = None,
    ) -> list[SearchHit]:
        """The best chunks of the stores for ``query``; each store searched becomes active now.

        A store that does not exist (or that ``owner`` may not see) is a 404, an expired
        one a 400 (``vector_store_expired``), both naming the store.
        """
        if not query.strip():
            raise bad_request("query: must not be empty", "query")
        ids = list(dict.fromkeys(store_ids))
        for store_id in ids:
            await self.require_active(store_id, owner)
        for store_id in ids:
            await self.touch(store_id)
        hits: list[SearchHit] = await self.api.knowledge().search(
            ids, query, max_results=max_results, score_threshold=score_threshold
        )
        return hits

    async def sweep(self) -> int:
        """Mark every store past its ``expires_at`` as ``expired``; how many were."""
        expired = 0
        after: str | None = None
        while True:
            page = await self.store.list(STORE_KIND, "", limit=100, order="asc", after=after)
            for record in page.records:
                if expiry_due(record.body) and await self._expire(record.id) is not None:
                    expired += 1
            if not page.has_more or not page.records:
                break
            after = page.records[-1].id
        if expired:
            logger.info("vector stores: %d expired", expired)
        return expired


def bad_chunking(exc: Exception, field: str) -> ApiProblem:
    """A :class:`ChunkingError` as the 400 naming the field (its message names it already, or is prefixed)."""
    message = str(exc)
    return bad_request(message if message.startswith(field) else f"{field}: {message}", field)

"""Agents-API records in Azure Table Storage (Azurite locally), large bodies in Blob Storage.

Layout (keys: :mod:`.table_layout`; ``docs/agents-api-storage.md``):

* One partition per ``(kind, parent)``; RowKeys ascend newest first, so the default
  ``desc`` page is one query that stops after ``limit + 1`` matches. ``asc`` reads its
  range to the end (Tables cannot scan backwards) and keeps the last ``limit + 1``.
* ``Body``: the JSON text, or, above :data:`SPILL_CHARS` (a string property holds 32K
  UTF-16 units, an entity 1 MiB), ``BodyBlob``: the name of a blob holding it. A blob
  is written under a fresh name *before* the entity points to it, so a reader never
  sees half a body; the blob a version leaves behind is deleted after the write that
  replaced it (or the delete) succeeded. A crash in between leaves an orphan blob,
  never a record without its body.
* ETags are the service's; a replace or delete is ``If-Match`` (412/404 ->
  :class:`ETagMismatchError`), a create that meets 409 is :class:`RecordExistsError`.
* ``where`` is applied here while paging: a page still holds ``limit`` matches when
  there are that many, and ``has_more`` is exact.
* A transient failure (the connection dropped or reset, a timeout, HTTP 408/429/5xx)
  is retried here, with jittered backoff, a bounded number of times (the SDK's own
  retries are off: one policy, in one place); then :class:`StoreUnavailableError`. A
  write whose answer was lost may have landed: its retry then meets 409 or 412, and
  the record is read again: if it holds the body written, the write succeeded.

Only this module (and the SDK it loads) imports ``azure.*``: the SQLite store works
without the azure extra.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import contextlib
import json
import random
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from azure.core import MatchConditions
from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables import TableEntity, TableTransactionError, UpdateMode
from azure.data.tables.aio import TableClient, TableServiceClient
from azure.storage.blob.aio import BlobServiceClient

from agentdown.exceptions import ConfigurationError
from agentdown.runtime.agents_api._records import (
    Scalar,
    check_key,
    check_list_args,
    check_where,
    encode_body,
    matches,
)
from agentdown.runtime.agents_api.store import (
    AgentsStoreError,
    ETagMismatchError,
    Order,
    Page,
    Record,
    RecordExistsError,
    StoreUnavailableError,
    Write,
    write_each,
)
from agentdown.runtime.agents_api.table_blobs import BodyBlobs, short
from agentdown.runtime.agents_api.table_layout import partition_key, row_key, table_endpoint
from agentdown.runtime.queues.config import StorageAccount

__all__ = ["DEFAULT_CONTAINER", "DEFAULT_TABLE", "SPILL_CHARS", "TableAgentsStore"]

T = TypeVar("T")

DEFAULT_TABLE = "agentdownagents"
DEFAULT_CONTAINER = "agentdown-agents"
SPILL_CHARS = 30_000
"""Bodies longer than this (in UTF-16 units, as Tables counts) go to a blob."""
_BATCH = 100
"""Operations per entity-group transaction (the service's maximum)."""
_ATTEMPTS = 8
_REMEMBERED = 4096
RETRIES = 8
"""Attempts of one operation that keeps failing transiently, before :class:`StoreUnavailableError`."""
BACKOFF_SECONDS = 0.05
"""The first pause between attempts; it doubles (with jitter) up to :data:`_MAX_PAUSE`: ~5 s in all."""
_MAX_PAUSE = 2.0
_TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def _transient(exc: BaseException | None) -> bool:
    """A failure the same request may not meet again: transport, timeout, or a busy service.

    Follows ``__cause__``, so a blob error the blob helper wrapped counts too.
    """
    while exc is not None:
        if isinstance(exc, ServiceRequestError | ServiceResponseError | OSError | TimeoutError):
            return True
        if isinstance(exc, HttpResponseError) and exc.status_code in _TRANSIENT_STATUS:
            return True
        exc = exc.__cause__
    return False


def _precondition_failed(exc: BaseException) -> bool:
    return isinstance(exc, ResourceModifiedError | ResourceNotFoundError) or (
        isinstance(exc, HttpResponseError) and exc.status_code in (404, 412)
    )


class TableAgentsStore:
    """Agents-API records in one table of ``account``, bodies over :data:`SPILL_CHARS` in one container."""

    kind = "azure"

    def __init__(
        self,
        account: StorageAccount,
        *,
        table: str = DEFAULT_TABLE,
        container: str = DEFAULT_CONTAINER,
        table_url: str | None = None,
        spill_chars: int = SPILL_CHARS,
        retries: int = RETRIES,
        backoff_seconds: float = BACKOFF_SECONDS,
    ) -> None:
        self.account = account
        self.retries = max(1, retries)
        self.backoff_seconds = backoff_seconds
        self.table_name = table
        self.container_name = container
        self.spill_chars = spill_chars
        self._credential: Any = None
        endpoint, how = table_endpoint(account)
        endpoint = table_url or endpoint
        credential: Any = None
        if how is not None:
            credential = (
                AzureNamedKeyCredential(how[1], how[2]) if how[0] == "key" else AzureSasCredential(how[1])
            )
        self._endpoint = endpoint
        try:
            if account.connection_string is not None:
                blobs = BlobServiceClient.from_connection_string(account.connection_string)
            else:
                from azure.identity.aio import DefaultAzureCredential

                credential = self._credential = DefaultAzureCredential(
                    managed_identity_client_id=account.client_id
                )
                blobs = BlobServiceClient(account.require_blob_url(), credential=credential)
            # retry_total=0: every operation is retried by :meth:`_retrying`, which knows
            # what a lost answer to a conditional write means (the SDK would retry a PUT
            # that landed, and answer its 412 as a conflict).
            self._tables = TableServiceClient(endpoint, credential=credential, retry_total=0)
        except ValueError as exc:
            raise ConfigurationError(f"{account.source}: not a usable storage connection: {exc}") from exc
        self._table: TableClient = self._tables.get_table_client(table)
        self._blobs = BodyBlobs(blobs, container)
        self._table_ready = False
        self._lock = asyncio.Lock()
        self._blob_of: collections.OrderedDict[tuple[str, str, str], str | None] = collections.OrderedDict()
        """Which blob (or none) the versions this store read or wrote point to, by (pk, rk, ETag)."""

    def __repr__(self) -> str:
        return f"TableAgentsStore({self.describe()!r})"

    def describe(self) -> str:
        where = self._endpoint if self.account.connection_string is None else self.account.describe()
        return f"Azure Tables ({where}; table {self.table_name}, blobs in {self.container_name})"

    # Plumbing.

    def _failed(self, what: str, exc: BaseException) -> AgentsStoreError:
        return AgentsStoreError(f"agents table {self.table_name}: {what} failed: {short(exc)}")

    async def _retrying(self, what: str, attempt: Callable[[int], Awaitable[T]]) -> T:
        """``attempt(n)`` for n = 0, 1, ... while it fails transiently, pausing in between.

        Each attempt must be safe to repeat after one whose outcome is unknown (the
        conditional writes below check what landed). A non-transient SDK error becomes
        :class:`AgentsStoreError`; the store's own errors pass through.
        """
        last: BaseException | None = None
        for n in range(self.retries):
            if n:
                pause = min(self.backoff_seconds * 2 ** (n - 1), _MAX_PAUSE)
                await asyncio.sleep(random.uniform(pause / 2, pause))
            try:
                return await attempt(n)
            except (AzureError, AgentsStoreError) as exc:
                if not _transient(exc):
                    if isinstance(exc, AgentsStoreError):
                        raise
                    raise self._failed(what, exc) from exc
                last = exc
        assert last is not None
        raise StoreUnavailableError(
            f"agents table {self.table_name}: {what} failed {self.retries} times: {short(last)}"
        ) from last

    async def _landed(self, kind: str, parent: str, id: str, token: str) -> Record | None:
        """The record, if the version stored is the write marked ``token``: its answer was lost.

        A token, not the body: two writers that read one version and write equal bodies
        (two increments of one counter) must not both count as the one that landed.
        """
        entity = await self._get_entity(partition_key(kind, parent), row_key(id))
        if entity is None or entity.get("Write") != token:
            return None
        return await self._record(entity)

    async def _drop_except(self, blobs: builtins.list[str], record: Record | None) -> None:
        """Drop the blobs this operation uploaded but the stored version does not name."""
        kept = None
        if record is not None:
            key = (partition_key(record.kind, record.parent), row_key(record.id), record.etag)
            kept = self._blob_of.get(key)
        for blob in blobs:
            if blob != kept:
                await self._blobs.drop(blob)

    def _remember(self, pk: str, rk: str, etag: str, blob: str | None) -> None:
        # A replace of a version read here then needs no read of its own to find the
        # blob it leaves behind: one round trip less inside the compare-and-set window.
        self._blob_of[(pk, rk, etag)] = blob
        self._blob_of.move_to_end((pk, rk, etag))
        while len(self._blob_of) > _REMEMBERED:
            self._blob_of.popitem(last=False)

    async def _ready(self) -> None:
        if self._table_ready:
            return
        async with self._lock:
            if not self._table_ready:

                async def create(_: int) -> None:
                    with contextlib.suppress(ResourceExistsError):
                        await self._table.create_table()

                await self._retrying("create table", create)
                self._table_ready = True

    async def _entity_for(
        self, kind: str, parent: str, id: str, text: str, token: str
    ) -> tuple[dict[str, Any], str | None]:
        pk, rk = partition_key(kind, parent), row_key(id)
        entity: dict[str, Any] = {
            "PartitionKey": pk,
            "RowKey": rk,
            "Kind": kind,
            "Parent": parent,
            "Id": id,
            "Write": token,
        }
        if len(text.encode("utf-16-le")) // 2 > self.spill_chars:
            blob = await self._blobs.upload(pk, rk, text)
            entity["BodyBlob"] = blob
            return entity, blob
        entity["Body"] = text
        return entity, None

    async def _record(self, entity: TableEntity) -> Record | None:
        """The record an entity stores; ``None`` when its blob is gone (it changed meanwhile)."""
        blob = entity.get("BodyBlob")
        text = await self._blobs.download(blob) if blob else entity.get("Body")
        if text is None:
            return None
        etag = str(entity.metadata["etag"])
        self._remember(entity["PartitionKey"], entity["RowKey"], etag, blob or None)
        return Record(entity["Kind"], entity["Parent"], entity["Id"], json.loads(text), etag)

    async def _get_entity(
        self, pk: str, rk: str, select: builtins.list[str] | None = None
    ) -> TableEntity | None:
        try:
            return await self._table.get_entity(pk, rk, select=select)
        except ResourceNotFoundError:
            return None

    async def _get_once(self, kind: str, parent: str, id: str) -> Record | None:
        pk, rk = partition_key(kind, parent), row_key(id)
        for _ in range(_ATTEMPTS):
            entity = await self._get_entity(pk, rk)
            if entity is None:
                return None
            record = await self._record(entity)
            if record is not None:
                return record
        raise AgentsStoreError(f"{kind} {id}: its body blob keeps disappearing while it is read")

    # The protocol.

    async def create(self, kind: str, parent: str, id: str, body: dict[str, Any]) -> Record:
        check_key(kind, parent, id)
        text = encode_body(kind, id, body)
        await self._ready()
        wanted = json.loads(text)
        token = uuid.uuid4().hex  # one per operation: every attempt of it carries the same
        uploaded: builtins.list[str] = []

        async def attempt(_: int) -> Record:
            entity, blob = await self._entity_for(kind, parent, id, text, token)
            if blob is not None:
                uploaded.append(blob)
            try:
                metadata = await self._table.create_entity(entity)
            except ResourceExistsError as exc:
                # Ids are fresh, so "exists" is usually this create's own earlier attempt.
                stored = await self._landed(kind, parent, id, token)
                await self._drop_except(uploaded, stored)
                if stored is not None:
                    return stored
                raise RecordExistsError(
                    f"{kind} {id} already exists" + (f" under {parent}" if parent else "")
                ) from exc
            # A failed attempt keeps its blob: the entity may exist now and point to it.
            etag = str(metadata["etag"])
            self._remember(entity["PartitionKey"], entity["RowKey"], etag, blob)
            await self._drop_except([b for b in uploaded if b != blob], None)
            return Record(kind, parent, id, wanted, etag)

        return await self._retrying("create", attempt)

    async def get(self, kind: str, parent: str, id: str) -> Record | None:
        check_key(kind, parent, id)
        await self._ready()
        return await self._retrying("read", lambda _: self._get_once(kind, parent, id))

    async def replace(self, record: Record, body: dict[str, Any]) -> Record:
        check_key(record.kind, record.parent, record.id)
        text = encode_body(record.kind, record.id, body)
        await self._ready()
        pk, rk = partition_key(record.kind, record.parent), row_key(record.id)
        wanted = json.loads(text)
        token = uuid.uuid4().hex  # one per operation: every attempt of it carries the same
        uploaded: builtins.list[str] = []

        async def conflict(cause: BaseException | None) -> Record:
            """The ETag did not match: an earlier attempt of ours landed, or another writer did."""
            known = (pk, rk, record.etag) in self._blob_of
            old = self._blob_of.pop((pk, rk, record.etag), None)
            stored = await self._landed(record.kind, record.parent, record.id, token)
            await self._drop_except(uploaded, stored)
            if stored is None:
                raise ETagMismatchError(
                    f"{record.kind} {record.id} changed or was deleted since it was read (ETag {record.etag})"
                ) from cause
            if known and old != self._blob_of.get((pk, rk, stored.etag)):
                await self._blobs.drop(old)  # the version our landed write replaced
            return stored

        async def attempt(_: int) -> Record:
            # Which blob the version being replaced points to: known if it was read here, else read.
            if (pk, rk, record.etag) in self._blob_of:
                old = self._blob_of[(pk, rk, record.etag)]
            else:
                current = await self._get_entity(pk, rk, select=["BodyBlob"])
                if current is None or current.metadata["etag"] != record.etag:
                    return await conflict(None)
                old = current.get("BodyBlob") or None
            entity, blob = await self._entity_for(record.kind, record.parent, record.id, text, token)
            if blob is not None:
                uploaded.append(blob)
            try:
                metadata = await self._table.update_entity(
                    entity,
                    mode=UpdateMode.REPLACE,
                    etag=record.etag,
                    match_condition=MatchConditions.IfNotModified,
                )
            except HttpResponseError as exc:
                if not _precondition_failed(exc):
                    raise  # transient ones are retried; the new blob is kept: it may have been written
                return await conflict(exc)
            self._blob_of.pop((pk, rk, record.etag), None)
            await self._drop_except([b for b in uploaded if b != blob], None)
            if old != blob:
                await self._blobs.drop(old)
            etag = str(metadata["etag"])
            self._remember(pk, rk, etag, blob)
            return Record(record.kind, record.parent, record.id, wanted, etag)

        return await self._retrying("replace", attempt)

    async def write(self, ops: Sequence[Write]) -> list[Record]:
        # Tables has transactions within one partition only; the records of one batch rarely share one.
        return await write_each(self, ops)

    async def delete(self, kind: str, parent: str, id: str) -> bool:
        check_key(kind, parent, id)
        await self._ready()
        pk, rk = partition_key(kind, parent), row_key(id)
        # The blob of a version whose delete went out but whose answer was lost: if the
        # record is gone on the next attempt, that delete was ours (and so is its blob).
        unanswered: builtins.list[str | None] = []

        async def attempt(_: int) -> bool:
            for _ in range(_ATTEMPTS):
                current = await self._get_entity(pk, rk, select=["BodyBlob"])
                if current is None:
                    if not unanswered:
                        return False
                    await self._blobs.drop(unanswered[-1])
                    return True
                unanswered.clear()
                try:
                    # If-Match: the blob read above is the one of the version deleted.
                    await self._table.delete_entity(
                        pk, rk, etag=current.metadata["etag"], match_condition=MatchConditions.IfNotModified
                    )
                except HttpResponseError as exc:
                    if _precondition_failed(exc):
                        continue
                    unanswered.append(current.get("BodyBlob"))
                    raise
                except AzureError:
                    unanswered.append(current.get("BodyBlob"))
                    raise
                await self._blobs.drop(current.get("BodyBlob"))
                return True
            raise AgentsStoreError(f"{kind} {id}: it keeps changing while it is deleted")

        return await self._retrying("delete", attempt)

    async def delete_children(self, kind: str, parent: str) -> int:
        check_key(kind, parent, "-")
        await self._ready()
        pk = partition_key(kind, parent)

        async def delete_all(_: int) -> int:
            count = 0
            query = self._table.query_entities(
                "PartitionKey eq @pk",
                parameters={"pk": pk},
                select=["PartitionKey", "RowKey", "BodyBlob"],
                results_per_page=_BATCH,
            )
            async for page in query.by_page():
                entities = [entity async for entity in page]
                if not entities:
                    continue
                try:
                    await self._table.submit_transaction([("delete", e) for e in entities])
                except TableTransactionError:
                    # One of them went meanwhile (the whole batch fails then): one by one.
                    for entity in entities:
                        await self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])
                count += len(entities)
                for entity in entities:
                    await self._blobs.drop(entity.get("BodyBlob"))
            return count

        return await self._retrying("delete children", delete_all)

    async def list(
        self,
        kind: str,
        parent: str,
        *,
        limit: int,
        order: Order = "desc",
        after: str | None = None,
        before: str | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> Page:
        check_key(kind, parent, "-")
        check_list_args(limit, order)
        filters = check_where(where)
        await self._ready()
        # Ascending RowKeys are ``desc`` order: "after" a cursor is a greater RowKey in
        # ``desc``, a smaller one in ``asc``.
        bounds: builtins.list[str] = ["PartitionKey eq @pk"]
        parameters: dict[str, str] = {"pk": partition_key(kind, parent)}
        for name, cursor, beyond in (("after", after, order == "desc"), ("before", before, order == "asc")):
            if cursor is not None:
                bounds.append(f"RowKey {'gt' if beyond else 'lt'} @{name}")
                parameters[name] = row_key(cursor)
        # ``before`` alone pages backwards: the records just before the cursor.
        backwards = before is not None and after is None
        first = (order == "desc") != backwards
        """Whether the page is at the start of the RowKey range (else at its end: a scan)."""
        found = await self._retrying(
            "list", lambda _: self._scan(" and ".join(bounds), parameters, limit, filters, first)
        )
        has_more = len(found) > limit
        page = found[:limit] if first else found[-limit:]
        if order == "asc":
            page.reverse()
        return Page(records=page, has_more=has_more)

    async def _scan(
        self,
        query_filter: str,
        parameters: dict[str, str],
        limit: int,
        where: Mapping[str, Scalar],
        first: bool,
    ) -> builtins.list[Record]:
        """Up to ``limit + 1`` matching records from the start (``first``) or the end of the range."""
        per_page = min(1000, limit + 1) if first and not where else 1000
        query = self._table.query_entities(query_filter, parameters=parameters, results_per_page=per_page)
        kept: collections.deque[TableEntity | Record] = collections.deque(maxlen=None if first else limit + 1)
        async for entity in query:
            if where:
                record = await self._fresh(entity)
                if record is None or not matches(record.body, where):
                    continue
                kept.append(record)
            else:
                kept.append(entity)  # read its body only if it stays on the page
            if first and len(kept) > limit:
                break
        out: builtins.list[Record] = []
        for item in kept:
            record = item if isinstance(item, Record) else await self._fresh(item)
            if record is not None:
                out.append(record)
        return out

    async def _fresh(self, entity: TableEntity) -> Record | None:
        """The record of a listed entity; read again if its blob went (``None``: deleted meanwhile)."""
        record = await self._record(entity)
        if record is not None:
            return record
        return await self._get_once(entity["Kind"], entity["Parent"], entity["Id"])

    async def aclose(self) -> None:
        await self._table.close()
        await self._tables.close()
        await self._blobs.aclose()
        if self._credential is not None:
            await self._credential.close()

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

Only this module (and the SDK it loads) imports ``azure.*``: the SQLite store works
without the azure extra.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import contextlib
import json
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
    ) -> None:
        self.account = account
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
            self._tables = TableServiceClient(endpoint, credential=credential)
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

    async def _call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except AzureError as exc:
            raise self._failed(what, exc) from exc

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

                async def create() -> None:
                    with contextlib.suppress(ResourceExistsError):
                        await self._table.create_table()

                await self._call("create table", create)
                self._table_ready = True

    async def _entity_for(
        self, kind: str, parent: str, id: str, text: str
    ) -> tuple[dict[str, Any], str | None]:
        pk, rk = partition_key(kind, parent), row_key(id)
        entity: dict[str, Any] = {"PartitionKey": pk, "RowKey": rk, "Kind": kind, "Parent": parent, "Id": id}
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
        async def get() -> TableEntity | None:
            try:
                return await self._table.get_entity(pk, rk, select=select)
            except ResourceNotFoundError:
                return None

        return await self._call("read", get)

    # The protocol.

    async def create(self, kind: str, parent: str, id: str, body: dict[str, Any]) -> Record:
        check_key(kind, parent, id)
        text = encode_body(kind, id, body)
        await self._ready()
        entity, blob = await self._entity_for(kind, parent, id, text)
        try:
            metadata = await self._table.create_entity(entity)
        except ResourceExistsError as exc:
            await self._blobs.drop(blob)
            raise RecordExistsError(
                f"{kind} {id} already exists" + (f" under {parent}" if parent else "")
            ) from exc
        except AzureError as exc:  # the entity may exist now: keep the blob it may point to
            raise self._failed("create", exc) from exc
        etag = str(metadata["etag"])
        self._remember(entity["PartitionKey"], entity["RowKey"], etag, blob)
        return Record(kind, parent, id, json.loads(text), etag)

    async def get(self, kind: str, parent: str, id: str) -> Record | None:
        check_key(kind, parent, id)
        await self._ready()
        pk, rk = partition_key(kind, parent), row_key(id)
        for _ in range(_ATTEMPTS):
            entity = await self._get_entity(pk, rk)
            if entity is None:
                return None
            record = await self._record(entity)
            if record is not None:
                return record
        raise AgentsStoreError(f"{kind} {id}: its body blob keeps disappearing while it is read")

    async def replace(self, record: Record, body: dict[str, Any]) -> Record:
        check_key(record.kind, record.parent, record.id)
        text = encode_body(record.kind, record.id, body)
        await self._ready()
        pk, rk = partition_key(record.kind, record.parent), row_key(record.id)
        mismatch = ETagMismatchError(
            f"{record.kind} {record.id} changed or was deleted since it was read (ETag {record.etag})"
        )
        # Which blob the version being replaced points to: known if it was read here, else read.
        if (pk, rk, record.etag) in self._blob_of:
            old = self._blob_of[(pk, rk, record.etag)]
        else:
            current = await self._get_entity(pk, rk, select=["BodyBlob"])
            if current is None or current.metadata["etag"] != record.etag:
                raise mismatch
            old = current.get("BodyBlob") or None
        entity, blob = await self._entity_for(record.kind, record.parent, record.id, text)
        try:
            metadata = await self._table.update_entity(
                entity,
                mode=UpdateMode.REPLACE,
                etag=record.etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except HttpResponseError as exc:
            if not _precondition_failed(exc):
                raise self._failed("replace", exc) from exc
            self._blob_of.pop((pk, rk, record.etag), None)
            await self._blobs.drop(blob)
            raise mismatch from exc
        except AzureError as exc:  # it may have been written: keep the new blob
            raise self._failed("replace", exc) from exc
        self._blob_of.pop((pk, rk, record.etag), None)
        if old != blob:
            await self._blobs.drop(old)
        etag = str(metadata["etag"])
        self._remember(pk, rk, etag, blob)
        return Record(record.kind, record.parent, record.id, json.loads(text), etag)

    async def write(self, ops: Sequence[Write]) -> list[Record]:
        # Tables has transactions within one partition only; the records of one batch rarely share one.
        return await write_each(self, ops)

    async def delete(self, kind: str, parent: str, id: str) -> bool:
        check_key(kind, parent, id)
        await self._ready()
        pk, rk = partition_key(kind, parent), row_key(id)
        for _ in range(_ATTEMPTS):
            current = await self._get_entity(pk, rk, select=["BodyBlob"])
            if current is None:
                return False
            try:
                # If-Match: the blob read above is the one of the version deleted.
                await self._table.delete_entity(
                    pk, rk, etag=current.metadata["etag"], match_condition=MatchConditions.IfNotModified
                )
            except HttpResponseError as exc:
                if _precondition_failed(exc):
                    continue
                raise self._failed("delete", exc) from exc
            except AzureError as exc:
                raise self._failed("delete", exc) from exc
            await self._blobs.drop(current.get("BodyBlob"))
            return True
        raise AgentsStoreError(f"{kind} {id}: it keeps changing while it is deleted")

    async def delete_children(self, kind: str, parent: str) -> int:
        check_key(kind, parent, "-")
        await self._ready()
        pk = partition_key(kind, parent)

        async def delete_all() -> int:
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

        return await self._call("delete children", delete_all)

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
        found = await self._call(
            "list", lambda: self._scan(" and ".join(bounds), parameters, limit, filters, first)
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
        return await self.get(entity["Kind"], entity["Parent"], entity["Id"])

    async def aclose(self) -> None:
        await self._table.close()
        await self._tables.close()
        await self._blobs.aclose()
        if self._credential is not None:
            await self._credential.close()

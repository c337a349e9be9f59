"""One store's index shared by N processes through Azure Blob Storage (Azurite locally).

Each store's index is a snapshot blob ``<prefix><store_id>.sqlite``: the whole SQLite file.

* Writers take the blob's lease (exclusive, renewed while held), download the
  snapshot if theirs is not the current one, apply their write locally, fold the WAL
  into the file and upload it under the lease. Two writers are serialised by the
  lease; a writer that dies loses the lease when it expires, and its half-made write
  was only ever local. So the blob always holds a complete index, and no write made
  under a lease is lost by another.
* Readers keep a local copy and compare its ETag with the blob's before a search (at
  most every ``staleness`` seconds); a changed blob is downloaded and swapped in
  atomically. A search therefore sees every write committed at least ``staleness``
  seconds earlier, and never half of one.

Why not a server engine: the project runs with no service but Azure Storage (the
DESIGN's rule), and a store's index is small enough to move whole: 10k chunks of
800 tokens are about 40 MB with vectors (docs/knowledge.md). The cost is one upload of
the snapshot per write, so ingesting a batch of files should hold one lease for all of
them (:meth:`SharedStoreIndex.writing`).

This module takes the blob container (or a connection string); it does not read the
app's storage settings (those live in ``runtime``, a higher layer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TypeVar

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob.aio import BlobClient, BlobLeaseClient, ContainerClient

from agentdown.knowledge.base import KnowledgeError
from agentdown.knowledge.index import StoreIndex
from agentdown.models.embeddings import Embedder

__all__ = ["IndexSync", "SharedStoreIndex"]

logger = logging.getLogger("agentdown.knowledge")
T = TypeVar("T")


class IndexSync:
    """Where the shared snapshots live, and the timings of the protocol."""

    def __init__(
        self,
        container: ContainerClient,
        *,
        prefix: str = "knowledge/",
        lease_seconds: int = 30,
        lease_timeout: float = 300.0,
        staleness: float = 1.0,
    ) -> None:
        if not 15 <= lease_seconds <= 60:
            raise ValueError("lease_seconds must be between 15 and 60 (the blob service's range)")
        self.container = container
        self.prefix = prefix
        self.lease_seconds = lease_seconds
        self.lease_timeout = lease_timeout
        """How long a writer waits for another's lease before giving up."""
        self.staleness = staleness
        """Seconds a reader trusts its copy without asking the blob's ETag again."""
        self._owned = False
        self._created = False

    @classmethod
    def from_connection_string(
        cls, connection_string: str, container: str, **options: float | int | str
    ) -> IndexSync:
        sync = cls(ContainerClient.from_connection_string(connection_string, container), **options)  # type: ignore[arg-type]
        sync._owned = True
        return sync

    def blob(self, store_id: str) -> BlobClient:
        return self.container.get_blob_client(f"{self.prefix}{store_id}.sqlite")

    async def ensure_container(self) -> None:
        if self._created:
            return
        with contextlib.suppress(ResourceExistsError):
            await self.container.create_container()
        self._created = True

    async def delete(self, store_id: str) -> None:
        """Remove the store's snapshot (breaking a writer's lease: the store is going away)."""
        blob = self.blob(store_id)
        with contextlib.suppress(ResourceNotFoundError):
            with contextlib.suppress(HttpResponseError):
                await BlobLeaseClient(blob).break_lease(lease_break_period=0)
            await blob.delete_blob()

    async def aclose(self) -> None:
        if self._owned:
            await self.container.close()


class SharedStoreIndex(StoreIndex):
    """A :class:`StoreIndex` whose file is a local copy of the store's snapshot blob."""

    sync: IndexSync
    store_id: str
    _etag: str | None
    _checked: float
    _lease: BlobLeaseClient | None
    _write_lock: asyncio.Lock
    _holder: asyncio.Task[object] | None

    @classmethod
    def open_shared(
        cls, path: Path, embedder: Embedder | None, sync: IndexSync, store_id: str
    ) -> SharedStoreIndex:
        # A local copy left by an earlier run may be stale, and its ETag is unknown:
        # start from an empty file and let the first read or write fetch the snapshot.
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        index = cls.open(path, embedder)
        assert isinstance(index, SharedStoreIndex)
        index.sync = sync
        index.store_id = store_id
        index._etag = None
        index._checked = 0.0
        index._lease = None
        index._write_lock = asyncio.Lock()
        index._holder = None
        return index

    # -- reading -------------------------------------------------------------------------------

    async def _before_read(self) -> None:
        # While this process holds the lease its copy is the newest there is.
        if self._lease is None and time.monotonic() - self._checked >= self.sync.staleness:
            await self.refresh()

    async def refresh(self) -> None:
        """Download the snapshot if the blob changed since this copy was taken."""
        blob = self.sync.blob(self.store_id)
        try:
            props = await blob.get_blob_properties()
        except ResourceNotFoundError:
            self._checked = time.monotonic()
            return
        if props.etag != self._etag and props.size:
            await self._download(blob)
        self._etag = props.etag if not props.size else self._etag
        self._checked = time.monotonic()

    async def _download(self, blob: BlobClient) -> None:
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.download")
        try:
            stream = await blob.download_blob()
            data = await stream.readall()
            etag = stream.properties.etag
            await asyncio.to_thread(temporary.write_bytes, data)
            await self._run(lambda: self._reopen(temporary))
        finally:
            temporary.unlink(missing_ok=True)
        self._etag = etag
        logger.debug("index %s: fetched snapshot %s (%d bytes)", self.store_id, etag, len(data))

    # -- writing -------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Hold the writer lease across several writes: one download and one upload for all."""
        task = asyncio.current_task()
        if task is not None and self._holder is task:
            yield  # nested in this task's own block, which uploads at its end
            return
        # Writers of this process queue here; the lease serialises them with the others'.
        async with self._write_lock:
            self._holder = task
            try:
                await self._acquire()
                renewing = asyncio.create_task(self._renew())
                try:
                    await self._sync_for_write()
                    yield
                    await self._upload()
                finally:
                    renewing.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await renewing
                    lease, self._lease = self._lease, None
                    if lease is not None:
                        with contextlib.suppress(HttpResponseError):
                            await lease.release()
            finally:
                self._holder = None

    async def _commit(self, write: Callable[[], T]) -> T:
        async with self.writing():
            return await self._run(write)

    async def _acquire(self) -> None:
        await self.sync.ensure_container()
        blob = self.sync.blob(self.store_id)
        with contextlib.suppress(ResourceExistsError):
            # A lease needs a blob: an empty one stands for "no index yet".
            await blob.upload_blob(b"", overwrite=False)
        lease = BlobLeaseClient(blob)
        deadline = time.monotonic() + self.sync.lease_timeout
        delay = 0.05
        while True:
            try:
                await lease.acquire(lease_duration=self.sync.lease_seconds)
                self._lease = lease
                return
            except HttpResponseError as exc:
                if exc.status_code != 409 or time.monotonic() > deadline:
                    raise KnowledgeError(
                        f"cannot take the writer lease of store {self.store_id}: {exc.message}"
                    ) from exc
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.sync.lease_seconds / 3)
            if self._lease is not None:
                await self._lease.renew()

    async def _sync_for_write(self) -> None:
        blob = self.sync.blob(self.store_id)
        props = await blob.get_blob_properties()
        if props.size and props.etag != self._etag:
            await self._download(blob)

    async def _upload(self) -> None:
        assert self._lease is not None
        await self._run(self._checkpoint)
        data = await asyncio.to_thread(self.path.read_bytes)
        blob = self.sync.blob(self.store_id)
        result = await blob.upload_blob(data, overwrite=True, lease=self._lease)
        self._etag = result["etag"]
        self._checked = time.monotonic()

"""Where the bytes of uploaded files live: a folder of the data dir, or an Azure Blob container.

The records (:mod:`.files`) say what a file is; this module only keeps its bytes,
under a name the server makes (``files/<file id>``), never one a caller chose: a
file's ``filename`` is display text and never reaches a path or a blob name.

* :class:`LocalFileBytes`: ``<data dir>/files/<file id>``, written to a temporary
  name beside it and renamed when complete, so a reader never sees half a file.
* :class:`AzureFileBytes`: blob ``files/<file id>`` of container ``agentdown-files``
  (``AGENTDOWN_FILES_CONTAINER``) in the account of the Agents API's store; written
  as staged blocks committed at the end (a block list is all or nothing), so neither
  backend holds a whole file in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any, Protocol

from agentdown.exceptions import ConfigurationError
from agentdown.runtime.agents_api.ids import is_record_id
from agentdown.runtime.agents_api.store import AgentsStoreError
from agentdown.runtime.queues.config import StorageAccount

__all__ = [
    "CHUNK_BYTES",
    "AzureFileBytes",
    "FileBytes",
    "FileBytesWriter",
    "FileGoneError",
    "LocalFileBytes",
    "blob_name",
    "download",
]

CHUNK_BYTES = 4 * 1024 * 1024
"""What a writer buffers before it writes (and the block size on Azure)."""


class FileGoneError(AgentsStoreError):
    """The file's bytes are not there (deleted meanwhile)."""


def blob_name(file_id: str) -> str:
    """The storage name of a file's bytes; only ids this server makes are accepted."""
    if not is_record_id(file_id):
        raise ValueError(f"not a file id: {file_id!r}")
    return f"files/{file_id}"


class FileBytesWriter(Protocol):
    async def write(self, data: bytes) -> None: ...

    async def commit(self) -> None:
        """Make the bytes written so far the file's content (all at once)."""
        ...

    async def abort(self) -> None:
        """Drop what was written; the file does not exist."""
        ...


class FileBytes(Protocol):
    def describe(self) -> str: ...

    async def writer(self, file_id: str) -> FileBytesWriter: ...

    def read(self, file_id: str) -> AsyncIterator[bytes]:
        """The file's bytes in chunks (:class:`FileGoneError` when it has none)."""
        ...

    def local_copy(self, file_id: str) -> contextlib.AbstractAsyncContextManager[Path]:
        """A path holding the file's bytes while the context lasts (the file itself, or a download)."""
        ...

    async def delete(self, file_id: str) -> None: ...

    async def aclose(self) -> None: ...


# -- local ------------------------------------------------------------------------------------------


class _LocalWriter:
    def __init__(self, final: Path) -> None:
        self._final = final
        self._partial = final.with_name(f".partial-{final.name}-{uuid.uuid4().hex}")
        self._handle: IO[bytes] | None = None
        self._buffer = bytearray()

    async def open(self) -> None:
        def open_file() -> IO[bytes]:
            self._final.parent.mkdir(parents=True, exist_ok=True)
            return self._partial.open("xb")

        self._handle = await asyncio.to_thread(open_file)

    async def _flush(self) -> None:
        if self._buffer and self._handle is not None:
            data, self._buffer = bytes(self._buffer), bytearray()
            await asyncio.to_thread(self._handle.write, data)

    async def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= CHUNK_BYTES:
            await self._flush()

    async def commit(self) -> None:
        await self._flush()
        handle, self._handle = self._handle, None
        if handle is not None:

            def finish() -> None:
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
                os.replace(self._partial, self._final)

            await asyncio.to_thread(finish)

    async def abort(self) -> None:
        handle, self._handle = self._handle, None
        self._buffer = bytearray()

        def drop() -> None:
            if handle is not None:
                handle.close()
            self._partial.unlink(missing_ok=True)

        await asyncio.to_thread(drop)


class LocalFileBytes:
    """Files in a folder (``<data dir>/files``), one per file id."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return f"folder {self.root}"

    def _path(self, file_id: str) -> Path:
        return self.root / blob_name(file_id)

    async def writer(self, file_id: str) -> FileBytesWriter:
        writer = _LocalWriter(self._path(file_id))
        await writer.open()
        return writer

    async def read(self, file_id: str) -> AsyncIterator[bytes]:
        path = self._path(file_id)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise FileGoneError(f"the bytes of file {file_id} are gone") from None
        try:
            while chunk := await asyncio.to_thread(handle.read, 1024 * 1024):
                yield chunk
        finally:
            handle.close()

    @contextlib.asynccontextmanager
    async def local_copy(self, file_id: str) -> AsyncIterator[Path]:
        path = self._path(file_id)
        if not await asyncio.to_thread(path.is_file):
            raise FileGoneError(f"the bytes of file {file_id} are gone")
        yield path

    async def delete(self, file_id: str) -> None:
        await asyncio.to_thread(self._path(file_id).unlink, missing_ok=True)

    async def aclose(self) -> None:
        return None


# -- Azure ------------------------------------------------------------------------------------------


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class _BlobWriter:
    def __init__(self, blob: Any, what: str) -> None:
        self._blob = blob
        self._what = what
        self._blocks: list[Any] = []
        self._buffer = bytearray()

    async def _stage(self) -> None:
        from azure.core.exceptions import AzureError
        from azure.storage.blob import BlobBlock

        if not self._buffer:
            return
        data, self._buffer = bytes(self._buffer), bytearray()
        block_id = f"{len(self._blocks):08d}-{uuid.uuid4().hex}"
        try:
            await self._blob.stage_block(block_id, data, length=len(data))
        except AzureError as exc:
            raise AgentsStoreError(f"{self._what}: writing a block failed: {_short(exc)}") from exc
        self._blocks.append(BlobBlock(block_id=block_id))

    async def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= CHUNK_BYTES:
            await self._stage()

    async def commit(self) -> None:
        from azure.core.exceptions import AzureError

        await self._stage()
        try:
            await self._blob.commit_block_list(self._blocks)
        except AzureError as exc:
            raise AgentsStoreError(f"{self._what}: committing the blob failed: {_short(exc)}") from exc

    async def abort(self) -> None:
        # Uncommitted blocks are never visible and the service drops them after a week.
        self._buffer = bytearray()
        self._blocks = []


class AzureFileBytes:
    """Files as blobs ``files/<file id>`` of one container, created on first write."""

    def __init__(self, account: StorageAccount, container: str) -> None:
        from azure.storage.blob.aio import BlobServiceClient

        self.account = account
        self.container = container
        self._credential: Any = None
        try:
            if account.connection_string is not None:
                self._service = BlobServiceClient.from_connection_string(account.connection_string)
            else:
                from azure.identity.aio import DefaultAzureCredential

                self._credential = DefaultAzureCredential(managed_identity_client_id=account.client_id)
                self._service = BlobServiceClient(account.require_blob_url(), credential=self._credential)
        except ValueError as exc:
            raise ConfigurationError(f"{account.source}: not a usable storage connection: {exc}") from exc
        self._client: Any = self._service.get_container_client(container)
        self._ready = False

    @property
    def service_url(self) -> str:
        """The account's blob service URL (``https://<account>.blob.core.windows.net/``, or Azurite's)."""
        return str(self._service.url)

    def describe(self) -> str:
        return f"container {self.container} in {self.account.describe()}"

    def _blob(self, file_id: str) -> Any:
        return self._client.get_blob_client(blob_name(file_id))

    async def writer(self, file_id: str) -> FileBytesWriter:
        from azure.core.exceptions import AzureError, ResourceExistsError

        if not self._ready:
            try:
                await self._client.create_container()
            except ResourceExistsError:
                pass  # another process made it first, or an earlier run did
            except AzureError as exc:
                raise AgentsStoreError(f"files container {self.container}: {_short(exc)}") from exc
            self._ready = True
        return _BlobWriter(self._blob(file_id), f"file {file_id} in {self.describe()}")

    def read(self, file_id: str) -> AsyncIterator[bytes]:
        return self._chunks(self._blob(file_id), f"file {file_id}")

    def read_blob(self, container: str, name: str) -> AsyncIterator[bytes]:
        """Any blob of the account (a vector store's data source), in chunks."""
        return self._chunks(self._service.get_blob_client(container, name), f"blob {container}/{name}")

    async def _chunks(self, blob: Any, what: str) -> AsyncIterator[bytes]:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            stream = await blob.download_blob()
            async for chunk in stream.chunks():
                yield chunk
        except ResourceNotFoundError:
            raise FileGoneError(f"{what} does not exist in {self.account.describe()}") from None
        except AzureError as exc:
            raise AgentsStoreError(f"reading {what} failed: {_short(exc)}") from exc

    @contextlib.asynccontextmanager
    async def local_copy(self, file_id: str) -> AsyncIterator[Path]:
        async with download(self.read(file_id)) as path:
            yield path

    async def delete(self, file_id: str) -> None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            await self._blob(file_id).delete_blob()
        except ResourceNotFoundError:
            pass
        except AzureError as exc:
            raise AgentsStoreError(f"deleting file {file_id} failed: {_short(exc)}") from exc

    async def aclose(self) -> None:
        await self._client.close()
        await self._service.close()
        if self._credential is not None:
            await self._credential.close()


@contextlib.asynccontextmanager
async def download(chunks: AsyncIterator[bytes]) -> AsyncIterator[Path]:
    """``chunks`` written to a temporary file (removed afterwards); its path."""
    folder = await asyncio.to_thread(tempfile.mkdtemp, prefix="agentdown-ingest-")
    path = Path(folder) / "content"
    try:
        handle = await asyncio.to_thread(path.open, "wb")
        try:
            async for chunk in chunks:
                await asyncio.to_thread(handle.write, chunk)
        finally:
            handle.close()
        yield path
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)

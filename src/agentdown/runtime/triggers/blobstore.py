"""Blob containers the blob trigger watches and the blob output binding writes: a folder, or Azure.

Embedded, container ``c`` is the folder ``<blobs dir>/c/`` and a blob is any file
below it (its name is the relative path with ``/``); hidden files (a part starting
with ``.``) are skipped, and so is a file modified in the last half second, which may
still be being written. The ETag of a file is its modification time and size.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from agentdown.runtime.queues.base import StorageError
from agentdown.runtime.queues.config import StorageAccount
from agentdown.runtime.triggers.azure_container import ContainerHandle

__all__ = [
    "AzureBlobContainer",
    "BlobContainer",
    "BlobItem",
    "LocalBlobContainer",
    "open_blob_container",
    "validate_container_name",
]

_CONTAINER = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")


class BlobStoreError(StorageError):
    """Listing, reading or writing blobs failed (it names the container)."""


def validate_container_name(name: str) -> str:
    if not _CONTAINER.match(name):
        raise ValueError(
            f"invalid blob container name {name!r}: expected 3-63 lowercase letters, digits and single hyphens"
        )
    return name


@dataclass(frozen=True, slots=True)
class BlobItem:
    container: str
    name: str
    """The blob's path inside its container."""
    etag: str
    """Changes whenever the content does."""
    length: int
    last_modified: datetime
    uri: str
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


class BlobContainer(Protocol):
    container: str

    async def start(self) -> None:
        """Create the container (folder) if missing."""

    async def scan(self, prefix: str) -> list[BlobItem]: ...

    async def read(self, name: str, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` of the blob's content."""
        ...

    async def write(self, name: str, data: bytes, content_type: str) -> str:
        """Create or replace a blob; its URI."""
        ...

    def describe(self) -> str: ...

    async def aclose(self) -> None: ...


class LocalBlobContainer:
    """Container ``container`` as the folder ``root / container``."""

    def __init__(self, root: Path, container: str, *, settle_seconds: float = 0.5) -> None:
        self.container = container
        self.folder = root / container
        self.settle_seconds = settle_seconds

    def describe(self) -> str:
        return f"folder {self.folder}"

    async def start(self) -> None:
        await asyncio.to_thread(self.folder.mkdir, parents=True, exist_ok=True)

    async def scan(self, prefix: str) -> list[BlobItem]:
        return await asyncio.to_thread(self._scan, prefix)

    def _scan(self, prefix: str) -> list[BlobItem]:
        items: list[BlobItem] = []
        settled = datetime.now(UTC).timestamp() - self.settle_seconds
        for directory, subdirs, files in os.walk(self.folder):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            for file in sorted(files):
                if file.startswith("."):
                    continue
                path = Path(directory) / file
                name = path.relative_to(self.folder).as_posix()
                if not name.startswith(prefix):
                    continue
                try:
                    stat = path.stat()
                except FileNotFoundError:
                    continue
                if stat.st_mtime > settled:
                    continue
                items.append(
                    BlobItem(
                        container=self.container,
                        name=name,
                        etag=f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
                        length=stat.st_size,
                        last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
                        uri=path.resolve().as_uri(),
                    )
                )
        return items

    async def read(self, name: str, max_bytes: int) -> bytes:
        def read() -> bytes:
            with self._path(name).open("rb") as handle:
                return handle.read(max_bytes)

        return await asyncio.to_thread(read)

    async def write(self, name: str, data: bytes, content_type: str) -> str:
        path = self._path(name)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # A hidden temporary name, then an atomic rename: a watcher never sees half a file.
            temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
            temporary.write_bytes(data)
            os.replace(temporary, path)

        await asyncio.to_thread(write)
        return path.resolve().as_uri()

    def _path(self, name: str) -> Path:
        path = (self.folder / name).resolve()
        if not path.is_relative_to(self.folder.resolve()) or not name:
            raise BlobStoreError(f"blob name {name!r} leaves its container folder {self.folder}")
        return path

    async def aclose(self) -> None:
        return None


class AzureBlobContainer:
    """One container of an Azure Storage account."""

    def __init__(self, account: StorageAccount, container: str) -> None:
        self.account = account
        self.container = container
        self._handle = ContainerHandle(account, container)
        self._client = self._handle.client

    def describe(self) -> str:
        return f"container {self.container} in {self.account.describe()}"

    async def start(self) -> None:
        await self._handle.ensure_exists(BlobStoreError, "blob container")

    async def scan(self, prefix: str) -> list[BlobItem]:
        from azure.core.exceptions import AzureError

        base = self._client.url.rstrip("/")
        try:
            return [
                BlobItem(
                    container=self.container,
                    name=blob.name,
                    etag=str(blob.etag).strip('"'),
                    length=int(blob.size or 0),
                    last_modified=blob.last_modified,
                    uri=f"{base}/{blob.name}",
                    content_type=blob.content_settings.content_type if blob.content_settings else None,
                    metadata=MappingProxyType(dict(blob.metadata or {})),
                )
                async for blob in self._client.list_blobs(
                    name_starts_with=prefix or None, include=["metadata"]
                )
            ]
        except AzureError as exc:
            raise BlobStoreError(f"listing blob container {self.container!r} failed: {exc}") from exc

    async def read(self, name: str, max_bytes: int) -> bytes:
        from azure.core.exceptions import AzureError

        if max_bytes <= 0:
            return b""
        try:
            download = await self._client.download_blob(name, offset=0, length=max_bytes)
            return bytes(await download.readall())
        except AzureError as exc:
            raise BlobStoreError(f"reading blob {name!r} of container {self.container!r}: {exc}") from exc

    async def write(self, name: str, data: bytes, content_type: str) -> str:
        from azure.core.exceptions import AzureError
        from azure.storage.blob import ContentSettings

        blob = self._client.get_blob_client(name)
        try:
            await blob.upload_blob(
                data, overwrite=True, content_settings=ContentSettings(content_type=content_type)
            )
        except AzureError as exc:
            raise BlobStoreError(f"writing blob {name!r} of container {self.container!r}: {exc}") from exc
        return str(blob.url)

    async def aclose(self) -> None:
        await self._handle.aclose()


def open_blob_container(account: StorageAccount, container: str) -> BlobContainer:
    """``container`` of ``account``: a folder under its blobs dir (embedded) or an Azure container."""
    validate_container_name(container)
    if account.kind == "embedded":
        assert account.blobs_dir is not None
        return LocalBlobContainer(account.blobs_dir, container)
    return AzureBlobContainer(account, container)

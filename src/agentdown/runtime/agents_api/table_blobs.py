"""The blobs holding the Table store's bodies too large for an entity.

A body blob is named ``<sha256 of the record's keys>/<random>.json`` and written once:
a new version of a body is a new blob, so a reader holding an entity either finds the
blob that entity names, intact, or finds it gone (the record changed; read it again).
Names never contain an id, so hostile ids need no escaping here.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob.aio import BlobServiceClient

from agentdown.runtime.agents_api.store import AgentsStoreError

__all__ = ["BodyBlobs"]

T = TypeVar("T")


def short(exc: BaseException) -> str:
    """The first line of an SDK error (they run to pages of headers)."""
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class BodyBlobs:
    """One container of body blobs, created on first upload (another process creating it too is fine)."""

    def __init__(self, service: BlobServiceClient, container: str) -> None:
        self.name = container
        self._service = service
        self._container = service.get_container_client(container)
        self._ready = False

    async def _call(self, what: str, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except AzureError as exc:
            raise AgentsStoreError(f"agents blobs {self.name}: {what} failed: {short(exc)}") from exc

    async def upload(self, partition: str, row: str, text: str) -> str:
        """Write ``text`` to a fresh blob for the record ``(partition, row)``; its name."""
        name = f"{hashlib.sha256(f'{partition}|{row}'.encode()).hexdigest()}/{uuid.uuid4().hex}.json"
        data = text.encode("utf-8")
        if not self._ready:

            async def create() -> None:
                with contextlib.suppress(ResourceExistsError):
                    await self._container.create_container()

            await self._call("create container", create)
            self._ready = True
        await self._call("upload body", lambda: self._container.upload_blob(name, data, overwrite=True))
        return name

    async def download(self, name: str) -> str | None:
        """The text of blob ``name``; ``None`` when it is gone."""

        async def download() -> str | None:
            try:
                stream = await self._container.download_blob(name)
            except ResourceNotFoundError:
                return None
            return (await stream.readall()).decode("utf-8")

        return await self._call("read body", download)

    async def drop(self, name: str | None) -> None:
        """Delete blob ``name``, best effort: a blob left behind costs storage, never a wrong answer."""
        if name:
            with contextlib.suppress(AzureError):
                await self._container.delete_blob(name)

    async def aclose(self) -> None:
        await self._container.close()
        await self._service.close()

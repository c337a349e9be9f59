"""Checkpoints as blobs: ``<container>/<prefix>/<workflow_name>/<checkpoint_id>.json``.

* One block blob per checkpoint, uploaded whole: the service makes a blob visible
  complete or not at all, so a reader never sees half a checkpoint.
* The checkpoint's timestamp (as sortable UTC text) is in the blob's metadata, so
  listing, ordering and finding the latest need one listing request, not one download
  per checkpoint; the saver's nanosecond clock (also in metadata) breaks ties within one
  tick, which the blob's own times (whole seconds in a listing) cannot.
* The workflow name is percent-encoded into one path segment (``/`` and ``.`` too), so no
  name can reach another workflow's folder or form a ``..`` segment.
* ``load`` knows only the id: it remembers where it saved or listed an id, and
  otherwise lists the prefix once to find it (so a cold load costs one listing). A document is checked against its name on load
  (an id copied over another's is refused), like every storage does.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobProperties, ContentSettings

from agentdown.sessions.azure_blob import blob_service

from .errors import CheckpointNotFoundError, CheckpointStorageError
from .model import WorkflowCheckpoint, checkpoint_to_json
from .storage import check_checkpoint_id, loaded, require_checkpoint_id, save_time_ns, sortable_timestamp

__all__ = ["AzureBlobCheckpointStorage"]

_SUFFIX = ".json"
_TIMESTAMP_KEY = "checkpoint_timestamp"
_SAVED_KEY = "checkpoint_saved_ns"
_DOWNLOADS = 16
"""Blobs downloaded at once by ``list_checkpoints``."""

T = TypeVar("T")


def _segment(workflow_name: str) -> str:
    return quote(workflow_name, safe="").replace(".", "%2E")


class AzureBlobCheckpointStorage:
    """Checkpoints in an Azure Storage blob container (Azurite locally).

    Give exactly one of ``connection_string`` or ``account_url`` (with ``credential``, or
    the default Azure credential, optionally a user-assigned managed identity). The
    container is created on the first save.
    """

    def __init__(
        self,
        *,
        connection_string: str | None = None,
        account_url: str | None = None,
        credential: Any = None,
        managed_identity_client_id: str | None = None,
        container: str = "agentdown-checkpoints",
        prefix: str = "checkpoints",
    ) -> None:
        self.container = container
        """The container holding the checkpoint blobs."""
        self.prefix = prefix.strip("/")
        """Blob name prefix before ``<workflow_name>/<checkpoint_id>.json``; may be empty."""
        self._service, self._owned_credential = blob_service(
            "AzureBlobCheckpointStorage",
            container,
            connection_string=connection_string,
            account_url=account_url,
            credential=credential,
            managed_identity_client_id=managed_identity_client_id,
        )
        self._container = self._service.get_container_client(container)
        self._container_ready = False
        self._names: dict[str, str] = {}
        """Checkpoint id -> blob name, for the ids this object saved or listed."""

    def __repr__(self) -> str:
        return f"AzureBlobCheckpointStorage({self._service.url!r}, container={self.container!r}, prefix={self.prefix!r})"

    def blob_name(self, workflow_name: str, checkpoint_id: str) -> str:
        """Where the checkpoint ``checkpoint_id`` of ``workflow_name`` is stored."""
        return f"{self._root}{_segment(workflow_name)}/{require_checkpoint_id(checkpoint_id)}{_SUFFIX}"

    @property
    def _root(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""

    async def save(self, checkpoint: WorkflowCheckpoint) -> str:
        checkpoint_id = require_checkpoint_id(checkpoint.checkpoint_id)
        document = checkpoint_to_json(checkpoint)
        name = self.blob_name(checkpoint.workflow_name, checkpoint_id)
        # Ids are unique (uuid4 by default); only an id this object knows under another
        # workflow name is looked for, rather than listing the container on every save.
        old = self._names.get(checkpoint_id)
        metadata = {_TIMESTAMP_KEY: sortable_timestamp(checkpoint), _SAVED_KEY: f"{save_time_ns():020d}"}
        await self._upload(name, document, metadata)
        if old is not None and old != name:
            # The same id saved under another workflow name: one id, one checkpoint.
            await self._guard(lambda: self._delete_blob(old), f"delete {old}")
        self._names[checkpoint_id] = name
        return checkpoint_id

    async def _upload(self, name: str, document: bytes, metadata: dict[str, str]) -> None:
        blob = self._container.get_blob_client(name)
        settings = ContentSettings(content_type="application/json")
        for attempt in range(2):
            if not self._container_ready:
                await self._guard(self._create_container, f"create container {self.container}")
            try:
                await blob.upload_blob(document, overwrite=True, metadata=metadata, content_settings=settings)
                return
            except ResourceNotFoundError as exc:
                if attempt:
                    raise self._error(f"upload {name}", exc) from exc
                self._container_ready = False  # deleted since we created it
            except AzureError as exc:
                raise self._error(f"upload {name}", exc) from exc

    async def _create_container(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self._container.create_container()
        self._container_ready = True

    async def load(self, checkpoint_id: str) -> WorkflowCheckpoint:
        if not check_checkpoint_id(checkpoint_id):
            raise CheckpointNotFoundError(f"no checkpoint {checkpoint_id!r:.140} (not a valid checkpoint id)")
        for name in (self._names.get(checkpoint_id), None):
            name = name or await self._find(checkpoint_id)
            if name is None:
                break
            document = await self._download(name)
            if document is not None:
                return loaded(document, checkpoint_id, where=self._where(name))
            self._names.pop(checkpoint_id, None)  # deleted by someone else: look again
        raise CheckpointNotFoundError(f"no checkpoint {checkpoint_id!r} in container {self.container}")

    async def list_checkpoints(self, workflow_name: str | None = None) -> list[WorkflowCheckpoint]:
        names = [name for name, _ in await self._listing(workflow_name)]
        limit = asyncio.Semaphore(_DOWNLOADS)

        async def fetch(name: str) -> WorkflowCheckpoint | None:
            async with limit:
                document = await self._download(name)
            return None if document is None else loaded(document, _id_of(name), where=self._where(name))

        found = await asyncio.gather(*(fetch(name) for name in names))
        return [cp for cp in found if cp is not None]  # a blob deleted meanwhile is skipped

    async def get_latest(self, workflow_name: str) -> WorkflowCheckpoint | None:
        for name, _ in reversed(await self._listing(workflow_name)):
            document = await self._download(name)
            if document is not None:
                return loaded(document, _id_of(name), where=self._where(name))
        return None

    async def delete(self, checkpoint_id: str) -> bool:
        if not check_checkpoint_id(checkpoint_id):
            return False
        cached = self._names.pop(checkpoint_id, None)
        if cached is not None and await self._guard(lambda: self._delete_blob(cached), f"delete {cached}"):
            return True
        name = await self._find(checkpoint_id)  # not known here, or moved since
        self._names.pop(checkpoint_id, None)
        if name is None:
            return False
        return await self._guard(lambda: self._delete_blob(name), f"delete {name}")

    async def aclose(self) -> None:
        """Close the service client (and the credential this storage created)."""
        await self._service.close()
        if self._owned_credential is not None:
            await self._owned_credential.close()

    async def _delete_blob(self, name: str) -> bool:
        try:
            await self._container.delete_blob(name)
        except ResourceNotFoundError:
            return False
        return True

    async def _download(self, name: str) -> bytes | None:
        async def read() -> bytes | None:
            try:
                stream = await self._container.get_blob_client(name).download_blob()
                return await stream.readall()
            except ResourceNotFoundError:
                return None

        return await self._guard(read, f"download {name}")

    async def _find(self, checkpoint_id: str) -> str | None:
        """The blob name of ``checkpoint_id`` under any workflow, by listing the prefix."""
        for name, _ in await self._listing(None):
            if _id_of(name) == checkpoint_id:
                return name
        return None

    async def _listing(self, workflow_name: str | None) -> list[tuple[str, tuple[str, str]]]:
        """``(blob name, order key)`` of the checkpoints (of one workflow), oldest first."""
        start = self._root if workflow_name is None else f"{self._root}{_segment(workflow_name)}/"

        async def scan() -> list[tuple[str, tuple[str, str]]]:
            found = []
            try:
                async for props in self._container.list_blobs(name_starts_with=start, include=["metadata"]):
                    key = self._order_key(props)
                    if key is not None:
                        found.append((str(props.name), key))
            except ResourceNotFoundError:  # no container yet: nothing saved
                return []
            return found

        found = await self._guard(scan, f"list {self.container}/{start}")
        found.sort(key=lambda entry: entry[1])
        for name, _ in found:
            self._names[_id_of(name)] = name
        return found

    def _order_key(self, props: BlobProperties) -> tuple[str, str] | None:
        """How the blob sorts, or ``None`` when it is not a checkpoint of this storage."""
        name = str(props.name)
        rest = name[len(self._root) :]
        segment, _, file = rest.partition("/")
        if not name.startswith(self._root) or not file.endswith(_SUFFIX) or "/" in file:
            return None
        if not segment or _segment(unquote(segment)) != segment or not check_checkpoint_id(_id_of(name)):
            return None
        metadata = props.metadata or {}
        # A blob without the stamps was not written by this storage; it sorts first rather than vanishing.
        return (metadata.get(_TIMESTAMP_KEY, ""), metadata.get(_SAVED_KEY, ""))

    async def _guard(self, operation: Callable[[], Awaitable[T]], what: str) -> T:
        try:
            return await operation()
        except AzureError as exc:
            raise self._error(what, exc) from exc

    def _error(self, what: str, exc: Exception) -> CheckpointStorageError:
        return CheckpointStorageError(f"checkpoint blob storage ({self._service.url}): cannot {what}: {exc}")

    def _where(self, name: str) -> str:
        return f"blob {self.container}/{name}"


def _id_of(name: str) -> str:
    return name.rsplit("/", 1)[-1][: -len(_SUFFIX)]

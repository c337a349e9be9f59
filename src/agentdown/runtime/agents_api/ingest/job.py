"""Ingesting one store file: its bytes (a blob data source is imported as a file first) into the store's index.

The index gets the file from scratch (its earlier chunks, from a worker that died
mid-way, are removed first), and the result is kept only if the file is still ours
and in progress when it is written: a file cancelled or deleted meanwhile, or taken
over by another worker, has its chunks removed again. Then the store's counts move.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from agentdown.runtime.agents_api.files import FileService
from agentdown.runtime.agents_api.files_blobs import AzureFileBytes, FileGoneError
from agentdown.runtime.agents_api.ingest.lease import FileLease, LeaseLost
from agentdown.runtime.agents_api.store import RecordExistsError
from agentdown.runtime.agents_api.vector_stores import FILE_KIND, STORE_KIND, move_counts

if TYPE_CHECKING:
    from agentdown.runtime.agents_api.context import AgentsApi

__all__ = ["ingest_store_file", "server_error"]

logger = logging.getLogger("agentdown.agents_api")


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message[:2000]}


def server_error(message: str) -> dict[str, str]:
    return _error("server_error", message)


async def _import_blob(
    files: FileService, owner: str, file_id: str, filename: str, source: dict[str, Any]
) -> None:
    """Copy a data-source blob into the files storage under ``file_id``, with its record (once)."""
    if await files.store.get("file", "", file_id) is not None:
        return
    backend = files.storage
    if not isinstance(backend, AzureFileBytes):
        raise FileGoneError("blob data sources need an Azure Storage account, and none is configured now")
    writer = await backend.writer(file_id)
    size = 0
    try:
        async for chunk in backend.read_blob(str(source["container"]), str(source["blob"])):
            size += len(chunk)
            if size > files.max_bytes:
                raise FileGoneError(f"the blob is larger than the file limit of {files.max_bytes} bytes")
            await writer.write(chunk)
        await writer.commit()
    except BaseException:
        await writer.abort()
        raise
    with contextlib.suppress(RecordExistsError):
        await files.add(file_id, owner, filename, "assistants", size)


async def ingest_store_file(api: AgentsApi, lease: FileLease) -> str:
    """Ingest the leased store file; its final status (``completed``, ``failed``, or ``lost``)."""
    from agentdown.knowledge import Chunking, ParseError, ingest_file

    body = lease.body
    store_id, file_id = lease.record.parent, lease.record.id
    knowledge = api.knowledge()
    vector_store = await api.store.get(STORE_KIND, "", store_id)
    if vector_store is None:
        await knowledge.index(store_id).remove_file(file_id)
        with contextlib.suppress(LeaseLost):
            await lease.finish(status="cancelled", last_error=server_error("the vector store was deleted"))
        return "lost"
    files = api.files()
    filename = str(body.get("_filename") or file_id)
    index = knowledge.index(store_id)
    keeper = asyncio.create_task(lease.keep_alive())
    usage = 0
    last_error: dict[str, str] | None = None
    try:
        source = body.get("_source")
        try:
            if source:
                await _import_blob(files, str(vector_store.body.get("_owner", "")), file_id, filename, source)
            await index.remove_file(file_id)
            async with files.storage.local_copy(file_id) as path:
                indexed = await ingest_file(
                    index,
                    path,
                    file_id=file_id,
                    filename=filename,
                    chunking=Chunking.from_api(body.get("chunking_strategy")),
                )
            usage = indexed.usage_bytes
        except ParseError as exc:
            code = "unsupported_file" if "unsupported" in str(exc).lower() else "invalid_file"
            last_error = _error(code, str(exc))
        except FileGoneError as exc:
            last_error = _error("invalid_file", f"the file cannot be read: {exc}")
    finally:
        keeper.cancel()
        with contextlib.suppress(BaseException):
            await keeper
    status = "failed" if last_error is not None else "completed"
    try:
        await lease.finish(status=status, usage_bytes=usage, last_error=last_error)
    except LeaseLost as exc:
        logger.info("ingest %s/%s: result dropped (%s)", store_id, file_id, exc)
        await _drop_if_not_completed(api, store_id, file_id)
        return "lost"
    await move_counts(api.store, store_id, [("in_progress", status, usage)])
    return status


async def _drop_if_not_completed(api: AgentsApi, store_id: str, file_id: str) -> None:
    """Remove the chunks of a file deleted or cancelled meanwhile (one taken over is the other worker's)."""
    record = await api.store.get(FILE_KIND, store_id, file_id)
    if record is None or record.body.get("status") == "cancelled":
        await api.knowledge().index(store_id).remove_file(file_id)

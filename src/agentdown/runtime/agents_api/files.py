"""Files of the Agents API: records (kind ``file``) plus their bytes (:mod:`.files_blobs`).

A file is uploaded once and never changes, so it is ``processed`` as soon as its
bytes are stored (the SDK's ``upload_and_poll`` returns at once). It belongs to
the caller that uploaded it when the caller is a known principal: another caller's
file is a 404, as one that does not exist. Its ``filename`` is what the caller
called it, display text only (control characters removed, at most 255 characters);
the bytes are stored under the file id.

Settings: ``AGENTDOWN_MAX_FILE_BYTES`` (default 512 MB) bounds one file;
``AGENTDOWN_FILES_PATH`` is the folder of the bytes with the SQLite store (default
``<data dir>/files``); with the Azure store the bytes are blobs of
``AGENTDOWN_FILES_CONTAINER`` (default ``agentdown-files``) in the same account.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from agentdown.exceptions import ConfigurationError
from agentdown.models.env import positive_int
from agentdown.runtime.agents_api.errors import ApiProblem, bad_request, not_found
from agentdown.runtime.agents_api.files_blobs import (
    AzureFileBytes,
    FileBytes,
    FileBytesWriter,
    LocalFileBytes,
)
from agentdown.runtime.agents_api.ids import PREFIXES, is_record_id, new_record_id
from agentdown.runtime.agents_api.objects import now
from agentdown.runtime.agents_api.store import AgentsStore, Record, public

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "PURPOSES",
    "FileService",
    "clean_filename",
    "file_bytes_from_env",
    "max_file_bytes",
]

DEFAULT_MAX_FILE_BYTES = 512 * 1024 * 1024
PURPOSES = ("assistants", "assistants_output", "vision")
"""The purposes the SDK knows (its ``FilePurpose``: ``agents`` is ``assistants`` on the wire)."""
MAX_FILENAME = 255
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTAINER = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")
_LIST_CAP = 10_000


def max_file_bytes(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    return positive_int(env, "AGENTDOWN_MAX_FILE_BYTES", unit="bytes") or DEFAULT_MAX_FILE_BYTES


def file_bytes_from_env(environ: Mapping[str, str] | None = None) -> FileBytes:
    """The backend of the file bytes: the Azure account of the Agents store, else a data-dir folder."""
    from agentdown.runtime.agents_api.config import agents_store_settings
    from agentdown.sessions.config import data_dir

    env = os.environ if environ is None else environ
    settings = agents_store_settings(env)
    if settings.kind == "azure":
        assert settings.account is not None
        container = (env.get("AGENTDOWN_FILES_CONTAINER") or "").strip() or "agentdown-files"
        if not _CONTAINER.match(container):
            raise ConfigurationError(
                f"AGENTDOWN_FILES_CONTAINER={container!r}: a container name is 3-63 lowercase letters, "
                "digits and single hyphens"
            )
        return AzureFileBytes(settings.account, container)
    path = (env.get("AGENTDOWN_FILES_PATH") or "").strip()
    return LocalFileBytes(Path(path).expanduser() if path else data_dir(env) / "files")


def clean_filename(name: str | None, fallback: str) -> str:
    """A display name: control characters dropped, at most :data:`MAX_FILENAME` characters."""
    cleaned = _CONTROL.sub("", name or "").strip()
    return cleaned[:MAX_FILENAME] or fallback


def check_purpose(purpose: str | None) -> str:
    if not purpose:
        raise bad_request("purpose: is required (one of " + ", ".join(PURPOSES) + ")", "purpose")
    if purpose not in PURPOSES:
        raise bad_request(f"purpose: expected one of {', '.join(PURPOSES)}, got {purpose!r}", "purpose")
    return purpose


class FileService:
    """The files of one process: records in the Agents store, bytes in :class:`FileBytes`."""

    def __init__(self, store: AgentsStore, environ: Mapping[str, str] | None = None) -> None:
        self.store = store
        self.environ = environ
        self.max_bytes = max_file_bytes(environ)
        self._bytes: FileBytes | None = None

    @property
    def storage(self) -> FileBytes:
        if self._bytes is None:
            self._bytes = file_bytes_from_env(self.environ)
        return self._bytes

    @staticmethod
    def new_id() -> str:
        return new_record_id(PREFIXES["file"])

    async def writer(self, file_id: str) -> FileBytesWriter:
        return await self.storage.writer(file_id)

    async def add(self, file_id: str, owner: str, filename: str, purpose: str, size: int) -> dict[str, Any]:
        """The record of a file whose bytes were committed under ``file_id``; the served body."""
        body: dict[str, Any] = {
            "id": file_id,
            "object": "file",
            "bytes": size,
            "filename": filename,
            "created_at": now(),
            "purpose": purpose,
            "status": "processed",
        }
        await self.store.create("file", "", file_id, {**body, "_owner": owner})
        return body

    async def find(self, file_id: str, owner: str) -> Record | None:
        """The file if it exists and the caller may see it (ids of other shapes never reach the store)."""
        if not is_record_id(file_id) or not file_id.startswith(PREFIXES["file"] + "_"):
            return None
        record = await self.store.get("file", "", file_id)
        if record is None or record.body.get("_owner", "") != owner:
            return None
        return record

    async def require(self, file_id: str, owner: str, param: str | None = None) -> Record:
        record = await self.find(file_id, owner)
        if record is None:
            problem = not_found("file", file_id)
            raise ApiProblem(404, problem.message, problem.code, param=param)
        return record

    async def list(self, owner: str, purpose: str | None) -> list[dict[str, Any]]:
        """The caller's files (newest first), of one purpose when given: ``GET /files`` is not paged."""
        where: dict[str, Any] = {"_owner": owner}
        if purpose:
            where["purpose"] = check_purpose(purpose)
        data: list[dict[str, Any]] = []
        after: str | None = None
        while len(data) < _LIST_CAP:
            page = await self.store.list("file", "", limit=100, after=after, where=where)
            data.extend(public(r.body) for r in page.records)
            if not page.has_more or not page.records:
                break
            after = page.records[-1].id
        return data[:_LIST_CAP]

    async def delete(self, record: Record) -> bool:
        """Remove the record, then the bytes (a crash in between leaves bytes nobody can reach)."""
        deleted = await self.store.delete("file", "", record.id)
        await self.storage.delete(record.id)
        return deleted

    def content(self, file_id: str) -> AsyncIterator[bytes]:
        return self.storage.read(file_id)

    async def aclose(self) -> None:
        if self._bytes is not None:
            await self._bytes.aclose()

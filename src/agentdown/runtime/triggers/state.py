"""Durable trigger state shared by every worker: blob receipts and timer schedule status.

Small JSON records under string keys with optimistic concurrency: :meth:`create`
succeeds for one caller only, :meth:`replace` and :meth:`delete` only if nobody wrote
since the version read (so pruning never removes a record someone just claimed). That is enough for cross-worker exclusivity without a broker: the worker whose
write wins runs the blob (or the timer occurrence), the others skip it.

Embedded: a table in ``<data dir>/triggers.db``. Azure: one blob per key in the
hosts container (``agentdown-hosts``), versioned by ETag (``If-None-Match: *`` to
create, ``If-Match`` to replace), much like Functions keeps its receipts in
``azure-webjobs-hosts``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agentdown.runtime.queues.base import StorageError
from agentdown.runtime.queues.config import StorageAccount
from agentdown.runtime.triggers.azure_container import ContainerHandle
from agentdown.sessions.sqlitedb import SqliteDatabase

__all__ = ["AzureBlobStateStore", "Record", "SqliteStateStore", "StateStore", "open_state_store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agentdown_trigger_state (
    key TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    version INTEGER NOT NULL
) WITHOUT ROWID;
"""


class StateError(StorageError):
    """The trigger state store failed (it names the store)."""


@dataclass(frozen=True, slots=True)
class Record:
    data: dict[str, Any]
    """The JSON object stored under the key."""
    version: str
    """Opaque; pass it back to :meth:`StateStore.replace`."""


class StateStore(Protocol):
    async def start(self) -> None:
        """Create what the store needs (its container) if missing."""

    async def get(self, key: str) -> Record | None: ...

    async def create(self, key: str, data: dict[str, Any]) -> Record | None:
        """The new record, or ``None`` if ``key`` exists already."""
        ...

    async def replace(self, key: str, data: dict[str, Any], version: str) -> Record | None:
        """The new record, or ``None`` if ``key`` changed (or vanished) since ``version``."""
        ...

    async def keys(self, prefix: str) -> list[str]:
        """The keys starting with ``prefix``, sorted."""
        ...

    async def delete(self, key: str, version: str) -> bool:
        """Remove ``key`` if it is still at ``version``; whether it was removed."""
        ...

    def describe(self) -> str: ...

    async def aclose(self) -> None: ...


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)


class SqliteStateStore:
    """State records in a SQLite file (safe across the processes of one machine)."""

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._db = SqliteDatabase(
            self.path, _SCHEMA, StateError, label="trigger state database", busy_timeout=busy_timeout
        )

    def describe(self) -> str:
        return f"embedded ({self.path})"

    async def start(self) -> None:
        await self._db.call(lambda conn: None)

    async def get(self, key: str) -> Record | None:
        def read(conn: sqlite3.Connection) -> Record | None:
            row = conn.execute(
                "SELECT data, version FROM agentdown_trigger_state WHERE key = ?", (key,)
            ).fetchone()
            return Record(json.loads(row[0]), str(row[1])) if row else None

        return await self._db.call(read)

    async def create(self, key: str, data: dict[str, Any]) -> Record | None:
        def insert(conn: sqlite3.Connection) -> bool:
            return (
                conn.execute(
                    "INSERT OR IGNORE INTO agentdown_trigger_state (key, data, version) VALUES (?, ?, 1)",
                    (key, _dump(data)),
                ).rowcount
                == 1
            )

        return Record(dict(data), "1") if await self._db.call(insert) else None

    async def replace(self, key: str, data: dict[str, Any], version: str) -> Record | None:
        def update(conn: sqlite3.Connection) -> int | None:
            # One statement compares and writes atomically; no explicit transaction needed.
            changed = conn.execute(
                "UPDATE agentdown_trigger_state SET data = ?, version = version + 1 WHERE key = ? AND version = ?",
                (_dump(data), key, int(version)),
            ).rowcount
            return int(version) + 1 if changed else None

        new_version = await self._db.call(update)
        return Record(dict(data), str(new_version)) if new_version is not None else None

    async def keys(self, prefix: str) -> list[str]:
        def select(conn: sqlite3.Connection) -> list[str]:
            # substr, not LIKE or GLOB: keys hold blob names, which may contain their wildcards.
            rows = conn.execute(
                "SELECT key FROM agentdown_trigger_state WHERE substr(key, 1, ?) = ? ORDER BY key",
                (len(prefix), prefix),
            ).fetchall()
            return [str(row[0]) for row in rows]

        return await self._db.call(select)

    async def delete(self, key: str, version: str) -> bool:
        def remove(conn: sqlite3.Connection) -> bool:
            return (
                conn.execute(
                    "DELETE FROM agentdown_trigger_state WHERE key = ? AND version = ?", (key, int(version))
                ).rowcount
                == 1
            )

        return await self._db.call(remove)

    async def aclose(self) -> None:
        await self._db.aclose()


class AzureBlobStateStore:
    """State records as JSON blobs in one container of an Azure Storage account."""

    def __init__(self, account: StorageAccount, container: str) -> None:
        self.account = account
        self.container = container
        self._handle = ContainerHandle(account, container)
        self._container = self._handle.client

    def describe(self) -> str:
        return f"{self.account.describe()}, container {self.container}"

    async def start(self) -> None:
        await self._handle.ensure_exists(StateError, "trigger state container")

    async def get(self, key: str) -> Record | None:
        from azure.core.exceptions import AzureError, ResourceNotFoundError

        try:
            download = await self._container.download_blob(key)
            body = await download.readall()
        except ResourceNotFoundError:
            return None
        except AzureError as exc:
            raise StateError(f"reading trigger state {key!r} in {self.container!r}: {exc}") from exc
        return Record(json.loads(body), str(download.properties.etag))

    async def create(self, key: str, data: dict[str, Any]) -> Record | None:
        from azure.core.exceptions import AzureError, ResourceExistsError

        try:
            result = await self._container.get_blob_client(key).upload_blob(
                _dump(data).encode(), overwrite=False
            )
        except ResourceExistsError:
            return None
        except AzureError as exc:
            raise StateError(f"creating trigger state {key!r} in {self.container!r}: {exc}") from exc
        return Record(dict(data), str(result["etag"]))

    async def replace(self, key: str, data: dict[str, Any], version: str) -> Record | None:
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError

        try:
            result = await self._container.get_blob_client(key).upload_blob(
                _dump(data).encode(),
                overwrite=True,
                etag=version,
                match_condition=MatchConditions.IfNotModified,
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return None
        except AzureError as exc:
            raise StateError(f"writing trigger state {key!r} in {self.container!r}: {exc}") from exc
        return Record(dict(data), str(result["etag"]))

    async def keys(self, prefix: str) -> list[str]:
        from azure.core.exceptions import AzureError

        try:
            return sorted([blob async for blob in self._container.list_blob_names(name_starts_with=prefix)])
        except AzureError as exc:
            raise StateError(f"listing trigger state {prefix!r}* in {self.container!r}: {exc}") from exc

    async def delete(self, key: str, version: str) -> bool:
        from azure.core import MatchConditions
        from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError

        try:
            await self._container.delete_blob(
                key, etag=version, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return False
        except AzureError as exc:
            raise StateError(f"deleting trigger state {key!r} in {self.container!r}: {exc}") from exc
        return True

    async def aclose(self) -> None:
        await self._handle.aclose()


def open_state_store(account: StorageAccount, container: str) -> StateStore:
    """Receipts next to ``account``: ``triggers.db`` in its data dir, or blobs in ``container``."""
    if account.kind == "embedded":
        assert account.data_dir is not None
        return SqliteStateStore(account.data_dir / "triggers.db")
    return AzureBlobStateStore(account, container)

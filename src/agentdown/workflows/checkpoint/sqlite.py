"""Checkpoints as rows of one SQLite database file, shared safely by several processes."""

from __future__ import annotations

import os
import sqlite3

from ...sessions.sqlitedb import SqliteDatabase, immediate
from .errors import CheckpointNotFoundError, CheckpointStorageError
from .model import WorkflowCheckpoint, checkpoint_to_json
from .storage import check_checkpoint_id, loaded, require_checkpoint_id, sortable_timestamp

__all__ = ["SqliteCheckpointStorage"]

# Ordered as every storage orders them: by the checkpoint's timestamp (``created``, UTC
# text that sorts as time), then by save order (``seq``) within one clock tick.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS agentdown_workflow_checkpoints (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    checkpoint_id TEXT NOT NULL UNIQUE,
    workflow_name TEXT NOT NULL,
    created TEXT NOT NULL,
    document BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS agentdown_workflow_checkpoints_by_workflow
    ON agentdown_workflow_checkpoints (workflow_name, created, seq);
"""

_DELETE = "DELETE FROM agentdown_workflow_checkpoints WHERE checkpoint_id = ?"
_INSERT = (
    "INSERT INTO agentdown_workflow_checkpoints (checkpoint_id, workflow_name, created, document) "
    "VALUES (?, ?, ?, ?)"
)
_ORDER = "ORDER BY created, seq"


class SqliteCheckpointStorage:
    """Checkpoints in the SQLite file ``path`` (created with its folder on first use).

    One row per checkpoint, indexed by workflow name in the order they were saved. The
    file may be shared with the session database or be its own; ``":memory:"`` works for
    a single storage object.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = str(path)
        """The database file."""
        self._db = SqliteDatabase(
            self.path, _SCHEMA, CheckpointStorageError, label="checkpoint database", busy_timeout=busy_timeout
        )

    def __repr__(self) -> str:
        return f"SqliteCheckpointStorage({self.path!r})"

    async def save(self, checkpoint: WorkflowCheckpoint) -> str:
        checkpoint_id = require_checkpoint_id(checkpoint.checkpoint_id)
        document = checkpoint_to_json(checkpoint)
        created = sortable_timestamp(checkpoint)
        await self._db.call(_save, checkpoint_id, checkpoint.workflow_name, created, document)
        return checkpoint_id

    async def load(self, checkpoint_id: str) -> WorkflowCheckpoint:
        row = await self._db.call(_load, checkpoint_id) if check_checkpoint_id(checkpoint_id) else None
        if row is None:
            raise CheckpointNotFoundError(f"no checkpoint {checkpoint_id!r:.140} in {self.path}")
        return loaded(row, checkpoint_id, where=self._where(checkpoint_id))

    async def list_checkpoints(self, workflow_name: str | None = None) -> list[WorkflowCheckpoint]:
        rows = await self._db.call(_list, workflow_name)
        return [loaded(document, cid, where=self._where(cid)) for cid, document in rows]

    async def get_latest(self, workflow_name: str) -> WorkflowCheckpoint | None:
        row = await self._db.call(_latest, workflow_name)
        return None if row is None else loaded(row[1], row[0], where=self._where(row[0]))

    async def delete(self, checkpoint_id: str) -> bool:
        if not check_checkpoint_id(checkpoint_id):
            return False
        return await self._db.call(_delete, checkpoint_id)

    async def aclose(self) -> None:
        """Close the database connection (the storage cannot be used afterwards)."""
        await self._db.aclose()

    def _where(self, checkpoint_id: str) -> str:
        return f"{self.path} checkpoint {checkpoint_id}"


def _save(
    conn: sqlite3.Connection, checkpoint_id: str, workflow_name: str, created: str, document: bytes
) -> None:
    with immediate(conn):
        # Delete and insert rather than update: a re-save takes a new seq, so among equal
        # timestamps it sorts last, as in every other storage.
        conn.execute(_DELETE, (checkpoint_id,))
        conn.execute(_INSERT, (checkpoint_id, workflow_name, created, document))


def _load(conn: sqlite3.Connection, checkpoint_id: str) -> bytes | None:
    row = conn.execute(
        "SELECT document FROM agentdown_workflow_checkpoints WHERE checkpoint_id = ?", (checkpoint_id,)
    ).fetchone()
    return None if row is None else bytes(row[0])


def _list(conn: sqlite3.Connection, workflow_name: str | None) -> list[tuple[str, bytes]]:
    if workflow_name is None:
        cursor = conn.execute("SELECT checkpoint_id, document FROM agentdown_workflow_checkpoints " + _ORDER)
    else:
        cursor = conn.execute(
            "SELECT checkpoint_id, document FROM agentdown_workflow_checkpoints WHERE workflow_name = ? "
            + _ORDER,
            (workflow_name,),
        )
    return [(str(cid), bytes(document)) for cid, document in cursor.fetchall()]


def _latest(conn: sqlite3.Connection, workflow_name: str) -> tuple[str, bytes] | None:
    row = conn.execute(
        "SELECT checkpoint_id, document FROM agentdown_workflow_checkpoints WHERE workflow_name = ? "
        "ORDER BY created DESC, seq DESC LIMIT 1",
        (workflow_name,),
    ).fetchone()
    return None if row is None else (str(row[0]), bytes(row[1]))


def _delete(conn: sqlite3.Connection, checkpoint_id: str) -> bool:
    with immediate(conn):
        cursor = conn.execute(
            "DELETE FROM agentdown_workflow_checkpoints WHERE checkpoint_id = ?", (checkpoint_id,)
        )
    return cursor.rowcount > 0

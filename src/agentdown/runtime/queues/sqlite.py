"""The embedded queue: ``<data dir>/queues.db``, shared by every process of one machine.

``agentdown enqueue`` in one terminal reaches ``agentdown serve`` or ``agentdown
worker`` in another because they open the same file. A receive picks visible rows and
stamps them with a new pop receipt and ``visible_at`` in one ``BEGIN IMMEDIATE``
transaction, so two processes never get the same delivery; a consumer that dies
leaves its rows to reappear when ``visible_at`` passes.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from agentdown.runtime.queues.base import (
    DEFAULT_TIME_TO_LIVE,
    QueueError,
    QueueMessage,
    QueueMessageLostError,
    validate_queue_name,
)
from agentdown.runtime.queues.watch import FileWatch, Signature, file_watch
from agentdown.sessions.sqlitedb import SqliteDatabase, immediate

__all__ = ["SqliteQueue", "SqliteQueueService"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agentdown_queue_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL,
    inserted_at REAL NOT NULL,
    expires_at REAL,
    visible_at REAL NOT NULL,
    dequeue_count INTEGER NOT NULL DEFAULT 0,
    pop_receipt TEXT
);
CREATE INDEX IF NOT EXISTS agentdown_queue_visible ON agentdown_queue_messages (queue, visible_at);
"""
_COLUMNS = "seq, id, body, inserted_at, expires_at, visible_at, dequeue_count, pop_receipt"

Row = tuple[int, str, bytes, float, float | None, float, int, str | None]


def _time(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _message(row: Row) -> QueueMessage:
    _, id_, body, inserted, expires, visible, count, receipt = row
    return QueueMessage(
        id=id_,
        body=bytes(body),
        pop_receipt=receipt or "",
        dequeue_count=count,
        insertion_time=_time(inserted),
        expiration_time=_time(expires) if expires is not None else None,
        time_next_visible=_time(visible),
    )


class SqliteQueueService:
    """The queues in one SQLite file (created with its folder on first use)."""

    kind = "embedded"

    def __init__(self, path: str | Path, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self._db = SqliteDatabase(
            self.path, _SCHEMA, QueueError, label="queue database", busy_timeout=busy_timeout
        )

    def __repr__(self) -> str:
        return f"SqliteQueueService({str(self.path)!r})"

    def describe(self) -> str:
        return f"embedded ({self.path})"

    def queue(self, name: str) -> SqliteQueue:
        return SqliteQueue(self._db, validate_queue_name(name))

    async def aclose(self) -> None:
        await self._db.aclose()


class SqliteQueue:
    """One queue of a :class:`SqliteQueueService` (rows tagged with its name)."""

    def __init__(self, db: SqliteDatabase, name: str) -> None:
        self._db = db
        self._name = name

    def __repr__(self) -> str:
        return f"SqliteQueue({self._name!r}, {str(self._db.path)!r})"

    @property
    def name(self) -> str:
        return self._name

    async def create(self) -> None:
        # Rows carry their queue's name: there is nothing to create, only the file to open.
        await self._db.call(lambda conn: None)

    async def send(
        self, body: str | bytes, *, visibility_delay: float = 0.0, time_to_live: float | None = None
    ) -> str:
        payload = body.encode("utf-8") if isinstance(body, str) else bytes(body)
        ttl = DEFAULT_TIME_TO_LIVE if time_to_live is None else time_to_live
        message_id = str(uuid.uuid4())

        def insert(conn: sqlite3.Connection) -> None:
            now = time.time()
            conn.execute(
                "INSERT INTO agentdown_queue_messages (queue, id, body, inserted_at, expires_at, visible_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (
                    self._name,
                    message_id,
                    payload,
                    now,
                    None if ttl < 0 else now + ttl,
                    now + visibility_delay,
                ),
            )

        await self._db.call(insert)
        self._watch().notify()
        return message_id

    def _watch(self) -> FileWatch:
        return file_watch(self._db.path)

    def change_token(self) -> Signature:
        """What the queue file looks like now (for :meth:`wait_for_change`); call it in the loop."""
        return self._watch().token()

    async def wait_for_change(self, token: Signature, timeout: float) -> None:
        """Return when any process wrote to the queue file since ``token`` (or after ``timeout``).

        Cheap: see :mod:`agentdown.runtime.queues.watch`. Readers call it instead of sleeping
        between empty receives, so a message is seen within milliseconds of its arrival.
        """
        await self._watch().wait(token, timeout)

    async def receive(self, max_messages: int, visibility_timeout: float) -> list[QueueMessage]:
        if max_messages < 1:
            return []

        def take(conn: sqlite3.Connection) -> list[QueueMessage]:
            with immediate(conn):
                now = time.time()
                # Expired messages vanish unread, as in Azure Storage.
                conn.execute(
                    "DELETE FROM agentdown_queue_messages WHERE queue = ? AND expires_at IS NOT NULL "
                    "AND expires_at <= ?",
                    (self._name, now),
                )
                rows: list[Row] = conn.execute(
                    f"SELECT {_COLUMNS} FROM agentdown_queue_messages WHERE queue = ? AND visible_at <= ? "
                    "ORDER BY visible_at, seq LIMIT ?",
                    (self._name, now, max_messages),
                ).fetchall()
                taken = []
                for row in rows:
                    receipt = secrets.token_urlsafe(12)
                    visible = now + visibility_timeout
                    conn.execute(
                        "UPDATE agentdown_queue_messages SET visible_at = ?, dequeue_count = dequeue_count + 1, "
                        "pop_receipt = ? WHERE seq = ?",
                        (visible, receipt, row[0]),
                    )
                    taken.append(_message((*row[:5], visible, row[6] + 1, receipt)))
                return taken

        return await self._db.call(take)

    async def delete(self, message: QueueMessage) -> None:
        def remove(conn: sqlite3.Connection) -> int:
            return conn.execute(
                "DELETE FROM agentdown_queue_messages WHERE queue = ? AND id = ? AND pop_receipt = ?",
                (self._name, message.id, message.pop_receipt),
            ).rowcount

        if await self._db.call(remove) == 0:
            raise self._lost(message)

    async def update_visibility(self, message: QueueMessage, visibility_timeout: float) -> QueueMessage:
        receipt = secrets.token_urlsafe(12)

        def update(conn: sqlite3.Connection) -> float | None:
            visible = time.time() + visibility_timeout
            changed = conn.execute(
                "UPDATE agentdown_queue_messages SET visible_at = ?, pop_receipt = ? "
                "WHERE queue = ? AND id = ? AND pop_receipt = ?",
                (visible, receipt, self._name, message.id, message.pop_receipt),
            ).rowcount
            return visible if changed else None

        visible = await self._db.call(update)
        if visible is None:
            raise self._lost(message)
        if visibility_timeout <= 0:
            self._watch().notify()  # given back: a reader in this process may want it
        return QueueMessage(
            id=message.id,
            body=message.body,
            pop_receipt=receipt,
            dequeue_count=message.dequeue_count,
            insertion_time=message.insertion_time,
            expiration_time=message.expiration_time,
            time_next_visible=_time(visible),
        )

    async def approximate_count(self) -> int:
        def count(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "SELECT COUNT(*) FROM agentdown_queue_messages WHERE queue = ? AND "
                "(expires_at IS NULL OR expires_at > ?)",
                (self._name, time.time()),
            ).fetchone()
            return int(row[0])

        return await self._db.call(count)

    def _lost(self, message: QueueMessage) -> QueueMessageLostError:
        return QueueMessageLostError(
            f"queue {self._name!r} ({self._db.path}): message {message.id} was deleted or received again "
            "after its visibility timeout expired"
        )

"""One SQLite connection on one thread, in WAL mode: the embedded queues' and receipts' database.

``sqlite3`` blocks, so the connection lives on a dedicated thread and the event loop
only awaits it. WAL plus ``BEGIN IMMEDIATE`` make each read-modify-write one atomic
step across processes; ``busy_timeout`` makes a second process wait for the write
lock instead of failing.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["SqliteThread", "transaction"]

T = TypeVar("T")


class SqliteThread:
    """A lazily opened connection to ``path`` with ``schema`` applied, used from one thread."""

    def __init__(
        self, path: Path, schema: str, error: type[Exception], *, busy_timeout: float = 30.0
    ) -> None:
        self.path = path
        self._schema = schema
        self._error = error
        self._busy_timeout = busy_timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentdown-queue-db")
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)`` on the database thread."""
        if self._closed:
            raise self._error(f"database {self.path} is closed")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._run, fn, args)

    def _run(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        try:
            return fn(self._connection(), *args)
        except sqlite3.Error as exc:
            raise self._error(f"database {self.path}: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if self._conn is not None:
            return self._conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise self._error(
                    f"database {self.path}: could not switch to WAL journaling (got {mode!r}); "
                    "it must be on a local file system"
                )
            # A deleted message or a written receipt must survive a power cut, not only a crash.
            conn.execute("PRAGMA synchronous=FULL")
            conn.executescript(self._schema)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def transaction(conn: sqlite3.Connection, fn: Callable[[], T]) -> T:
    """``fn()`` inside ``BEGIN IMMEDIATE`` ... ``COMMIT`` (the write lock is taken before any read)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn()
        conn.execute("COMMIT")
    except BaseException:
        # Some errors (SQLITE_FULL, SQLITE_IOERR...) already rolled back: a second ROLLBACK would mask them.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result

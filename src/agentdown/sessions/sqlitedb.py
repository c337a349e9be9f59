"""One SQLite file in WAL mode, opened safely by many processes at once, used from one thread.

Every database agentdown keeps (sessions, the embedded queues, trigger state) goes
through :class:`SqliteDatabase`, because getting a connection ready is the part
SQLite does not protect by itself:

* ``busy_timeout`` makes statements wait for another process's lock, but switching
  a new file to WAL needs an exclusive lock and SQLite does not wait for that one
  (it answers ``database is locked`` at once). WAL persists in the file, so the mode
  is read first and switched only when it is not WAL yet.
* The schema is created inside ``BEGIN IMMEDIATE`` (which does wait) and stamped in
  ``user_version``; a process finding the stamp skips the write lock altogether, so a
  server starting while another writes does not queue behind it.
* Whatever still answers "busy" or "locked" without waiting (set-up, a snapshot that
  went stale) is retried with jittered exponential backoff until ``busy_timeout``
  has passed since the first try; only then does the caller get an error.

``sqlite3`` blocks, so the connection lives on one dedicated thread and the event
loop only awaits it. A database whose commits need no disk flush (``durable_commits=
False``) may also run operations *inline*, on the event loop's thread, over a second
connection that never waits (``busy_timeout=0``): when another connection holds the
write lock SQLite answers "busy" at once, and the operation goes to the thread as
usual. Under load this is the difference that matters: every hop to the thread costs
a wake-up, a future and a switch of the GIL, and a thread waiting for the GIL behind
a busy event loop holds every queued operation back (a 0.1 ms write was awaited for
tens of milliseconds at 50 concurrent runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["SqliteDatabase", "immediate"]

T = TypeVar("T")

_BUSY_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_FIRST_DELAY = 0.002
_MAX_DELAY = 0.1
_CHECKPOINT_EVERY = 512
"""Inline operations between two passive WAL checkpoints run on the database thread: the
inline connection never checkpoints itself (copying the WAL back and syncing it is the
slow, disk-bound part of SQLite, not for the event loop's thread)."""


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "busy"/"locked" (any extended code): another connection holds a lock."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.OperationalError) and code is not None and code & 0xFF in _BUSY_CODES


def rollback(conn: sqlite3.Connection) -> None:
    # Some errors (SQLITE_FULL, SQLITE_IOERR...) already rolled back: a second ROLLBACK would mask them.
    if conn.in_transaction:
        conn.execute("ROLLBACK")


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: the write lock is taken before any read; rolled back on error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        rollback(conn)
        raise


def _schema_version(schema: str) -> int:
    # A stamp derived from the schema text: a changed schema is applied again (its
    # statements are all IF NOT EXISTS). Never 0, the value of a file nobody stamped.
    return zlib.crc32(schema.encode()) % 0x7FFFFFFF + 1


class SqliteDatabase:
    """A lazily opened connection to ``path`` with ``schema`` applied, used from one thread.

    Errors of SQLite (and of creating the file's folder) reach callers as
    ``error(f"{label} {path}: ...")``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        schema: str,
        error: Callable[[str], Exception],
        *,
        label: str = "database",
        busy_timeout: float = 30.0,
        durable_commits: bool = True,
        inline: bool = False,
    ) -> None:
        self.path = str(path)
        """The database file; ``":memory:"`` works for a single instance."""
        self.label = label
        self.busy_timeout = busy_timeout
        """Seconds an operation waits for other processes' locks before failing."""
        self.durable_commits = durable_commits
        """``True``: every commit is on disk before it returns (``synchronous=FULL``: survives a
        power cut). ``False``: ``synchronous=NORMAL``, WAL's usual setting: a commit survives a
        killed process, and a power cut may undo the last commits but never corrupts the file;
        about five times less time per write."""
        self.inline = inline and not durable_commits and path != ":memory:"
        """Run operations on the event loop's thread when they need not wait for a lock
        (only without durable commits: a flushing commit blocks for milliseconds)."""
        self._schema = schema
        self._version = _schema_version(schema)
        self._error = error
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="agentdown-sqlite")
        self._conn: sqlite3.Connection | None = None
        self._inline_conn: sqlite3.Connection | None = None
        self._inline_thread: int | None = None
        self._inline_calls = 0
        self._closed = False

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(connection, *args)`` on the database thread.

        ``fn`` may run again after a busy error, so it must be one transaction (or one
        statement): what failed was rolled back. Cancelling the awaiting task does not
        stop a statement already running on the thread.
        """
        if self._closed:
            raise self._error(f"{self.label} {self.path} is closed")
        conn = self._inline_conn
        if conn is not None and self._inline_thread == threading.get_ident():
            done, result = self._run_inline(conn, fn, args)
            if done:
                return result
        elif self.inline and self._inline_thread is None:
            self._inline_thread = threading.get_ident()
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._run, fn, args)

    def _run_inline(
        self, conn: sqlite3.Connection, fn: Callable[..., T], args: tuple[Any, ...]
    ) -> tuple[bool, T]:
        """``(True, result)``, or ``(False, None)`` when the operation would have had to wait."""
        try:
            result = fn(conn, *args)
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise self._error(f"{self.label} {self.path}: {exc}") from exc
            rollback(conn)
            return False, None  # type: ignore[return-value]
        except sqlite3.Error as exc:
            raise self._error(f"{self.label} {self.path}: {exc}") from exc
        self._inline_calls += 1
        if self._inline_calls % _CHECKPOINT_EVERY == 0:
            self._executor.submit(self._checkpoint)
        return True, result

    def _checkpoint(self) -> None:
        # PASSIVE never waits for readers or writers; a failure only leaves the WAL longer.
        with contextlib.suppress(sqlite3.Error):
            if self._conn is not None:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _run(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        deadline = time.monotonic() + self.busy_timeout

        def attempt() -> T:
            conn = self._connection(deadline)
            try:
                return fn(conn, *args)
            except sqlite3.OperationalError as exc:
                if is_busy(exc):
                    rollback(conn)  # in case ``fn`` left its transaction open
                raise

        try:
            result = _retry_busy(attempt, deadline)
        except sqlite3.Error as exc:
            still = "; still locked by another connection" if is_busy(exc) else ""
            raise self._error(f"{self.label} {self.path}: {exc}{still}") from exc
        if self.inline and self._inline_conn is None:
            self._open_inline()
        return result

    def _open_inline(self) -> None:
        """The event loop's connection, opened here (on the thread) once the file is set up.

        Opening it can wait (for a lock, for the disk); using it never does. It serves the
        thread whose loop asks first; operations from any other thread take the usual path.
        """
        try:
            conn = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=0")
            conn.execute(f"PRAGMA synchronous={'FULL' if self.durable_commits else 'NORMAL'}")
            conn.execute("PRAGMA wal_autocheckpoint=0")
        except sqlite3.Error:
            return  # the thread keeps serving everything: slower, never wrong
        self._inline_conn = conn

    def _connection(self, deadline: float) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open(deadline)
        return self._conn

    def _open(self, deadline: float) -> sqlite3.Connection:
        memory = self.path == ":memory:"
        if not memory:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise self._error(f"{self.label} {self.path}: cannot create its folder: {exc}") from exc
        timeout = max(0.0, deadline - time.monotonic())
        conn = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        try:
            # Set-up retries on its own: the busy handler does not cover the WAL switch.
            _retry_busy(lambda: self._set_up(conn, memory), deadline)
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        except BaseException:
            conn.close()
            raise
        return conn

    def _set_up(self, conn: sqlite3.Connection, memory: bool) -> None:
        mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if mode != "wal" and not memory:
            mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
            if mode != "wal":
                raise self._error(
                    f"{self.label} {self.path}: could not switch to WAL journaling (got {mode!r}); "
                    "it must be on a local file system"
                )
        conn.execute(f"PRAGMA synchronous={'FULL' if self.durable_commits else 'NORMAL'}")
        if conn.execute("PRAGMA user_version").fetchone()[0] == self._version:
            return
        try:
            # executescript commits a pending transaction first, so BEGIN goes inside the script.
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{self._schema}\nPRAGMA user_version={self._version};\nCOMMIT;"
            )
        except BaseException:
            rollback(conn)
            raise

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=False)

    def _close(self) -> None:
        if self._inline_conn is not None:
            self._inline_conn.close()
            self._inline_conn = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _retry_busy(attempt: Callable[[], T], deadline: float) -> T:
    delay = _FIRST_DELAY
    while True:
        try:
            return attempt()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= deadline:
                raise
        # Full jitter: processes that collided once do not collide again in lockstep.
        time.sleep(random.uniform(0, min(delay, max(0.0, deadline - time.monotonic()))))
        delay = min(delay * 2, _MAX_DELAY)

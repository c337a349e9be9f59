"""SqliteDatabase(inline=True): operations run on the event loop's thread only when they cannot wait.

What a user relies on: the Agents API store answers without a thread hop when it can,
and still never blocks the event loop behind another connection's lock, never loses
an operation to a lock, and stays correct when used from another thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from agentdown.sessions.sqlitedb import SqliteDatabase, immediate

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER NOT NULL);"


class Failed(Exception):
    pass


def _put(conn: sqlite3.Connection, key: str, value: int) -> int:
    with immediate(conn):
        conn.execute("INSERT OR REPLACE INTO t (k, v) VALUES (?, ?)", (key, value))
    return threading.get_ident()


def _get(conn: sqlite3.Connection, key: str) -> int | None:
    row = conn.execute("SELECT v FROM t WHERE k = ?", (key,)).fetchone()
    return None if row is None else int(row[0])


def _db(path: Path, **kwargs: object) -> SqliteDatabase:
    return SqliteDatabase(
        path, SCHEMA, Failed, busy_timeout=10.0, durable_commits=False, inline=True, **kwargs
    )  # type: ignore[arg-type]


async def test_uncontended_operations_run_on_the_loop_thread(tmp_path: Path) -> None:
    db = _db(tmp_path / "x.db")
    try:
        first = await db.call(_put, "a", 1)  # opens the file on the database thread
        assert first != threading.get_ident()
        later = [await db.call(_put, f"k{i}", i) for i in range(5)]
        assert later == [threading.get_ident()] * 5
        assert await db.call(_get, "k4") == 4
    finally:
        await db.aclose()


async def test_a_held_write_lock_sends_the_operation_to_the_thread_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "x.db"
    db = _db(path)
    try:
        await db.call(_put, "warm", 0)
        await db.call(_put, "warm", 1)  # inline connection ready
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another writer (a second process) holds the lock
        other.execute("INSERT OR REPLACE INTO t (k, v) VALUES ('held', 1)")
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        tick_task = asyncio.create_task(ticker())
        write = asyncio.create_task(db.call(_put, "waiting", 7))
        await asyncio.sleep(0.3)
        assert not write.done()  # it waits for the lock, on the thread...
        assert ticks >= 10  # ...while the loop goes on
        other.execute("COMMIT")
        other.close()
        thread = await asyncio.wait_for(write, 5)
        tick_task.cancel()
        assert thread != threading.get_ident()
        assert await db.call(_get, "waiting") == 7
        assert await db.call(_get, "held") == 1
    finally:
        await db.aclose()


async def test_errors_inline_are_the_databases_own(tmp_path: Path) -> None:
    db = _db(tmp_path / "x.db")
    try:
        await db.call(_put, "a", 1)
        await db.call(_put, "a", 2)

        def bad(conn: sqlite3.Connection) -> None:
            conn.execute("SELECT nope FROM t")

        with pytest.raises(Failed, match="no such column"):
            await db.call(bad)
        # A failed transaction left nothing open: the next write goes through inline.
        assert await db.call(_put, "b", 3) == threading.get_ident()
    finally:
        await db.aclose()


async def test_another_threads_loop_takes_the_thread_path(tmp_path: Path) -> None:
    db = _db(tmp_path / "x.db")
    try:
        await db.call(_put, "a", 1)
        assert await db.call(_put, "a", 2) == threading.get_ident()
        seen: list[int] = []

        def elsewhere() -> None:
            async def go() -> None:
                seen.append(await db.call(_put, "b", 3))

            asyncio.run(go())

        worker = threading.Thread(target=elsewhere)
        worker.start()
        worker.join(10)
        assert seen and seen[0] not in (threading.get_ident(), worker.ident)
        assert await db.call(_get, "b") == 3
    finally:
        await db.aclose()


async def test_durable_databases_never_run_inline(tmp_path: Path) -> None:
    # A flushing commit blocks for milliseconds: never on the event loop's thread.
    db = SqliteDatabase(tmp_path / "x.db", SCHEMA, Failed, durable_commits=True, inline=True)
    try:
        threads = {await db.call(_put, f"k{i}", i) for i in range(3)}
        assert threading.get_ident() not in threads
    finally:
        await db.aclose()


async def test_the_wal_is_checkpointed_off_the_loop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import agentdown.sessions.sqlitedb as sqlitedb

    monkeypatch.setattr(sqlitedb, "_CHECKPOINT_EVERY", 10)
    path = tmp_path / "x.db"
    db = _db(path)
    wal = Path(f"{path}-wal")
    try:
        # The inline connection never checkpoints: the thread's passive checkpoints do, and
        # the first write after a complete one starts the WAL over, so the file stops growing.
        # Without them every commit appends to it.
        for i in range(400):
            await db.call(_put, f"k{i % 20}", i)
        before = wal.stat().st_size
        for i in range(400):
            await db.call(_put, f"k{i % 20}", i)
            await asyncio.sleep(0.002)  # pauses: a checkpoint can complete between two writes
        # 400 more commits would add about as much again (~3 MB); reused, the file barely grows.
        assert wal.stat().st_size < before + before // 4, (before, wal.stat().st_size)
    finally:
        await db.aclose()

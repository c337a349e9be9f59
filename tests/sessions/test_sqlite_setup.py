"""Opening a SQLite database while other processes create or write it: waits, never fails.

Switching a file to WAL needs an exclusive lock, and SQLite answers ``database is
locked`` at once, without waiting through the busy timeout, when another connection
holds the write lock meanwhile. Every database agentdown keeps (sessions, queues,
trigger state) opens through the same set-up, so each is tested here.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path

import _sqlite_opener
import pytest

from agentdown.messages import Message
from agentdown.runtime.queues.base import StorageError
from agentdown.runtime.queues.sqlite import SqliteQueueService
from agentdown.runtime.triggers.state import SqliteStateStore
from agentdown.sessions import SessionStoreError, SqliteSessionStore

KINDS = _sqlite_opener.KINDS
TABLES = {
    "sessions": "agentdown_turns",
    "queues": "agentdown_queue_messages",
    "state": "agentdown_trigger_state",
}


def hold_write_lock(path: Path, seconds: float) -> threading.Thread:
    """Another connection creating ``path`` and keeping its write lock for ``seconds``, in rollback-journal mode."""
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE other_writer (x)")

    def release() -> None:
        holder.execute("COMMIT")
        holder.close()

    timer = threading.Timer(seconds, release)
    timer.start()
    return timer


async def write_and_count(kind: str, path: Path, busy_timeout: float) -> int:
    """One write through the store of ``kind``; then the rows its table holds."""
    if kind == "sessions":
        sessions = SqliteSessionStore(path, busy_timeout=busy_timeout)
        try:
            await sessions.append("agent", "s", [Message.user("hi")], expected_version=None)
        finally:
            await sessions.aclose()
    elif kind == "queues":
        queues = SqliteQueueService(path, busy_timeout=busy_timeout)
        try:
            await queues.queue("work").send("hi")
        finally:
            await queues.aclose()
    else:
        state = SqliteStateStore(path, busy_timeout=busy_timeout)
        try:
            assert await state.create("key", {"hi": True}) is not None
        finally:
            await state.aclose()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        return int(conn.execute(f"SELECT COUNT(*) FROM {TABLES[kind]}").fetchone()[0])


@pytest.mark.parametrize("kind", KINDS)
async def test_opening_while_another_connection_holds_the_write_lock_waits_for_it(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / f"{kind}.db"
    holder = hold_write_lock(path, 0.4)
    try:
        assert await write_and_count(kind, path, busy_timeout=10) == 1
    finally:
        holder.join()


async def expect_error(call: Callable[[], Awaitable[object]], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        await call()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_lock_held_past_the_busy_timeout_is_a_precise_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / f"{kind}.db"
    holder = hold_write_lock(path, 2.0)
    try:
        error: type[Exception] = SessionStoreError if kind == "sessions" else StorageError
        label = {"sessions": "session", "queues": "queue", "state": "trigger state"}[kind]
        started = asyncio.get_running_loop().time()
        await expect_error(
            lambda: write_and_count(kind, path, busy_timeout=0.3),
            error,
            rf"^{label} database {path}: database is locked; still locked by another connection$",
        )
        assert asyncio.get_running_loop().time() - started < 1.5
    finally:
        holder.join()
    assert await write_and_count(kind, path, busy_timeout=10) == 1  # usable once the lock is gone


async def test_a_writer_waits_for_another_connections_transaction(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    store = SqliteSessionStore(path, busy_timeout=10)
    try:
        await store.append("agent", "s", [Message.user("one")], expected_version=None)
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")
        release = threading.Timer(0.4, lambda: (holder.execute("COMMIT"), holder.close()))
        release.start()
        assert await store.append("agent", "s", [Message.user("two")], expected_version="1") == "2"
        release.join()
    finally:
        await store.aclose()


PROCESSES = 4
ROUNDS = 9


def test_processes_opening_a_fresh_database_at_once_all_succeed(tmp_path: Path) -> None:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    workers = [
        context.Process(target=_sqlite_opener.run, args=(str(tmp_path), ROUNDS, worker, barrier, results))
        for worker in range(PROCESSES)
    ]
    for process in workers:
        process.start()
    failures = [failure for _ in workers for failure in results.get(timeout=120)]
    for process in workers:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert failures == []
    for round_ in range(ROUNDS):
        with sqlite3.connect(tmp_path / f"{round_}.db") as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            count = conn.execute(f"SELECT COUNT(*) FROM {TABLES[KINDS[round_ % 3]]}").fetchone()[0]
            assert count == PROCESSES

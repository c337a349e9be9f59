"""The default session store: one SQLite database in WAL mode, shared by the processes of one machine.

Why this shape:

* WAL lets readers proceed while one writer appends; ``BEGIN IMMEDIATE`` takes the
  write lock before the version check, so check-and-append is one atomic step
  across processes, and ``busy_timeout`` makes waiting writers queue instead of fail.
* ``synchronous=FULL``: a committed turn survives a power cut, not only a killed process.
* Turns are rows keyed ``(agent, session_id, seq)``; reading the tail walks that
  index backwards and stops after enough messages, so a load costs O(tail).
* Decoded turns are kept per store (:class:`~agentdown.sessions.turncache.TurnCache`):
  an ``auto`` load needs the same newest turns on every request. A load reads from the
  file only the turns newer than the newest cached one, and copies the cached ones
  while the database's ``generation`` (bumped by a trigger whenever a stored turn is
  deleted or rewritten, so a recreated session's turn numbers cannot be mistaken for
  the old ones) is what it was when they were read. After such a change, a turn whose
  row still holds the same JSON is copied from the cache instead of decoded again.
  :meth:`~SqliteSessionStore.load_shared` (the runner's load) skips the copies.
* Opening the file is safe while other processes create or write it, and lock
  contention is waited out, never reported (see :mod:`agentdown.sessions.sqlitedb`).

The version is the session's turn count (as a string). A session deleted and then
recreated starts counting again.
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from agentdown.messages import Message
from agentdown.sessions.sqlitedb import SqliteDatabase, immediate
from agentdown.sessions.store import (
    History,
    SessionConflictError,
    SessionInfo,
    SessionStoreError,
    Turn,
    check_keys,
    check_max_messages,
    cutoff_time,
    validate_agent_name,
)
from agentdown.sessions.turncache import DEFAULT_TURN_CACHE_BYTES, TurnCache

__all__ = ["SqliteSessionStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agentdown_sessions (
    agent TEXT NOT NULL,
    session_id TEXT NOT NULL,
    turns INTEGER NOT NULL,
    messages INTEGER NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (agent, session_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS agentdown_sessions_updated ON agentdown_sessions (updated_at);
CREATE TABLE IF NOT EXISTS agentdown_turns (
    agent TEXT NOT NULL,
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    message_count INTEGER NOT NULL,
    created_at REAL NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (agent, session_id, seq)
);
CREATE TABLE IF NOT EXISTS agentdown_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO agentdown_meta (key, value) VALUES ('generation', 0);
CREATE TRIGGER IF NOT EXISTS agentdown_turns_deleted AFTER DELETE ON agentdown_turns
BEGIN
    UPDATE agentdown_meta SET value = value + 1 WHERE key = 'generation';
END;
CREATE TRIGGER IF NOT EXISTS agentdown_turns_updated AFTER UPDATE ON agentdown_turns
BEGIN
    UPDATE agentdown_meta SET value = value + 1 WHERE key = 'generation';
END;
"""
"""``generation`` counts deletions and rewrites of stored turns, by whatever code makes them
(triggers, so even a process running an older agentdown on the same file counts them)."""

_GENERATION = "SELECT value FROM agentdown_meta WHERE key = 'generation'"
_TURNS = (
    "SELECT seq, message_count, created_at, body FROM agentdown_turns "
    "WHERE agent = ? AND session_id = ? AND seq {} ? ORDER BY seq DESC"
)
_NEWER, _UP_TO = _TURNS.format(">"), _TURNS.format("<=")

_INFO_COLUMNS = "agent, session_id, updated_at, created_at, turns, messages"


class SqliteSessionStore:
    """Sessions in one SQLite database file (created with its directory on first use)."""

    kind = "sqlite"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 30.0,
        turn_cache_bytes: int = DEFAULT_TURN_CACHE_BYTES,
    ) -> None:
        self.path = str(path)
        """The database file (``":memory:"`` works for a single store instance)."""
        self.busy_timeout = busy_timeout
        """Seconds a writer waits for another process's write lock before failing."""
        self.turn_cache = TurnCache(turn_cache_bytes)
        """Decoded turns, reused while their row is unchanged (about ``turn_cache_bytes`` of memory; 0: off)."""
        self._db = SqliteDatabase(
            self.path, _SCHEMA, SessionStoreError, label="session database", busy_timeout=busy_timeout
        )

    def __repr__(self) -> str:
        return f"SqliteSessionStore({self.path!r})"

    async def load(self, agent: str, session_id: str, *, max_messages: int | None = None) -> History:
        check_keys(agent, session_id)
        check_max_messages(max_messages)
        return await self._db.call(self._load, agent, session_id, max_messages, True)

    async def load_shared(self, agent: str, session_id: str, *, max_messages: int | None = None) -> History:
        """:meth:`load` without copying cached turns: their messages are the cache's, not to be edited."""
        check_keys(agent, session_id)
        check_max_messages(max_messages)
        return await self._db.call(self._load, agent, session_id, max_messages, False)

    async def append(
        self, agent: str, session_id: str, messages: Sequence[Message], *, expected_version: str | None
    ) -> str:
        check_keys(agent, session_id)
        if not messages:
            raise ValueError("a turn needs at least one message")
        body = json.dumps([m.to_dict() for m in messages], separators=(",", ":"), ensure_ascii=False)
        return await self._db.call(self._append, agent, session_id, body, len(messages), expected_version)

    async def list(self, agent: str | None = None) -> builtins.list[SessionInfo]:
        if agent is not None:
            validate_agent_name(agent)
        return await self._db.call(self._list, agent)

    async def delete(self, agent: str, session_id: str) -> bool:
        check_keys(agent, session_id)
        gone = await self._db.call(self._delete, agent, session_id)
        self.turn_cache.forget([(agent, session_id)])
        return gone

    async def expire(
        self, older_than: timedelta | float, *, agent: str | None = None
    ) -> builtins.list[SessionInfo]:
        if agent is not None:
            validate_agent_name(agent)
        expired = await self._db.call(self._expire, cutoff_time(older_than), agent)
        self.turn_cache.forget((info.agent, info.session_id) for info in expired)
        return expired

    async def aclose(self) -> None:
        await self._db.aclose()
        self.turn_cache.clear()

    def _load(
        self, conn: sqlite3.Connection, agent: str, session_id: str, max_messages: int | None, copy: bool
    ) -> History:
        # One read transaction: the counts, the generation and the turns come from one snapshot.
        conn.execute("BEGIN")
        try:
            row = conn.execute(
                "SELECT turns, messages FROM agentdown_sessions WHERE agent = ? AND session_id = ?",
                (agent, session_id),
            ).fetchone()
            if row is None:
                return History(turns=[], version=None)
            turns = (
                [] if max_messages == 0 else self._tail(conn, agent, session_id, row[0], max_messages, copy)
            )
            turns.reverse()  # the tail comes newest first
            return History(turns=turns, version=str(row[0]), total_turns=row[0], total_messages=row[1])
        finally:
            conn.execute("COMMIT")

    def _tail(
        self,
        conn: sqlite3.Connection,
        agent: str,
        session_id: str,
        last: int,
        want: int | None,
        copy: bool,
    ) -> builtins.list[Turn]:
        """The newest turns holding ``want`` messages (all: ``None``), newest first, inside a read.

        The turns after the newest one cached are read from the database; then the cached
        ones, while the generation says no stored turn changed since they were read; then,
        from the first turn not cached, the database again (comparing each record with
        what is cached).
        """
        generation = int(conn.execute(_GENERATION).fetchone()[0])
        cached = min(self.turn_cache.top(agent, session_id, generation), last)
        out = self._read(conn, _NEWER, agent, session_id, cached, generation, want, copy)
        count = sum(len(turn.messages) for turn in out)
        if cached and (want is None or count < want):
            run = self.turn_cache.walk(agent, session_id, cached, generation, _less(want, count), copy=copy)
            out += run
            count += sum(len(turn.messages) for turn in run)
            below = cached - len(run)
            if below and (want is None or count < want):
                more = _less(want, count)
                out += self._read(conn, _UP_TO, agent, session_id, below, generation, more, copy)
        return out

    def _read(
        self,
        conn: sqlite3.Connection,
        query: str,
        agent: str,
        session_id: str,
        seq: int,
        generation: int,
        want: int | None,
        copy: bool,
    ) -> builtins.list[Turn]:
        """Turns of ``query`` (newest first) until they hold ``want`` messages, through the cache."""
        rows: builtins.list[tuple[int, str, float]] = []
        count = 0
        cursor = conn.execute(query, (agent, session_id, seq))
        for row_seq, message_count, created_at, body in cursor:
            if want is not None and count >= want:
                break
            rows.append((row_seq, body, created_at))
            count += message_count
        cursor.close()
        loaded = self.turn_cache.load(agent, session_id, rows, _decode, generation=generation, copy=copy)
        return [Turn(s, m, at, tokens) for (s, _, at), (m, tokens) in zip(rows, loaded, strict=True)]

    def _append(
        self,
        conn: sqlite3.Connection,
        agent: str,
        session_id: str,
        body: str,
        count: int,
        expected: str | None,
    ) -> str:
        with immediate(conn):
            row = conn.execute(
                "SELECT turns FROM agentdown_sessions WHERE agent = ? AND session_id = ?",
                (agent, session_id),
            ).fetchone()
            current = str(row[0]) if row is not None else None
            if current != expected:
                raise SessionConflictError(agent, session_id, expected, f"it is at {current or 'no session'}")
            seq = (row[0] if row is not None else 0) + 1
            now = time.time()
            conn.execute(
                "INSERT INTO agentdown_turns (agent, session_id, seq, message_count, created_at, body) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (agent, session_id, seq, count, now, body),
            )
            conn.execute(
                "INSERT INTO agentdown_sessions (agent, session_id, turns, messages, created_at, updated_at) "
                "VALUES (?, ?, 1, ?, ?, ?) ON CONFLICT (agent, session_id) DO UPDATE SET "
                "turns = turns + 1, messages = messages + excluded.messages, updated_at = excluded.updated_at",
                (agent, session_id, count, now, now),
            )
        return str(seq)

    def _list(self, conn: sqlite3.Connection, agent: str | None) -> builtins.list[SessionInfo]:
        where, params = ("WHERE agent = ?", (agent,)) if agent is not None else ("", ())
        rows = conn.execute(
            f"SELECT {_INFO_COLUMNS} FROM agentdown_sessions {where} ORDER BY updated_at DESC", params
        ).fetchall()
        return [SessionInfo(*row) for row in rows]

    def _delete(self, conn: sqlite3.Connection, agent: str, session_id: str) -> bool:
        with immediate(conn):
            conn.execute(
                "DELETE FROM agentdown_turns WHERE agent = ? AND session_id = ?", (agent, session_id)
            )
            gone = conn.execute(
                "DELETE FROM agentdown_sessions WHERE agent = ? AND session_id = ?", (agent, session_id)
            ).rowcount
        return gone > 0

    def _expire(
        self, conn: sqlite3.Connection, cutoff: float, agent: str | None
    ) -> builtins.list[SessionInfo]:
        # The write lock is held from the selection to the deletes: a concurrent append
        # either lands before (and the session is not selected) or after (and recreates it).
        with immediate(conn):
            where = "WHERE updated_at < ?" + (" AND agent = ?" if agent is not None else "")
            params: tuple[Any, ...] = (cutoff, agent) if agent is not None else (cutoff,)
            rows = conn.execute(f"SELECT {_INFO_COLUMNS} FROM agentdown_sessions {where}", params).fetchall()
            expired = [SessionInfo(*row) for row in rows]
            for info in expired:
                key = (info.agent, info.session_id)
                conn.execute("DELETE FROM agentdown_turns WHERE agent = ? AND session_id = ?", key)
                conn.execute("DELETE FROM agentdown_sessions WHERE agent = ? AND session_id = ?", key)
        return expired


def _less(want: int | None, count: int) -> int | None:
    return None if want is None else want - count


def _decode(body: str | bytes) -> list[Message]:
    return [Message.from_dict(m) for m in json.loads(body)]

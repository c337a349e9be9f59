"""The default Agents-API store: one SQLite table in ``<data dir>/agents.db``, shared by this machine's processes.

Why this shape:

* One table keyed ``(kind, parent, id)`` with an index on ``(kind, parent,
  order_key, id)``: a page is one index range scan in either direction, and
  ``has_more`` is exact because the scan reads one row past the page.
* The ETag is ``<row>.<version>``: the version counts the writes of the record and
  the row number (``AUTOINCREMENT``: never reused) names its incarnation, so an
  ETag read before a delete never matches a record created again under the same id.
  A replace is a single ``UPDATE ... WHERE version = ?``: compare-and-set without a
  transaction of ours, atomic across processes.
* ``where`` runs in SQL (``json_type`` / ``json_extract`` on the body), so a filtered
  page still reads only as far as it needs.
* Opening, WAL, busy waits and the one database thread come from
  :class:`~agentdown.sessions.sqlitedb.SqliteDatabase`; every SQLite error reaches
  callers as :class:`AgentsStoreError`, "busy" or "locked" after its retries as
  :class:`StoreUnavailableError` (contention: nothing was written, try again later).
"""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from agentdown.runtime.agents_api._records import (
    Scalar,
    check_key,
    check_list_args,
    check_where,
    encode_body,
)
from agentdown.runtime.agents_api.ids import order_key
from agentdown.runtime.agents_api.store import (
    AgentsStoreError,
    Create,
    ETagMismatchError,
    Order,
    Page,
    Record,
    RecordExistsError,
    StoreUnavailableError,
    Write,
)
from agentdown.sessions.sqlitedb import SqliteDatabase, immediate, is_busy

__all__ = ["SqliteAgentsStore"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS agentdown_agents_records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    parent TEXT NOT NULL,
    id TEXT NOT NULL,
    order_key TEXT NOT NULL,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (kind, parent, id)
);
CREATE INDEX IF NOT EXISTS agentdown_agents_records_order
    ON agentdown_agents_records (kind, parent, order_key, id);
"""

_TABLE = "agentdown_agents_records"


def _etag(seq: int, version: int) -> str:
    return f"{seq}.{version}"


def _parse_etag(etag: str) -> tuple[int, int] | None:
    seq, dot, version = etag.partition(".")
    if not dot or not seq.isdigit() or not version.isdigit():
        return None
    return int(seq), int(version)


def _where_sql(where: Mapping[str, Scalar]) -> tuple[list[str], list[Any]]:
    """SQL conditions comparing body keys as JSON: a type check, then the value."""
    clauses: list[str] = []
    params: list[Any] = []
    for key, value in where.items():
        path = f'$."{key}"'
        if value is None:
            clauses.append("(json_type(body, ?) IS NULL OR json_type(body, ?) = 'null')")
            params += [path, path]
        elif isinstance(value, bool):
            clauses.append("json_type(body, ?) = ?")
            params += [path, "true" if value else "false"]
        elif isinstance(value, int | float):
            clauses.append("(json_type(body, ?) IN ('integer', 'real') AND json_extract(body, ?) = ?)")
            params += [path, path, value]
        else:
            clauses.append("(json_type(body, ?) = 'text' AND json_extract(body, ?) = ?)")
            params += [path, path, value]
    return clauses, params


class SqliteAgentsStore:
    """Agents-API records in one SQLite database file (created with its folder on first use)."""

    kind = "sqlite"

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = str(path)
        """The database file (``":memory:"`` works for a single store instance)."""
        self._db = SqliteDatabase(
            self.path,
            _SCHEMA,
            AgentsStoreError,
            label="agents database",
            busy_timeout=busy_timeout,
            # A run writes a checkpoint per step: they must survive a killed worker (they do with
            # NORMAL), and a power cut that undoes the last one costs a step re-done, not the run.
            durable_commits=False,
            # Its operations are small and commit without a flush: on the event loop's thread
            # when no other connection holds the lock (see SqliteDatabase.inline).
            inline=True,
        )

    def __repr__(self) -> str:
        return f"SqliteAgentsStore({self.path!r})"

    def describe(self) -> str:
        return f"SQLite ({self.path})"

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await self._db.call(fn, *args)
        except AgentsStoreError as exc:
            if type(exc) is AgentsStoreError and exc.__cause__ is not None and is_busy(exc.__cause__):
                raise StoreUnavailableError(str(exc)) from exc.__cause__
            raise

    async def create(self, kind: str, parent: str, id: str, body: dict[str, Any]) -> Record:
        check_key(kind, parent, id)
        text = encode_body(kind, id, body)
        seq = await self._call(self._create, kind, parent, id, text)
        return Record(kind, parent, id, json.loads(text), _etag(seq, 1))

    async def get(self, kind: str, parent: str, id: str) -> Record | None:
        check_key(kind, parent, id)
        return await self._call(self._get, kind, parent, id)

    async def replace(self, record: Record, body: dict[str, Any]) -> Record:
        check_key(record.kind, record.parent, record.id)
        text = encode_body(record.kind, record.id, body)
        parsed = _parse_etag(record.etag)
        if parsed is None:
            raise ETagMismatchError(
                f"{record.kind} {record.id}: {record.etag!r} is not an ETag of this store"
            )
        seq, version = parsed
        await self._call(self._replace, record, seq, version, text)
        return Record(record.kind, record.parent, record.id, json.loads(text), _etag(seq, version + 1))

    async def write(self, ops: Sequence[Write]) -> builtins.list[Record]:
        prepared: builtins.list[tuple[Write, str, tuple[int, int] | None]] = []
        for op in ops:
            if isinstance(op, Create):
                check_key(op.kind, op.parent, op.id)
                prepared.append((op, encode_body(op.kind, op.id, op.body), None))
            else:
                record = op.record
                check_key(record.kind, record.parent, record.id)
                parsed = _parse_etag(record.etag)
                if parsed is None:
                    raise ETagMismatchError(
                        f"{record.kind} {record.id}: {record.etag!r} is not an ETag of this store"
                    )
                prepared.append((op, encode_body(record.kind, record.id, op.body), parsed))
        return await self._call(self._write, prepared)

    async def delete(self, kind: str, parent: str, id: str) -> bool:
        check_key(kind, parent, id)
        return await self._call(self._delete, kind, parent, id)

    async def delete_children(self, kind: str, parent: str) -> int:
        check_key(kind, parent, "-")
        return await self._call(self._delete_children, kind, parent)

    async def list(
        self,
        kind: str,
        parent: str,
        *,
        limit: int,
        order: Order = "desc",
        after: str | None = None,
        before: str | None = None,
        where: Mapping[str, Any] | None = None,
    ) -> Page:
        check_key(kind, parent, "-")
        check_list_args(limit, order)
        filters = check_where(where)
        return await self._call(self._list, kind, parent, limit, order, after, before, filters)

    async def aclose(self) -> None:
        await self._db.aclose()

    # On the database thread.

    def _create(self, conn: sqlite3.Connection, kind: str, parent: str, id: str, text: str) -> int:
        cursor = conn.execute(
            f"INSERT INTO {_TABLE} (kind, parent, id, order_key, version, body) VALUES (?, ?, ?, ?, 1, ?) "
            "ON CONFLICT (kind, parent, id) DO NOTHING",
            (kind, parent, id, order_key(id), text),
        )
        if cursor.rowcount == 0:
            raise RecordExistsError(f"{kind} {id} already exists" + (f" under {parent}" if parent else ""))
        return int(cursor.lastrowid or 0)

    def _get(self, conn: sqlite3.Connection, kind: str, parent: str, id: str) -> Record | None:
        row = conn.execute(
            f"SELECT seq, version, body FROM {_TABLE} WHERE kind = ? AND parent = ? AND id = ?",
            (kind, parent, id),
        ).fetchone()
        if row is None:
            return None
        return Record(kind, parent, id, json.loads(row[2]), _etag(row[0], row[1]))

    def _replace(self, conn: sqlite3.Connection, record: Record, seq: int, version: int, text: str) -> None:
        cursor = conn.execute(
            f"UPDATE {_TABLE} SET body = ?, version = version + 1 "
            "WHERE seq = ? AND version = ? AND kind = ? AND parent = ? AND id = ?",
            (text, seq, version, record.kind, record.parent, record.id),
        )
        if cursor.rowcount == 0:
            raise ETagMismatchError(
                f"{record.kind} {record.id} changed or was deleted since it was read (ETag {record.etag})"
            )

    def _write(
        self, conn: sqlite3.Connection, prepared: builtins.list[tuple[Write, str, tuple[int, int] | None]]
    ) -> builtins.list[Record]:
        done: builtins.list[Record] = []
        with immediate(conn):
            for op, text, etag in prepared:
                if isinstance(op, Create):
                    seq = self._create(conn, op.kind, op.parent, op.id, text)
                    done.append(Record(op.kind, op.parent, op.id, json.loads(text), _etag(seq, 1)))
                else:
                    assert etag is not None
                    seq, version = etag
                    self._replace(conn, op.record, seq, version, text)
                    r = op.record
                    done.append(Record(r.kind, r.parent, r.id, json.loads(text), _etag(seq, version + 1)))
        return done

    def _delete(self, conn: sqlite3.Connection, kind: str, parent: str, id: str) -> bool:
        cursor = conn.execute(
            f"DELETE FROM {_TABLE} WHERE kind = ? AND parent = ? AND id = ?", (kind, parent, id)
        )
        return cursor.rowcount > 0

    def _delete_children(self, conn: sqlite3.Connection, kind: str, parent: str) -> int:
        cursor = conn.execute(f"DELETE FROM {_TABLE} WHERE kind = ? AND parent = ?", (kind, parent))
        return cursor.rowcount

    def _list(
        self,
        conn: sqlite3.Connection,
        kind: str,
        parent: str,
        limit: int,
        order: Order,
        after: str | None,
        before: str | None,
        where: Mapping[str, Scalar],
    ) -> Page:
        # In ``desc`` order "after" a cursor means an older key: the comparison flips with the order.
        later, earlier = (">", "<") if order == "asc" else ("<", ">")
        clauses = ["kind = ?", "parent = ?"]
        params: builtins.list[Any] = [kind, parent]
        if after is not None:
            clauses.append(f"(order_key, id) {later} (?, ?)")
            params += [order_key(after), after]
        if before is not None:
            clauses.append(f"(order_key, id) {earlier} (?, ?)")
            params += [order_key(before), before]
        where_clauses, where_params = _where_sql(where)
        clauses += where_clauses
        params += where_params
        # ``before`` alone pages backwards: the records just before the cursor, read
        # from it outwards, then put back in the requested order.
        backwards = before is not None and after is None
        ascending = (order == "asc") != backwards
        direction = "ASC" if ascending else "DESC"
        rows = conn.execute(
            f"SELECT id, seq, version, body FROM {_TABLE} WHERE {' AND '.join(clauses)} "
            f"ORDER BY order_key {direction}, id {direction} LIMIT ?",
            (*params, limit + 1),
        ).fetchall()
        has_more = len(rows) > limit
        rows = rows[:limit]
        if backwards:
            rows.reverse()
        records = [Record(kind, parent, r[0], json.loads(r[3]), _etag(r[1], r[2])) for r in rows]
        return Page(records=records, has_more=has_more)

"""An in-memory :class:`AgentsStore` for these tests (the real stores have their own contract suite)."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from agentdown.runtime.agents_api.ids import order_key
from agentdown.runtime.agents_api.store import (
    AgentsStoreError,
    ETagMismatchError,
    Order,
    Page,
    Record,
    RecordExistsError,
    Write,
    write_each,
)


class MemoryAgentsStore:
    """Records in a dict; ``fail`` makes every call raise :class:`AgentsStoreError` (an outage),
    ``explode`` an unexpected error whose message must never reach a client."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str, str], Record] = {}
        self._etags = itertools.count(1)
        self.fail = False
        self.explode = False
        self.closed = False

    def describe(self) -> str:
        return "memory"

    def _check(self) -> None:
        if self.fail:
            raise AgentsStoreError("the test store is down")
        if self.explode:
            raise RuntimeError("secret internals at /srv/db")

    def _record(self, kind: str, parent: str, id: str, body: dict[str, Any]) -> Record:
        return Record(kind, parent, id, copy.deepcopy(body), str(next(self._etags)))

    async def create(self, kind: str, parent: str, id: str, body: dict[str, Any]) -> Record:
        self._check()
        if (kind, parent, id) in self.records:
            raise RecordExistsError(f"{kind} {id} exists")
        record = self._record(kind, parent, id, body)
        self.records[kind, parent, id] = record
        return record

    async def get(self, kind: str, parent: str, id: str) -> Record | None:
        self._check()
        record = self.records.get((kind, parent, id))
        return None if record is None else Record(kind, parent, id, copy.deepcopy(record.body), record.etag)

    async def replace(self, record: Record, body: dict[str, Any]) -> Record:
        self._check()
        current = self.records.get((record.kind, record.parent, record.id))
        if current is None or current.etag != record.etag:
            raise ETagMismatchError(f"{record.kind} {record.id} changed")
        new = self._record(record.kind, record.parent, record.id, body)
        self.records[record.kind, record.parent, record.id] = new
        return new

    async def write(self, ops: Sequence[Write]) -> list[Record]:
        return await write_each(self, ops)

    async def delete(self, kind: str, parent: str, id: str) -> bool:
        self._check()
        return self.records.pop((kind, parent, id), None) is not None

    async def delete_children(self, kind: str, parent: str) -> int:
        self._check()
        keys = [k for k in self.records if k[0] == kind and k[1] == parent]
        for key in keys:
            del self.records[key]
        return len(keys)

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
        self._check()
        rows = [r for (k, p, _), r in self.records.items() if k == kind and p == parent]
        rows = [r for r in rows if all(r.body.get(key) == value for key, value in (where or {}).items())]
        rows.sort(key=lambda r: order_key(r.id), reverse=order == "desc")

        def later(a: str, b: str) -> bool:  # a comes after b in the requested order
            return order_key(a) > order_key(b) if order == "asc" else order_key(a) < order_key(b)

        if after is not None:
            rows = [r for r in rows if later(r.id, after)]
        if before is not None:
            rows = [r for r in rows if later(before, r.id)]
        page = [Record(r.kind, r.parent, r.id, copy.deepcopy(r.body), r.etag) for r in rows[:limit]]
        return Page(page, len(rows) > limit)

    async def aclose(self) -> None:
        self.closed = True

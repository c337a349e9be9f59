"""The record store behind the Agents API: JSON documents with ETags, listed in creation order.

Every resource of the API (assistants, threads, messages, runs, run steps, files,
vector stores...) is a :class:`Record`: a ``kind``, the ``parent`` it lives under
(``""`` for top-level kinds, the thread id for messages and runs, the run id for
steps), its id and its body. The body is the object the API serves, plus private
keys starting with ``_`` that are never served (a run's signed state, its lease).

Writes are optimistic: :meth:`AgentsStore.replace` names the ETag it read and fails
with :class:`ETagMismatchError` when another writer got there first, so two workers
never both take a run, and a run's status never goes backwards. :func:`mutate` is
the read-modify-write loop on top of it.

Backends: SQLite in the data dir (:mod:`.sqlite_store`, the default) and Azure Table
Storage with large bodies in Blob Storage (:mod:`.table_store`); one contract suite
(``tests/runtime/agents_api/test_store_contract.py``) runs over both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from agentdown.runtime.queues.base import StorageError

__all__ = [
    "MAX_BODY_BYTES",
    "AgentsStore",
    "AgentsStoreError",
    "Create",
    "ETagMismatchError",
    "Order",
    "Page",
    "Record",
    "RecordExistsError",
    "Replace",
    "StoreUnavailableError",
    "Write",
    "mutate",
    "public",
    "write_each",
]

Order = Literal["asc", "desc"]

MAX_BODY_BYTES = 16 * 1024 * 1024
"""The largest body (UTF-8 JSON) a store must keep; larger ones are refused with :class:`AgentsStoreError`."""


class AgentsStoreError(StorageError):
    """The store failed or is unavailable (the API answers 503 with ``Retry-After``)."""


class ETagMismatchError(AgentsStoreError):
    """The record changed (or was deleted) since it was read: read it again and retry."""


class RecordExistsError(AgentsStoreError):
    """A record with this kind, parent and id already exists."""


class StoreUnavailableError(AgentsStoreError):
    """The storage stayed unreachable or busy through the store's own retries: try again later.

    Nothing is known to be wrong with the operation; a run that meets it is left for
    redelivery, never ended ``failed`` (its record may not have reached storage).
    """


@dataclass(frozen=True, slots=True)
class Record:
    kind: str
    """``assistant``, ``thread``, ``message``, ``run``, ``step``, ``file``, ``vector_store``, ..."""
    parent: str
    """The id of the record this one lives under; ``""`` for top-level kinds."""
    id: str
    body: dict[str, Any]
    """A JSON object. Keys starting with ``_`` are private: kept, never served."""
    etag: str
    """Changes on every write; :meth:`AgentsStore.replace` requires the current one."""


@dataclass(frozen=True, slots=True)
class Page:
    records: list[Record]
    has_more: bool
    """More records lie beyond this page in the direction of paging: after its last record,
    or, for a page asked for with ``before`` alone, before its first one."""


@dataclass(frozen=True, slots=True)
class Create:
    """A record to add (:meth:`AgentsStore.write`)."""

    kind: str
    parent: str
    id: str
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Replace:
    """A record to overwrite at its ETag (:meth:`AgentsStore.write`)."""

    record: Record
    body: dict[str, Any]


Write = Create | Replace


async def write_each(store: AgentsStore, ops: Sequence[Write]) -> list[Record]:
    """:meth:`AgentsStore.write` one operation after another (for stores with no transactions across records)."""
    done: list[Record] = []
    for op in ops:
        if isinstance(op, Create):
            done.append(await store.create(op.kind, op.parent, op.id, op.body))
        else:
            done.append(await store.replace(op.record, op.body))
    return done


@runtime_checkable
class AgentsStore(Protocol):
    """Records by ``(kind, parent, id)``, listed by id order (ids sort by creation: :mod:`.ids`)."""

    def describe(self) -> str:
        """Where the records are, for logs (no secrets)."""
        ...

    async def create(self, kind: str, parent: str, id: str, body: dict[str, Any]) -> Record:
        """Add a record; :class:`RecordExistsError` if ``(kind, parent, id)`` exists."""
        ...

    async def get(self, kind: str, parent: str, id: str) -> Record | None: ...

    async def replace(self, record: Record, body: dict[str, Any]) -> Record:
        """Write ``body`` over ``record`` if its ETag is still current, else :class:`ETagMismatchError`."""
        ...

    async def write(self, ops: Sequence[Write]) -> list[Record]:
        """Several creates and replaces in one round trip, in order; the records written.

        SQLite applies them in one transaction (all or none). Azure Tables cannot span
        partitions in one transaction, so it applies them in order and a failure leaves
        the earlier ones written: callers batch only writes that are each safe on their own.
        """
        ...

    async def delete(self, kind: str, parent: str, id: str) -> bool:
        """Remove a record; ``False`` when there was none."""
        ...

    async def delete_children(self, kind: str, parent: str) -> int:
        """Remove every record of ``kind`` under ``parent`` (a deleted thread's messages); how many."""
        ...

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
        """Up to ``limit`` records of ``kind`` under ``parent`` in id order (``desc``: newest first).

        ``after`` / ``before`` are exclusive cursors (record ids) in that order; ``where``
        keeps records whose body has each key equal to the value (``{"run_id": ...}``),
        compared as JSON (``True`` is not ``1``; a missing key equals ``None``).

        With ``before`` alone the page is the ``limit`` records just before the cursor
        (the previous page, still in the requested order); otherwise it is the first
        ``limit`` records after ``after`` (or from the start), ending before ``before``.
        ``has_more`` is exact in both cases, with ``where`` too.
        """
        ...

    async def aclose(self) -> None: ...


async def mutate(
    store: AgentsStore,
    kind: str,
    parent: str,
    id: str,
    change: Callable[[dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any] | None] | None],
    *,
    attempts: int = 20,
) -> Record | None:
    """Read, change, write back, again on an ETag conflict; ``None`` if the record does not exist.

    ``change`` gets a copy of the body and returns the new body, or ``None`` to leave
    the record as it is (the record read is returned then).
    """
    import asyncio
    import copy
    import inspect
    import random

    for attempt in range(attempts):
        record = await store.get(kind, parent, id)
        if record is None:
            return None
        outcome = change(copy.deepcopy(record.body))
        new_body = await outcome if inspect.isawaitable(outcome) else outcome
        if new_body is None:
            return record
        try:
            return await store.replace(record, new_body)
        except ETagMismatchError:
            # Full jitter: writers that collided do not all come back at once and collide
            # again (without it, 20 writers in lockstep need every one of 20 attempts).
            await asyncio.sleep(random.uniform(0, min(0.002 * 2**attempt, 0.1)))
    raise ETagMismatchError(f"{kind} {id}: too many concurrent writers ({attempts} attempts)")


def public(body: Mapping[str, Any]) -> dict[str, Any]:
    """The served part of a body: without private (``_``) keys and without nulls."""
    # On every answer that carries a record: the cheaper test first, no method call per key.
    return {k: v for k, v in body.items() if v is not None and k[:1] != "_"}

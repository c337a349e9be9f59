"""Writing a record another worker may also write: compare-and-set under a lease, retried.

Runs and store files are each executed by the worker whose ``_lease`` is in the
record. Every write of that worker is at the ETag it holds; on a conflict (a cancel
request, usually) it reads the record again, checks the lease is still its own and
applies its change on top. It stops with :class:`LeaseLost` as soon as the record
is gone or no longer its own: its result must not be kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from agentdown.runtime.agents_api.store import AgentsStore, ETagMismatchError, Record

__all__ = ["LeaseLost", "write_leased"]

_ATTEMPTS = 50


class LeaseLost(Exception):
    """The record was deleted, finished or taken over by another worker: stop without writing."""


async def write_leased(
    store: AgentsStore,
    record: Record,
    build: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    lost: Callable[[dict[str, Any]], str | None],
    replace: Callable[[Record, dict[str, Any], int], Awaitable[Record]] | None = None,
) -> Record:
    """Write ``build(body)`` over ``record`` at its ETag, re-reading on conflicts; the record written.

    ``lost(body)`` says why the body is no longer ours (``None``: it is), checked before
    each attempt. ``replace(record, body, attempt)`` does the write when given (to put
    other records in the same round trip); ``store.replace`` otherwise.
    """
    for attempt in range(_ATTEMPTS):
        reason = lost(record.body)
        if reason is not None:
            raise LeaseLost(reason)
        try:
            body = build(record.body)
            if replace is not None:
                return await replace(record, body, attempt)
            return await store.replace(record, body)
        except ETagMismatchError:
            fresh = await store.get(record.kind, record.parent, record.id)
            if fresh is None:
                raise LeaseLost(f"{record.kind} {record.id} was deleted") from None
            record = fresh
            await asyncio.sleep(min(0.001 * 2**attempt, 0.05))
    raise LeaseLost(f"{record.kind} {record.id}: could not write it after {_ATTEMPTS} attempts")

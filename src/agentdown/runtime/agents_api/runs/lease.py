"""Who executes a run: a lease in the run record, taken and renewed with compare-and-set.

A worker takes a run by writing ``_lease = {"owner", "until"}`` at the ETag it read;
a second worker reading the same version loses the race (:class:`ETagMismatchError`)
and, reading again, sees a live lease and leaves the run alone. So a run is never
executed twice at once, on one machine or many. A worker that dies stops renewing;
once ``until`` has passed, the next worker to receive the run's job takes it over
and continues from the last checkpoint.

Every write of the executor goes through :meth:`Lease.update`: it writes at the
ETag it holds (one store round trip), and on a conflict (a cancel request, usually)
reads again, checks the lease is still its own and applies its change on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from agentdown import telemetry
from agentdown.runtime.agents_api.leased import LeaseLost, write_leased
from agentdown.runtime.agents_api.objects import now
from agentdown.runtime.agents_api.runs.schemas import TERMINAL
from agentdown.runtime.agents_api.store import (
    AgentsStore,
    Create,
    ETagMismatchError,
    Record,
    RecordExistsError,
    Replace,
    StoreUnavailableError,
)

__all__ = ["Lease", "LeaseLost", "acquire"]

logger = logging.getLogger("agentdown.agents_api")


def _merge(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    merged = dict(body)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


class Lease:
    def __init__(self, store: AgentsStore, record: Record, owner: str, seconds: float) -> None:
        self.store = store
        self.record = record
        self.owner = owner
        self.seconds = seconds
        self._lock = asyncio.Lock()

    @property
    def body(self) -> dict[str, Any]:
        return self.record.body

    def _stamp(self) -> dict[str, Any]:
        return {"owner": self.owner, "until": time.time() + self.seconds}

    async def update(self, **changes: Any) -> dict[str, Any]:
        """Write ``changes`` (``None`` removes a key) and extend the lease; the new body."""
        async with self._lock:
            return await self._write({**changes, "_lease": self._stamp()})

    async def release(self, before: Sequence[Create] = (), **changes: Any) -> dict[str, Any]:
        """The last write: ``changes`` and no lease (the run is paused or ended).

        ``before`` are records the run writes with it (its answer), in the same store
        round trip while the lease is still ours.
        """
        async with self._lock:
            return await self._write({**changes, "_lease": None}, before)

    async def _write(self, changes: dict[str, Any], before: Sequence[Create] = ()) -> dict[str, Any]:
        async def replace(record: Record, body: dict[str, Any], attempt: int) -> Record:
            if not before:
                return await self.store.replace(record, body)
            if attempt == 0:
                return (await self.store.write([*before, Replace(record, body)]))[-1]
            # After a conflict, with the lease still ours: a store without transactions
            # across records may have written some of them in the failed batch.
            await _create_missing(self.store, before)
            return await self.store.replace(record, body)

        def lost(body: dict[str, Any]) -> str | None:
            owner = (body.get("_lease") or {}).get("owner")
            return None if owner == self.owner else f"run {self.record.id} is now executed by {owner!r}"

        self.record = await write_leased(
            self.store, self.record, lambda body: _merge(body, changes), lost=lost, replace=replace
        )
        return self.record.body

    async def keep_alive(self) -> None:
        """Renew the lease until cancelled (run it as a task beside the execution).

        A renewal that storage refused is tried again at the next beat: the lease lasts
        three of them, and a keeper that stopped would hand a live run to another worker.
        """
        while True:
            await asyncio.sleep(self.seconds / 3)
            try:
                await self.update()
            except StoreUnavailableError as exc:
                logger.warning("run %s: renewing its lease failed (%s); trying again", self.record.id, exc)
                continue
            telemetry.count_lease_renewal("agents_api.run")


async def _create_missing(store: AgentsStore, creates: Sequence[Create]) -> None:
    for op in creates:
        with contextlib.suppress(RecordExistsError):  # written by the failed batch: ids are fresh
            await store.create(op.kind, op.parent, op.id, op.body)


async def acquire(
    store: AgentsStore, thread_id: str, run_id: str, owner: str, seconds: float
) -> Lease | None:
    """Take the run if it is runnable and nobody else holds it; ``None`` otherwise."""
    for attempt in range(50):
        record = await store.get("run", thread_id, run_id)
        if record is None:
            return None
        body = record.body
        status = body.get("status")
        if status in TERMINAL:
            return None
        if status == "requires_action" and body.get("_tool_outputs") is None:
            return None  # paused: waits for the caller
        lease = body.get("_lease")
        if lease and lease.get("owner") != owner and float(lease.get("until", 0)) > time.time():
            return None
        changes: dict[str, Any] = {"_lease": {"owner": owner, "until": time.time() + seconds}}
        if status in ("queued", "requires_action"):
            changes["status"] = "in_progress"
        if status == "requires_action":
            changes["required_action"] = None
        if body.get("started_at") is None:
            changes["started_at"] = now()
        try:
            record = await store.replace(record, _merge(body, changes))
        except ETagMismatchError:
            await asyncio.sleep(min(0.001 * 2**attempt, 0.05))
            continue
        return Lease(store, record, owner, seconds)
    return None

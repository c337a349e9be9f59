"""Who ingests a store file: a lease in its record, taken and renewed with compare-and-set.

As for runs (``runs/lease.py``): a worker writes ``_lease = {"owner", "until"}`` at
the ETag it read, so two workers never ingest one file at once; a worker that dies
stops renewing and, once ``until`` has passed, the file's job (back on the queue
after its visibility timeout) brings it to another worker. Only a file still
``in_progress`` can be taken: a finished file is never ingested again.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Literal

from agentdown.runtime.agents_api.leased import LeaseLost, write_leased
from agentdown.runtime.agents_api.store import AgentsStore, ETagMismatchError, Record

__all__ = ["FileLease", "LeaseLost", "Taken", "take"]


@dataclass(frozen=True, slots=True)
class Taken:
    outcome: Literal["taken", "done", "busy"]
    """``taken``: ours now; ``done``: nothing left to do (finished, cancelled, gone); ``busy``: a live lease."""
    lease: FileLease | None = None


class FileLease:
    def __init__(self, store: AgentsStore, record: Record, owner: str, seconds: float) -> None:
        self.store = store
        self.record = record
        self.owner = owner
        self.seconds = seconds
        self._lock = asyncio.Lock()

    @property
    def body(self) -> dict[str, Any]:
        return self.record.body

    async def renew(self) -> None:
        await self._write({"_lease": {"owner": self.owner, "until": time.time() + self.seconds}})

    async def finish(self, **changes: Any) -> dict[str, Any]:
        """The last write (``status`` and the result), if the file is still ours and in progress."""
        return await self._write({**changes, "_lease": None})

    async def _write(self, changes: dict[str, Any]) -> dict[str, Any]:
        def lost(body: dict[str, Any]) -> str | None:
            owner = (body.get("_lease") or {}).get("owner")
            if body.get("status") == "in_progress" and owner == self.owner:
                return None
            return f"store file {self.record.id} is {body.get('status')}, held by {owner!r}"

        def build(body: dict[str, Any]) -> dict[str, Any]:
            return {k: v for k, v in {**body, **changes}.items() if not (k == "_lease" and v is None)}

        async with self._lock:
            self.record = await write_leased(self.store, self.record, build, lost=lost)
            return self.record.body

    async def keep_alive(self) -> None:
        """Renew the lease until cancelled (run it as a task beside the ingestion)."""
        while True:
            await asyncio.sleep(self.seconds / 3)
            await self.renew()


async def take(store: AgentsStore, kind: str, parent: str, id: str, owner: str, seconds: float) -> Taken:
    for attempt in range(50):
        record = await store.get(kind, parent, id)
        if record is None or record.body.get("status") != "in_progress":
            return Taken("done")
        lease = record.body.get("_lease")
        if lease and lease.get("owner") != owner and float(lease.get("until", 0)) > time.time():
            return Taken("busy")
        body = {**record.body, "_lease": {"owner": owner, "until": time.time() + seconds}}
        try:
            record = await store.replace(record, body)
        except ETagMismatchError:
            await asyncio.sleep(min(0.001 * 2**attempt, 0.05))
            continue
        return Taken("taken", FileLease(store, record, owner, seconds))
    return Taken("busy")

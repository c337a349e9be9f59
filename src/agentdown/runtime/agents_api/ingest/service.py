"""Ingestion as durable jobs: one job per store file on the ``agentdown-ingest`` queue.

The queue is on the same queue service as the runs (the embedded SQLite queue, or
Azure Storage queues when the Agents API's connection names an account), and it is
consumed by the same processes: ``agentdown serve`` and every ``agentdown worker``
(the run host starts this service beside the run service). A job is
``{"vector_store_id", "file_id"}``; the consumer takes the store file's lease
(:mod:`.lease`), ingests it (:mod:`.job`) while keeping both the lease and the job
hidden, and deletes the job once the file is finished. A worker that dies leaves
both to expire, and the job brings the file to the next worker. A finished file is
never ingested again (a job for it is dropped), so a job delivered twice is harmless.

A file whose ingestion fails unexpectedly (not a parse error: the embeddings
endpoint down, say) is retried with the job; after ``max_attempts`` deliveries it
is ``failed`` with a ``server_error``.

The service also sweeps every ``sweep_seconds``: expired vector stores are marked
``expired``, and a file still ``in_progress`` with no live lease whose job was sent
more than ``requeue_seconds`` ago (its job was lost: the queue was down when the file
was added, say) gets a new job. A duplicate job is harmless (see above).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentdown.models.env import positive_int, positive_seconds
from agentdown.runtime.agents_api.ingest.job import ingest_store_file, server_error
from agentdown.runtime.agents_api.ingest.lease import LeaseLost, take
from agentdown.runtime.agents_api.store import AgentsStore, ETagMismatchError, Record, mutate
from agentdown.runtime.agents_api.vector_stores import FILE_KIND, STORE_KIND, move_counts
from agentdown.runtime.queues.base import MessageQueue, QueueMessage, QueueMessageLostError
from agentdown.runtime.queues.consumer import JobLoop

if TYPE_CHECKING:
    from agentdown.runtime.agents_api.context import AgentsApi

__all__ = ["INGEST_QUEUE", "IngestService", "IngestSettings"]

logger = logging.getLogger("agentdown.agents_api")

INGEST_QUEUE = "agentdown-ingest"


@dataclass(frozen=True, slots=True)
class IngestSettings:
    lease_seconds: float = 30.0
    """How long a worker holds a file without renewing (``AGENTDOWN_INGEST_LEASE_SECONDS``)."""
    concurrency: int = 2
    """Files one process ingests at once (``AGENTDOWN_INGEST_CONCURRENCY``)."""
    poll_seconds: float = 1.0
    """How often an idle consumer asks the queue (``AGENTDOWN_INGEST_POLL_SECONDS``)."""
    sweep_seconds: float = 600.0
    """How often expired vector stores are marked (``AGENTDOWN_VECTOR_STORE_SWEEP_SECONDS``)."""
    max_attempts: int = 5
    """Deliveries of a job before its file fails (``AGENTDOWN_INGEST_MAX_ATTEMPTS``)."""
    requeue_seconds: float = 900.0
    """A file waiting this long with no worker gets a new job (``AGENTDOWN_INGEST_REQUEUE_SECONDS``)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> IngestSettings:
        env = os.environ if environ is None else environ
        d = cls()
        return cls(
            lease_seconds=positive_seconds(env, "AGENTDOWN_INGEST_LEASE_SECONDS", d.lease_seconds),
            concurrency=positive_int(env, "AGENTDOWN_INGEST_CONCURRENCY") or d.concurrency,
            poll_seconds=positive_seconds(env, "AGENTDOWN_INGEST_POLL_SECONDS", d.poll_seconds),
            sweep_seconds=positive_seconds(env, "AGENTDOWN_VECTOR_STORE_SWEEP_SECONDS", d.sweep_seconds),
            max_attempts=positive_int(env, "AGENTDOWN_INGEST_MAX_ATTEMPTS") or d.max_attempts,
            requeue_seconds=positive_seconds(env, "AGENTDOWN_INGEST_REQUEUE_SECONDS", d.requeue_seconds),
        )


class IngestService:
    """Puts store files on the ingestion queue, and ingests the queue's files."""

    def __init__(self, api: AgentsApi, queue: MessageQueue, settings: IngestSettings | None = None) -> None:
        self.api = api
        self.queue = queue
        self.settings = settings or IngestSettings.from_env(api.environ)
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"
        self._jobs = JobLoop(
            queue,
            self._handle_job,
            label="ingest",
            concurrency=self.settings.concurrency,
            visibility_seconds=self.settings.lease_seconds,
            poll_seconds=self.settings.poll_seconds,
        )
        self._sweeper: asyncio.Task[None] | None = None
        api.ingest = self

    async def start(self, *, consume: bool = True) -> None:
        await self.queue.create()
        if consume:
            self._jobs.start("agentdown-ingest-consumer")
            self._sweeper = asyncio.create_task(self._sweep(), name="agentdown-vector-store-sweep")

    async def aclose(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(BaseException):
                await self._sweeper
            self._sweeper = None
        await self._jobs.aclose()
        if self.api.ingest is self:
            self.api.ingest = None
        # What ingestion opened (``agentdown worker`` closes only the store after this).
        await self.api.close_knowledge()

    async def handle_delivered(self, message: QueueMessage) -> None:
        """Ingest the file a host-delivered job names (Azure Functions); see :meth:`JobLoop.handle_delivered`."""
        await self._jobs.handle_delivered(message)

    async def enqueue(self, store_id: str, file_id: str) -> None:
        await self.queue.send(json.dumps({"vector_store_id": store_id, "file_id": file_id}))
        self._jobs.wake()

    # --- consuming ------------------------------------------------------------------------

    async def _handle_job(self, message: QueueMessage) -> None:
        try:
            job = json.loads(message.text or "")
            store_id, file_id = str(job["vector_store_id"]), str(job["file_id"])
        except (ValueError, KeyError, TypeError):
            logger.warning("ingest queue: dropping a message that is not an ingest job: %.100r", message.text)
            await self._delete(message)
            return
        store = self.api.store
        taken = await take(store, FILE_KIND, store_id, file_id, self.owner, self.settings.lease_seconds)
        if taken.outcome == "done":
            await self._delete(message)
            return
        if taken.lease is None:
            # A live worker has it: the job comes back after a lease. Hidden again explicitly, as
            # a host that received it for us (Azure Functions) would otherwise delete it on return.
            await self._hide(message)
            return
        lease = taken.lease
        if message.dequeue_count > self.settings.max_attempts:
            with contextlib.suppress(LeaseLost):
                error = f"ingestion failed {message.dequeue_count - 1} times; see the server log"
                await lease.finish(status="failed", last_error=server_error(error))
                await move_counts(store, store_id, [("in_progress", "failed", 0)])
            await self._delete(message)
            return
        hidden = asyncio.create_task(self._keep_hidden(message))
        try:
            await ingest_store_file(self.api, lease)
        finally:
            hidden.cancel()
            with contextlib.suppress(BaseException):
                message = await hidden
        await self._delete(message)

    async def _keep_hidden(self, message: QueueMessage) -> QueueMessage:
        while True:
            try:
                await asyncio.sleep(self.settings.lease_seconds / 3)
                message = await self.queue.update_visibility(message, self.settings.lease_seconds)
            except asyncio.CancelledError:
                return message

    async def _hide(self, message: QueueMessage) -> None:
        with contextlib.suppress(QueueMessageLostError):
            await self.queue.update_visibility(message, self.settings.lease_seconds)

    async def _delete(self, message: QueueMessage) -> None:
        with contextlib.suppress(QueueMessageLostError):
            await self.queue.delete(message)

    async def _sweep(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except Exception as exc:
                logger.warning("vector store sweep failed: %s: %s", type(exc).__name__, exc)
            await asyncio.sleep(self.settings.sweep_seconds)

    async def sweep_once(self) -> None:
        """One sweep: expired vector stores marked, orphaned files requeued (a timer function on Azure Functions)."""
        await self.api.vector_stores().sweep()
        await self.requeue_orphans()

    async def requeue_orphans(self) -> int:
        """New jobs for files in progress that no worker holds and whose job is overdue; how many."""
        store = self.api.store
        requeued = 0
        due = time.time() - self.settings.requeue_seconds
        async for vector_store in _all(store, STORE_KIND, "", {"status": "in_progress"}):
            async for file in _all(store, FILE_KIND, vector_store.id, {"status": "in_progress"}):
                lease = file.body.get("_lease") or {}
                if (
                    float(lease.get("until", 0)) > time.time()
                    or float(file.body.get("_queued_at") or 0) > due
                ):
                    continue

                claimed: list[bool] = []

                def change(body: dict[str, Any], claimed: list[bool] = claimed) -> dict[str, Any] | None:
                    claimed.clear()
                    if body.get("status") != "in_progress" or float(body.get("_queued_at") or 0) > due:
                        return None
                    claimed.append(True)
                    return {**body, "_queued_at": time.time()}

                with contextlib.suppress(ETagMismatchError):
                    if (
                        await mutate(store, FILE_KIND, vector_store.id, file.id, change) is not None
                        and claimed
                    ):
                        await self.enqueue(vector_store.id, file.id)
                        requeued += 1
        if requeued:
            logger.info("ingest: %d files had lost their job and were queued again", requeued)
        return requeued


async def _all(store: AgentsStore, kind: str, parent: str, where: Mapping[str, Any]) -> AsyncIterator[Record]:
    after: str | None = None
    while True:
        page = await store.list(kind, parent, limit=100, order="asc", after=after, where=where)
        for record in page.records:
            yield record
        if not page.has_more or not page.records:
            return
        after = page.records[-1].id

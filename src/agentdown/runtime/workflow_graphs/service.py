"""The graph service of one process: the engine, its storages and the consumer of the steps queue.

Started beside the Agents-API run service (:class:`~agentdown.runtime.agents_api.runs.host.RunHost`)
by ``agentdown serve`` and ``agentdown worker``, on the same storage account: records in the
Agents-API store, checkpoints in the matching checkpoint storage (records of the SQLite
store itself, or blobs in the Azure store's container), jobs on ``agentdown-workflow-steps``
(``AGENTDOWN_WORKFLOW_STEPS_QUEUE``). Settings: ``AGENTDOWN_WORKFLOW_STEP_VISIBILITY_SECONDS``
(30: a job's lease, renewed while it runs), ``AGENTDOWN_WORKFLOW_STEP_CONCURRENCY`` (16),
``AGENTDOWN_WORKFLOW_STEP_POLL_SECONDS`` (1).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentdown.app.workflow_graphs import WorkflowGraph
from agentdown.models.env import positive_int, positive_seconds
from agentdown.runtime.agents_api.config import AgentsStoreSettings, agents_store_settings
from agentdown.runtime.agents_api.store import AgentsStore
from agentdown.runtime.queues.base import MessageQueue, QueueMessage, QueueMessageLostError
from agentdown.runtime.queues.consumer import JobLoop
from agentdown.runtime.workflow_graphs.engine import GraphEngine

__all__ = ["STEPS_QUEUE", "GraphService", "GraphSettings", "open_checkpoints"]

logger = logging.getLogger("agentdown.workflow_graphs")

STEPS_QUEUE = "agentdown-workflow-steps"
MAX_EARLY = 40
"""Deliveries a job may arrive before its step is recorded; then it is dropped (its step never landed)."""


@dataclass(frozen=True, slots=True)
class GraphSettings:
    visibility_seconds: float = 30.0
    concurrency: int = 16
    poll_seconds: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GraphSettings:
        env = os.environ if environ is None else environ
        d = cls()
        return cls(
            visibility_seconds=positive_seconds(
                env, "AGENTDOWN_WORKFLOW_STEP_VISIBILITY_SECONDS", d.visibility_seconds
            ),
            concurrency=positive_int(env, "AGENTDOWN_WORKFLOW_STEP_CONCURRENCY") or d.concurrency,
            poll_seconds=positive_seconds(env, "AGENTDOWN_WORKFLOW_STEP_POLL_SECONDS", d.poll_seconds),
        )


def open_checkpoints(settings: AgentsStoreSettings, store: AgentsStore) -> Any:
    """The checkpoint storage that goes with the record store: records of the SQLite store
    itself (:mod:`.checkpoints`), or blobs in the Azure store's container."""
    if settings.kind == "sqlite":
        from agentdown.runtime.workflow_graphs.checkpoints import RecordCheckpointStorage

        return RecordCheckpointStorage(store)
    from agentdown.workflows.checkpoint.azure_blob import AzureBlobCheckpointStorage

    account = settings.account
    assert account is not None
    if account.connection_string is not None:
        return AzureBlobCheckpointStorage(
            connection_string=account.connection_string,
            container=settings.container,
            prefix="workflow-graphs",
        )
    return AzureBlobCheckpointStorage(
        account_url=account.blob_url,
        managed_identity_client_id=account.client_id,
        container=settings.container,
        prefix="workflow-graphs",
    )


class GraphService:
    """Runs the app's graphs durably; shares the queue and the stores with every other worker."""

    def __init__(
        self,
        store: AgentsStore,
        queue: MessageQueue,
        graphs: Mapping[str, WorkflowGraph],
        *,
        environ: Mapping[str, str] | None = None,
        checkpoints: Any = None,
        settings: GraphSettings | None = None,
    ) -> None:
        self.settings = settings or GraphSettings.from_env(environ)
        self.queue = queue
        self._own_checkpoints = checkpoints is None
        self.checkpoints = (
            checkpoints
            if checkpoints is not None
            else open_checkpoints(agents_store_settings(environ), store)
        )
        self.engine = GraphEngine(store, self.checkpoints, queue, graphs, on_sent=self._wake)
        self.jobs = JobLoop(
            queue,
            self.handle_message,
            label="workflow steps",
            concurrency=self.settings.concurrency,
            visibility_seconds=self.settings.visibility_seconds,
            poll_seconds=self.settings.poll_seconds,
        )

    def _wake(self) -> None:
        if self.jobs.running:
            self.jobs.wake()

    async def start(self, *, consume: bool = True) -> None:
        await self.queue.create()
        if consume:
            self.jobs.start("agentdown-workflow-steps-consumer")

    async def aclose(self) -> None:
        await self.jobs.aclose()
        if self._own_checkpoints:
            close = getattr(self.checkpoints, "aclose", None)
            if close is not None:
                await close()

    async def handle_message(self, message: QueueMessage) -> None:
        """One job: its lease renewed while it runs, deleted when done, made visible again soon when early."""
        held = [message]
        renew = asyncio.create_task(self._renew(held))
        try:
            try:
                outcome = await self.engine.handle(message.text)
            except ValueError as exc:  # not a job at all: it would fail the same way forever
                logger.warning("workflow steps queue: dropping message %s: %s", message.id, exc)
                outcome = "done"
        finally:
            renew.cancel()
            await asyncio.gather(renew, return_exceptions=True)
        with contextlib.suppress(QueueMessageLostError):
            if outcome == "early" and message.dequeue_count < MAX_EARLY:
                await self.queue.update_visibility(held[0], min(0.05 * message.dequeue_count, 2.0))
            else:
                await self.queue.delete(held[0])

    async def _renew(self, held: list[QueueMessage]) -> None:
        every = self.settings.visibility_seconds / 3
        while True:
            await asyncio.sleep(every)
            try:
                held[0] = await self.queue.update_visibility(held[0], self.settings.visibility_seconds)
            except QueueMessageLostError:
                return
            except Exception as exc:  # the next renewal may succeed; the job goes on meanwhile
                logger.warning("workflow steps queue: renewing job %s: %s", held[0].id, exc)

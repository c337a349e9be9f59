"""A queue's consumer loop: jobs received in batches, each handled in its own task, bounded.

The durable services (Agents-API runs, vector store ingestion, workflow steps) each
take jobs from their own queue the same way: receive as many as there are free slots
(at most 32, the Azure Storage maximum per call), hidden for the lease time; handle
each in a task; sleep until woken or ``poll_seconds`` when the queue had nothing. A
failing handler leaves its message on the queue, so it comes back after its
visibility timeout: that is the retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from agentdown import telemetry
from agentdown.runtime.queues.base import MessageQueue, QueueMessage

__all__ = ["JobLoop"]

logger = logging.getLogger("agentdown.runtime.queues")

_MAX_BATCH = 32


class JobLoop:
    """Runs ``handle`` for the messages of ``queue``, at most ``concurrency`` tasks at once.

    :meth:`spawn` adds other work of the service to the same count (a run executed
    where it was created takes a slot as a received job would).
    """

    def __init__(
        self,
        queue: MessageQueue,
        handle: Callable[[QueueMessage], Awaitable[None]],
        *,
        label: str,
        concurrency: int,
        visibility_seconds: float,
        poll_seconds: float,
    ) -> None:
        self.queue = queue
        self.handle = handle
        self.label = label
        self.concurrency = concurrency
        self.visibility_seconds = visibility_seconds
        self.poll_seconds = poll_seconds
        self.tasks: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._loop is not None

    @property
    def free(self) -> int:
        return self.concurrency - len(self.tasks)

    def start(self, name: str) -> None:
        self._loop = asyncio.create_task(self._receive(), name=name)

    async def handle_delivered(self, message: QueueMessage) -> None:
        """One message a host received for us (Azure Functions' queue trigger), through the same handler.

        The handler keeps its semantics (it deletes the job when done, or hides it again
        for later, with the delivery's pop receipt); unlike the loop, a failure raises, so
        the host's retry and poison queue (``maxDequeueCount``) apply to it.
        """
        await self.handle(message)

    def wake(self) -> None:
        """Look at the queue now (a job was just sent, or a slot freed)."""
        self._wake.set()

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def aclose(self) -> None:
        tasks = [*self.tasks, *([self._loop] if self._loop else [])]
        for task in tasks:
            # Again until it ends: Python 3.11's wait_for can swallow a cancellation that
            # arrives as the awaited event fires, which would leave the receive loop running.
            while not task.done():
                task.cancel()
                await asyncio.wait([task], timeout=0.5)
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
        self._loop = None

    async def _receive(self) -> None:
        while True:
            messages: list[QueueMessage] = []
            if self.free > 0:
                try:
                    messages = await self.queue.receive(min(self.free, _MAX_BATCH), self.visibility_seconds)
                    telemetry.record_queue_poll(self.queue.name, len(messages))
                except Exception as exc:
                    logger.warning("%s queue %s: %s", self.label, self.queue.name, exc)
            for message in messages:
                self.spawn(self._handle(message))
            if not messages:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def _handle(self, message: QueueMessage) -> None:
        try:
            await self.handle(message)
        except Exception as exc:
            # The job stays on the queue and comes back after its visibility timeout.
            logger.warning(
                "%s queue: job %s failed (%s: %s); it will be retried",
                self.label,
                message.id,
                type(exc).__name__,
                exc,
            )
        finally:
            self._wake.set()  # a slot is free

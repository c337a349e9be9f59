"""``queue_trigger``: one run per message, at least once, with a poison queue.

A message is received hidden for ``lease_seconds`` and the hiding is renewed while
its run lasts; a worker that dies simply stops renewing, and the message reappears
for another worker. On success the message is deleted; on failure it is made
visible again after ``retry_delay``, unless it has been delivered
``max_dequeue_count`` times, in which case its original body goes to
``<queue>-poison``. A message delivered more often than that (its workers kept
dying) goes there without running again. These are Azure Functions' rules.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from agentdown import telemetry
from agentdown.runtime.queues.base import (
    MessageQueue,
    QueueMessage,
    QueueMessageLostError,
    StorageError,
    move_to_poison,
)
from agentdown.runtime.triggers.invoke import Invoker, TriggerBinding, logger
from agentdown.runtime.triggers.listener import EventHandler, Listener
from agentdown.runtime.triggers.settings import TriggerSettings

__all__ = ["PoisonMessageError", "QueueListener"]

_FIRST_POLL = 0.05


class PoisonMessageError(Exception):
    """Raised by a handler for a message that can never succeed (not parseable): poisoned at once."""


class _Delivery:
    """The current delivery of a message in work; renewals replace its pop receipt."""

    def __init__(self, message: QueueMessage) -> None:
        self.message = message
        self.lock = asyncio.Lock()
        self.lost = False


class QueueListener(Listener):
    def __init__(
        self,
        binding: TriggerBinding,
        invoker: Invoker | EventHandler,
        settings: TriggerSettings,
        concurrency: int,
        *,
        queue: MessageQueue,
        poison: MessageQueue,
        polling_interval: float,
    ) -> None:
        super().__init__(binding, invoker, settings, concurrency)
        self.queue = queue
        self.poison = poison
        self.polling_interval = polling_interval

    async def start(self) -> None:
        await self.queue.create()
        await self.poison.create()

    async def run(self) -> None:
        delay = _FIRST_POLL
        # The embedded queue tells when its file changed: wait for that instead of sleeping.
        watch = getattr(self.queue, "change_token", None)
        while await self.wait_slot():
            token = watch() if watch is not None else None
            try:
                messages = await self.queue.receive(
                    self.concurrency - len(self._inflight), self.settings.lease_seconds
                )
                telemetry.record_queue_poll(self.queue.name, len(messages))
            except StorageError as exc:
                logger.warning("%s: receiving from queue %s failed: %s", self.label, self.queue.name, exc)
                messages = []
            if not messages:
                if await self._idle(token, delay):
                    break
                delay = min(delay * 2, self.polling_interval)
                continue
            delay = _FIRST_POLL
            for message in messages:
                self.spawn(self._handle(message))

    async def _idle(self, token: Any, delay: float) -> bool:
        """Wait ``delay`` seconds, less when the queue changes; whether a stop was requested."""
        if token is None:
            return await self.sleep(delay)
        change = asyncio.ensure_future(self.queue.wait_for_change(token, delay))  # type: ignore[attr-defined]
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({change, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            change.cancel()
            stop.cancel()
        return self.stopping

    async def _handle(self, message: QueueMessage) -> None:
        limit = self.settings.max_dequeue_count
        if message.dequeue_count > limit:
            await self._poison(message, f"it was delivered {message.dequeue_count} times without completing")
            return
        delivery = _Delivery(message)
        renewal = asyncio.create_task(self._renew(delivery))
        try:
            await self.invoker(message.binding_data())
        except PoisonMessageError as exc:
            await self._stop_renewing(delivery, renewal)
            await self._poison(delivery.message, str(exc))
            return
        except asyncio.CancelledError:
            await self._stop_renewing(delivery, renewal)
            await self._abandon(delivery)
            raise
        except Exception:
            await self._stop_renewing(delivery, renewal)
            logger.exception(
                "%s: message %s failed (attempt %d of %d)",
                self.label,
                message.id,
                message.dequeue_count,
                limit,
            )
            if message.dequeue_count >= limit:
                await self._poison(delivery.message, f"it failed {message.dequeue_count} times")
            else:
                await self._retry(delivery)
            return
        await self._stop_renewing(delivery, renewal)
        try:
            await self.queue.delete(delivery.message)
        except QueueMessageLostError:
            logger.warning(
                "%s: message %s was handled, but it had already been delivered again (its lease ran out); "
                "it may be handled twice",
                self.label,
                message.id,
            )
        except StorageError as exc:
            logger.error(
                "%s: deleting handled message %s failed (it will run again): %s", self.label, message.id, exc
            )

    async def _renew(self, delivery: _Delivery) -> None:
        lease = self.settings.lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            async with delivery.lock:
                try:
                    delivery.message = await self.queue.update_visibility(delivery.message, lease)
                    telemetry.count_lease_renewal("queue_message")
                except QueueMessageLostError:
                    delivery.lost = True
                    logger.warning(
                        "%s: lost the lease on message %s; another worker may be handling it too",
                        self.label,
                        delivery.message.id,
                    )
                    return
                except StorageError as exc:
                    # A passing storage fault: try again at the next tick, the lease still has time.
                    logger.warning(
                        "%s: renewing the lease on message %s failed: %s",
                        self.label,
                        delivery.message.id,
                        exc,
                    )

    async def _stop_renewing(self, delivery: _Delivery, renewal: asyncio.Task[None]) -> None:
        # Under the lock: a renewal cut off mid-request could change the pop receipt unseen.
        async with delivery.lock:
            renewal.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewal

    async def _retry(self, delivery: _Delivery) -> None:
        if delivery.lost:
            return
        try:
            await self.queue.update_visibility(delivery.message, self.settings.retry_delay)
        except StorageError as exc:
            logger.warning(
                "%s: could not release message %s for a retry (it will reappear when its lease ends): %s",
                self.label,
                delivery.message.id,
                exc,
            )

    async def _abandon(self, delivery: _Delivery) -> None:
        if delivery.lost:
            return
        try:
            await self.queue.update_visibility(delivery.message, 0)
        except (StorageError, OSError) as exc:
            logger.warning(
                "%s: could not release message %s on stop (it will reappear when its lease ends): %s",
                self.label,
                delivery.message.id,
                exc,
            )

    async def _poison(self, message: QueueMessage, why: str) -> None:
        try:
            await move_to_poison(self.queue, self.poison, message)
        except StorageError as exc:
            logger.error(
                "%s: moving message %s to %s failed: %s", self.label, message.id, self.poison.name, exc
            )
            return
        logger.error(
            "%s: message %s moved to queue %s because %s", self.label, message.id, self.poison.name, why
        )

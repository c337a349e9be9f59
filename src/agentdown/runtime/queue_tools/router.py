"""Reply routing: one reader per (account, output queue) per process, many calls waiting on it.

Any number of calls (parallel calls of a turn, many runs, many processes) share one
output queue. Each process runs one :class:`ReplyRouter` per output queue, holding a
dict ``CorrelationId -> future`` of the calls it waits for; the reader runs only while
that dict is not empty. For each message it receives:

* not a reply (not JSON, no ``CorrelationId`` or ``Value``): moved to
  ``<queue>-poison``, with a log line;
* a call this process waits for: its future gets ``Value``, the message is deleted;
* a call this process made and no longer waits for (answered: a duplicate; timed
  out: a late reply; see the id's owner, :mod:`.ids`), or any call whose deadline
  (in the id) has passed: logged and deleted;
* a call made elsewhere that may still be waited for: given back at once
  (visibility 0) for the process that waits for it. A process that keeps getting the
  same message back hides it a little longer each time (10 ms doubling, at most 2 s),
  so two readers never spin on each other's replies. A reply whose id carries no
  deadline (an id chosen by the caller) that nobody takes is dropped, logged, after
  :data:`UNCLAIMED_TTL`.

Who waits does not have to be who sent: the Agents API's run taken over by another
worker waits (:meth:`expect`) for the id the dead worker sent, and gets the reply,
because ownership only decides what to do with replies *nobody here* waits for.

On the embedded queue the reader sleeps until the queue file changes
(:mod:`agentdown.runtime.queues.watch`); on Azure it polls with a backoff from 20 ms
to ``max_poll`` seconds (to 100 ms in the first 2 s after a call is sent), reset by
every reply and every new call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from typing import Any

from agentdown.runtime.queue_tools.ids import new_owner, parse_correlation_id
from agentdown.runtime.queue_tools.replies import Reply, parse_reply
from agentdown.runtime.queues.base import (
    MessageQueue,
    QueueMessage,
    QueueMessageLostError,
    StorageError,
    move_to_poison,
)

__all__ = ["UNCLAIMED_TTL", "ReplyRouter"]

logger = logging.getLogger("agentdown.queue_tools")

UNCLAIMED_TTL = 3600.0
"""Seconds a reply without a deadline in its id circulates unclaimed before it is dropped."""
CLOCK_GRACE = 5.0
"""Seconds past another process's deadline before its reply counts as late (clock skew)."""
_LEASE = 10.0
"""A received reply stays hidden this long if this process dies while holding it."""
_BATCH = 32
_FIRST_POLL = 0.02
_IDLE_LINGER = 30.0
"""Seconds the reader stays around with nobody waiting, so the next call skips its start-up."""
_RECENT = 4096
_FRESH = 2.0
"""Seconds after a call is sent during which an Azure reader polls at least every :data:`_FRESH_POLL`:
most functions answer within that, and a reply should not wait for a long backoff."""
_FRESH_POLL = 0.1


class ReplyRouter:
    """Hands every reply read from ``queue`` to the call waiting for it (see the module docstring)."""

    def __init__(self, queue: MessageQueue, poison: MessageQueue, *, max_poll: float = 1.0) -> None:
        self.queue = queue
        self.poison = poison
        self.owner = new_owner()
        self.max_poll = max_poll
        self._waiting: dict[str, asyncio.Future[Any]] = {}
        self._recent: OrderedDict[str, str] = OrderedDict()
        self._returned: OrderedDict[str, int] = OrderedDict()
        self._reader: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closed = False
        self._last_call = 0.0

    # -- calls -----------------------------------------------------------------------------------

    def expect(self, correlation_id: str) -> asyncio.Future[Any]:
        """The future that receives the reply to ``correlation_id`` (the same one if already expected)."""
        future = self._waiting.get(correlation_id)
        if future is None or future.cancelled():
            future = asyncio.get_running_loop().create_future()
            self._waiting[correlation_id] = future
        self._last_call = time.monotonic()
        self._start()
        return future

    def collect(self, correlation_id: str) -> None:
        """The waiter has its value: drop the entry (a later copy of the reply is a duplicate)."""
        self._waiting.pop(correlation_id, None)
        self._remember(correlation_id, "answered")

    def forget(self, correlation_id: str, why: str) -> None:
        """Stop waiting for ``correlation_id``; a reply arriving later is logged as ``why`` (late)."""
        future = self._waiting.pop(correlation_id, None)
        if future is not None and not future.done():
            future.cancel()
        self._remember(correlation_id, why)

    @property
    def waiting(self) -> int:
        """Calls still without a reply (a reply kept for a :meth:`wait` to come does not count)."""
        return sum(not f.done() for f in self._waiting.values())

    def _remember(self, correlation_id: str, what: str) -> None:
        self._recent[correlation_id] = what
        while len(self._recent) > _RECENT:
            self._recent.popitem(last=False)

    def _start(self) -> None:
        self._wake.set()
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._run())

    # -- reading ---------------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = _FIRST_POLL
        watch = getattr(self.queue, "change_token", None)
        while not self._closed:
            if not self.waiting:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), _IDLE_LINGER)
                if not self.waiting:
                    return
            token = watch() if watch is not None else None
            try:
                messages = await self.queue.receive(_BATCH, _LEASE)
            except StorageError as exc:
                logger.warning("queue tools: receiving replies from %s failed: %s", self.queue.name, exc)
                messages = []
                await asyncio.sleep(min(1.0, self.max_poll))
            if messages:
                delay = _FIRST_POLL
                await asyncio.gather(*(self._route(m) for m in messages))
                continue
            if token is not None:
                await self.queue.wait_for_change(token, 0.5)  # type: ignore[attr-defined]
                continue
            # Azure: back off while nothing comes; a new call starts the backoff over.
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
                delay = _FIRST_POLL
            except TimeoutError:
                fresh = time.monotonic() - self._last_call < _FRESH
                delay = min(delay * 2, min(self.max_poll, _FRESH_POLL) if fresh else self.max_poll)

    async def _route(self, message: QueueMessage) -> None:
        reply = parse_reply(message.body)
        if isinstance(reply, str):
            await self._poison(message, reply)
            return
        cid = reply.correlation_id
        future = self._waiting.get(cid)
        if future is not None:
            # Kept until the waiter collects it: a reply may come before wait() is called.
            if not future.done():
                future.set_result(reply.value)
            else:
                logger.debug("queue tools: dropped a duplicate reply on %s for call %s", self.queue.name, cid)
            await self._delete(message)
            return
        verdict = self._verdict(reply, message)
        if verdict is None:
            await self._give_back(message)
            return
        level = logging.DEBUG if verdict == "answered" else logging.WARNING
        logger.log(
            level,
            "queue tools: dropped a reply on %s for call %s: %s",
            self.queue.name,
            cid,
            "a duplicate (the call was answered already)" if verdict == "answered" else verdict,
        )
        await self._delete(message)

    def _verdict(self, reply: Reply, message: QueueMessage) -> str | None:
        """Why a reply nobody here waits for is dropped; ``None``: someone else may wait for it."""
        cid = reply.correlation_id
        if cid in self._recent:
            return self._recent[cid]
        call = parse_correlation_id(cid)
        now = time.time()
        if call.owner == self.owner:
            return "it arrived after its call ended (late or duplicate)"
        if call.deadline is not None and now > call.deadline + CLOCK_GRACE:
            return "it arrived after its call's deadline (a late reply)"
        if call.owner is None and now - message.insertion_time.timestamp() > UNCLAIMED_TTL:
            return f"nobody claimed it for {UNCLAIMED_TTL:.0f} s"
        return None

    async def _give_back(self, message: QueueMessage) -> None:
        seen = self._returned.pop(message.id, 0)
        self._returned[message.id] = seen + 1
        while len(self._returned) > _RECENT:
            self._returned.popitem(last=False)
        delay = 0.0 if seen == 0 else min(0.01 * 2 ** (seen - 1), 2.0)
        with contextlib.suppress(StorageError):
            await self.queue.update_visibility(message, delay)

    async def _delete(self, message: QueueMessage) -> None:
        try:
            await self.queue.delete(message)
        except QueueMessageLostError:
            pass  # it outlived its lease and went back: whoever reads it next drops it as a duplicate
        except StorageError as exc:
            logger.warning(
                "queue tools: deleting reply %s on %s failed: %s", message.id, self.queue.name, exc
            )

    async def _poison(self, message: QueueMessage, why: str) -> None:
        try:
            await move_to_poison(self.queue, self.poison, message)
        except StorageError as exc:
            logger.error("queue tools: moving reply %s to %s failed: %s", message.id, self.poison.name, exc)
            return
        logger.error(
            "queue tools: message %s on %s is not a reply (%s); moved to %s",
            message.id,
            self.queue.name,
            why,
            self.poison.name,
        )

    async def aclose(self) -> None:
        """Stop reading (calls still waiting are cancelled)."""
        self._closed = True
        for future in self._waiting.values():
            future.cancel()
        self._waiting.clear()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

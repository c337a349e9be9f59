"""What every trigger listener shares: a polling loop, a bounded set of runs in flight, a graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from agentdown.runtime.triggers.invoke import Invoker, TriggerBinding, logger
from agentdown.runtime.triggers.settings import TriggerSettings

__all__ = ["EventHandler", "Listener", "worker_id"]

EventHandler = Callable[[Mapping[str, Any]], Awaitable[object]]
"""What a listener calls per event besides an agent's :class:`Invoker` (queue tools' functions)."""


def worker_id() -> str:
    """Names this process in receipts, so a taken-over claim says whose it was."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class Listener(ABC):
    """Base of the timer, queue and blob listeners; :meth:`run` loops until :meth:`request_stop`."""

    def __init__(
        self,
        binding: TriggerBinding,
        invoker: Invoker | EventHandler,
        settings: TriggerSettings,
        concurrency: int,
    ) -> None:
        self.binding = binding
        self.invoker = invoker
        self.settings = settings
        self.concurrency = concurrency
        self._stopping = asyncio.Event()
        self._hurry = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()

    @property
    def label(self) -> str:
        return f"{self.binding.agent} ({self.binding.trigger.type})"

    async def start(self) -> None:
        """Prepare storage (create queues, containers); errors here stop the host from starting."""
        return None  # the timer needs no storage of its own

    @abstractmethod
    async def run(self) -> None:
        """Poll and dispatch until a stop is requested."""

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def request_stop(self) -> None:
        self._stopping.set()

    def hurry(self) -> None:
        """Make a :meth:`drain` in progress give up waiting now."""
        self._hurry.set()

    async def sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` or until a stop is requested; whether it was."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), max(0.0, seconds))
        return self.stopping

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(self._guard(work))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return task

    async def _guard(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            # Handlers deal with their own failures; this is the net under a bug in one of them.
            logger.exception("%s: unexpected error while handling an event", self.label)

    async def wait_slot(self) -> bool:
        """Wait until fewer than ``concurrency`` runs are in flight; ``False`` if a stop came first."""
        while len(self._inflight) >= self.concurrency and not self.stopping:
            stop = asyncio.ensure_future(self._stopping.wait())
            try:
                await asyncio.wait({*self._inflight, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()
        return not self.stopping

    async def wait_idle(self) -> None:
        """Wait until no run is in flight (or a stop is requested)."""
        while self._inflight and not self.stopping:
            stop = asyncio.ensure_future(self._stopping.wait())
            try:
                await asyncio.wait({*self._inflight, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()

    async def drain(self, timeout: float) -> None:
        """Let runs in flight finish for ``timeout`` seconds, then cancel them (they abandon their event)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._inflight and not self._hurry.is_set() and (remaining := deadline - loop.time()) > 0:
            hurry = asyncio.ensure_future(self._hurry.wait())
            try:
                await asyncio.wait(
                    {*self._inflight, hurry}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                hurry.cancel()
        pending = set(self._inflight)
        if pending:
            logger.warning(
                "%s: abandoning %d run(s) still in progress; their events will be delivered again",
                self.label,
                len(pending),
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def aclose(self) -> None:
        """Release what :meth:`start` opened that the host does not own."""
        return None

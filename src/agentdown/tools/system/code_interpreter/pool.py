"""The live sandboxes of one tool: one per session key, idle ones reaped, a cap on live ones."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import time
from pathlib import Path

from agentdown.tools.system.code_interpreter.limits import SandboxLimits
from agentdown.tools.system.code_interpreter.sandbox import Execution, Sandbox, SandboxError
from agentdown.tools.system.code_interpreter.tool import hashed

__all__ = ["SandboxPool", "SandboxesBusy"]


class SandboxesBusy(RuntimeError):
    """Every sandbox the cap allows is running code: a new session must wait."""


class SandboxPool:
    """Sandboxes under ``root``, one directory per session key (``root/<hash of the key>``).

    At most ``limits.max_sessions`` interpreters live at once: a new one stops the least
    recently used idle one (its files stay). Interpreters idle for ``limits.idle_seconds``
    are stopped by a background task.
    """

    def __init__(self, root: Path, limits: SandboxLimits | None = None) -> None:
        self.root = Path(root)
        self.limits = limits or SandboxLimits()
        self._sandboxes: dict[str, Sandbox] = {}
        self._ephemeral: set[str] = set()
        self._reserved: set[Sandbox] = set()
        self._lock = asyncio.Lock()
        self._reaper: asyncio.Task[None] | None = None
        self._closed = False

    def directory(self, key: str) -> Path:
        """Where ``key``'s files live: the key is hashed, never used as a path."""
        return self.root / hashed(key)

    def sandbox(self, key: str, *, ephemeral: bool = False) -> Sandbox:
        """The sandbox of ``key`` (created on first use; its interpreter starts with its first run)."""
        sandbox = self._sandboxes.get(key)
        if sandbox is None:
            sandbox = Sandbox(self.directory(key), self.limits)
            self._sandboxes[key] = sandbox
            if ephemeral:
                self._ephemeral.add(key)
        return sandbox

    @property
    def live(self) -> int:
        return sum(1 for s in self._sandboxes.values() if s.alive or s in self._reserved)

    async def _make_room(self, sandbox: Sandbox) -> None:
        if sandbox.alive or sandbox in self._reserved:
            return
        live = [s for s in self._sandboxes.values() if (s.alive or s in self._reserved) and s is not sandbox]
        while len(live) >= self.limits.max_sessions:
            idle = [s for s in live if not s.busy and s not in self._reserved]
            if not idle:
                raise SandboxesBusy(
                    f"all {self.limits.max_sessions} code interpreter sandboxes are running code; try again shortly"
                )
            oldest = min(idle, key=lambda s: s.last_used)
            await oldest.close()
            live.remove(oldest)

    async def run(self, key: str, code: str, *, ephemeral: bool = False) -> Execution:
        """Run ``code`` in ``key``'s sandbox."""
        if self._closed:
            raise SandboxError("the code interpreter was closed")
        self._start_reaper()
        async with self._lock:
            sandbox = self.sandbox(key, ephemeral=ephemeral)
            await self._make_room(sandbox)
            self._reserved.add(sandbox)
        try:
            return await sandbox.run(code)
        finally:
            self._reserved.discard(sandbox)
            if key.startswith("call:"):  # a one-off key can never be used again
                await self.discard(key)

    async def discard(self, key: str) -> None:
        """Stop ``key``'s interpreter and delete its directory."""
        sandbox = self._sandboxes.pop(key, None)
        self._ephemeral.discard(key)
        if sandbox is not None:
            await sandbox.close()
        await asyncio.to_thread(shutil.rmtree, self.directory(key), True)

    def _start_reaper(self) -> None:
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def _reap_forever(self) -> None:
        interval = max(0.05, min(self.limits.idle_seconds / 4, 30.0))
        while True:
            await asyncio.sleep(interval)
            await self.reap()

    async def reap(self) -> None:
        """Stop interpreters idle too long; forget their sandboxes (files stay, except a run's own)."""
        now = time.monotonic()
        for key, sandbox in list(self._sandboxes.items()):
            if (
                sandbox.busy
                or sandbox in self._reserved
                or now - sandbox.last_used < self.limits.idle_seconds
            ):
                continue
            if key in self._ephemeral:
                await self.discard(key)
            else:
                self._sandboxes.pop(key, None)
                await sandbox.close()

    async def aclose(self) -> None:
        """Kill every interpreter (and delete the directories of session-less runs)."""
        self._closed = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reaper
        for key in list(self._ephemeral):
            await self.discard(key)
        sandboxes = list(self._sandboxes.values())
        self._sandboxes.clear()
        await asyncio.gather(*(s.close() for s in sandboxes), return_exceptions=True)

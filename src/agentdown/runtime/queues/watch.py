"""Waking readers of the embedded queue when something changes, without polling the database.

A write to ``queues.db`` (WAL mode) appends to ``queues.db-wal``, so a change by any
process shows in that file's size / mtime / inode. While someone waits, one probe task
per (event loop, file) ``stat()``s the two files every :data:`PROBE_INTERVAL` (a couple of
microseconds per probe, no SQLite call, no lock); writes made in this process wake
waiters at once through :meth:`FileWatch.notify`. Nobody waiting: no probe at all.
A change the stat cannot see (two writes within one mtime tick leaving the WAL the
same size) is caught by the waiter's own timeout, which callers keep short.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import weakref

__all__ = ["PROBE_INTERVAL", "FileWatch", "Signature", "file_watch"]

PROBE_INTERVAL = 0.002
"""Seconds between two stat probes while a reader waits."""

Signature = tuple[int, tuple[int, int, int], tuple[int, int, int]]

_watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, FileWatch]] = (
    weakref.WeakKeyDictionary()
)


def _stat(path: str) -> tuple[int, int, int]:
    try:
        st = os.stat(path)
    except OSError:
        return (0, 0, 0)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class FileWatch:
    """Change detection for one SQLite file in one event loop (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._local = 0
        self._waiters: set[asyncio.Future[None]] = set()
        self._probe: asyncio.Task[None] | None = None
        self.probes = 0
        """Stat probes made so far (for benchmarks)."""

    def token(self) -> Signature:
        """What the file looks like now; pass it to :meth:`wait`."""
        return (self._local, _stat(self.path + "-wal"), _stat(self.path))

    def notify(self) -> None:
        """This process wrote: wake every waiter now."""
        self._local += 1
        self._wake()

    def _wake(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self, token: Signature, timeout: float) -> None:
        """Return once the file differs from ``token`` (or after ``timeout`` seconds)."""
        if self.token() != token:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.add(waiter)
        if self._probe is None or self._probe.done():
            self._probe = loop.create_task(self._run_probe())
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
        finally:
            self._waiters.discard(waiter)

    async def _run_probe(self) -> None:
        last = self.token()
        while self._waiters:
            await asyncio.sleep(PROBE_INTERVAL)
            self.probes += 1
            now = self.token()
            if now != last:
                last = now
                self._wake()


def file_watch(path: str) -> FileWatch:
    """The watch of ``path`` for the running loop (shared by every queue service on that file)."""
    loop = asyncio.get_running_loop()
    per_loop = _watches.setdefault(loop, {})
    key = os.path.abspath(path)
    if key not in per_loop:
        per_loop[key] = FileWatch(key)
    return per_loop[key]

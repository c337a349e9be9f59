"""One ``aiohttp.ClientSession`` per event loop, closed with the loop if nobody else does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from agentdown.lazy import lazy_module

if TYPE_CHECKING:
    import aiohttp
else:
    aiohttp = lazy_module("aiohttp")  # first used when a model is called: off the cold start

__all__ = ["LoopBoundSession"]


class LoopBoundSession:
    """Creates the session lazily in the running loop and replaces it when the loop changes.

    An aiohttp session only works in the loop it was created in; a model object may
    outlive that loop (e.g. several ``asyncio.run`` calls in scripts or tests).
    """

    __slots__ = ("_guard", "_loop", "_session")

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guard: AsyncGenerator[None, None] | None = None

    @property
    def current(self) -> aiohttp.ClientSession | None:
        """The session in use, if any."""
        return self._session

    async def get(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._session
        if session is not None and self._loop is loop and not session.closed:
            return session
        if session is not None and not session.closed and self._guard is not None:
            await _discard(self._guard, self._loop)
        # Model APIs set no cookies we need; skipping the jar saves work per request.
        session = aiohttp.ClientSession(
            cookie_jar=aiohttp.DummyCookieJar(),
            connector=aiohttp.TCPConnector(ttl_dns_cache=300),
        )
        self._session, self._loop = session, loop
        # asyncio.run() closes pending async generators before closing its loop, so this
        # closes the session on its own loop even when aclose() is never called.
        self._guard = _close_at_loop_end(session)
        await anext(self._guard)
        return session

    async def aclose(self) -> None:
        session, guard = self._session, self._guard
        self._session, self._loop, self._guard = None, None, None
        if session is not None and not session.closed:
            await session.close()
        if guard is not None:
            with contextlib.suppress(RuntimeError):
                await guard.aclose()


async def _close_at_loop_end(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        await session.close()


async def _discard(guard: AsyncGenerator[None, None], loop: asyncio.AbstractEventLoop | None) -> None:
    # The session belongs to another event loop that ended without closing it.
    if loop is None or loop.is_closed():
        # Its transports died with the loop, so closing does no I/O and is safe from here.
        with contextlib.suppress(RuntimeError):
            await guard.aclose()
    elif loop.is_running():
        asyncio.run_coroutine_threadsafe(guard.aclose(), loop)

"""Loopback aiohttp servers and a fake resolver for the web_request / OpenAPI tests.

No test here touches real DNS or any network but loopback: names resolve through
:func:`fake_dns`, which raises for any name it was not given.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web

LOOPBACK_V4 = ["127.0.0.1/32"]
"""The test-only allow-list: only the address the test servers listen on."""


@dataclass
class Served:
    url: str
    port: int
    hits: list[web.Request] = field(default_factory=list)


@asynccontextmanager
async def serve(
    routes: Mapping[str, Callable[[web.Request], Awaitable[web.StreamResponse]]],
    host: str = "127.0.0.1",
) -> AsyncIterator[Served]:
    """Start a server on ``host`` (a free port); ``routes`` maps ``"METHOD /path"`` to handlers."""
    served = Served("", 0)

    @web.middleware
    async def count(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        served.hits.append(request)
        return await handler(request)

    app = web.Application(middlewares=[count])
    for key, handler in routes.items():
        method, path = key.split(" ", 1)
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    served.port = runner.addresses[0][1]
    served.url = f"http://{host}:{served.port}"
    try:
        yield served
    finally:
        await runner.cleanup()


def fake_dns(table: Mapping[str, Sequence[str]]) -> Callable[[str], Awaitable[list[str]]]:
    """A resolver answering from ``table``; unknown names fail like NXDOMAIN."""

    async def lookup(host: str) -> list[str]:
        if host not in table:
            raise OSError(f"no such host {host!r} (fake DNS)")
        return list(table[host])

    return lookup


class RebindingDNS:
    """Answers ``first`` on the first lookup and ``then`` on every later one (a rebinding attack)."""

    def __init__(self, first: str, then: str) -> None:
        self.first, self.then, self.calls = first, then, 0

    async def __call__(self, host: str) -> list[str]:
        self.calls += 1
        return [self.first if self.calls == 1 else self.then]

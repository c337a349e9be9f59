"""HTTP functions in the worker's streaming mode (``azurefunctions-extensions-http-fastapi``).

Imported only when :func:`~agentdown.hosting.settings.http_streaming` says the worker serves
HTTP streams: importing the extension while the host indexes ``function_app.py`` is what
switches the worker (it then starts its own HTTP server, and the host proxies each request
to it). The switch covers every HTTP function of the app, so all of ours take the
extension's ``Request`` and return its responses, not only ``chatstream``.

Each handler runs agentdown's Starlette app (the routes of ``agentdown serve``) on the
request's ASGI scope and body, and answers what it sends: a body sent in one message as a
plain ``Response``, anything sent in parts (the chat stream, ``/v1`` and Agents-API streams)
as a ``StreamingResponse`` whose chunks leave as the app sends them. The app runs in a task
of its own: when the client goes away the response stops iterating, the app's next
``receive`` answers ``http.disconnect`` and its ``send`` raises ``OSError`` (as uvicorn's
do), so the run under it unwinds and saves its session as under ``serve``.
"""

# No `from __future__ import annotations` here: the Python worker reads the handlers'
# annotations (the extension's Request in, its responses out) as real types.

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

# The extension re-exports FastAPI's Request and responses (typed here through fastapi);
# importing it registers them as the worker's HTTP types.
import azurefunctions.extensions.http.fastapi  # type: ignore[import-untyped]  # noqa: F401
from fastapi import Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.types import ASGIApp, Message, Scope

from agentdown.app.spec import AgentSpec

__all__ = ["asgi_handler", "chat_page_handler", "respond"]

logger = logging.getLogger("agentdown.hosting")

# What an ASGI app may read from a scope; the worker's own FastAPI route and router stay out.
_SCOPE_KEYS = (
    "type",
    "asgi",
    "http_version",
    "method",
    "scheme",
    "path",
    "raw_path",
    "query_string",
    "root_path",
    "headers",
    "client",
    "server",
)

# Apps still sending after their handler returned (a stream being read, a run unwinding);
# asyncio keeps only weak references to tasks.
_RUNNING: set["asyncio.Task[None]"] = set()


class _Exchange:
    """The app's side of one request: the request body in, the response messages out."""

    def __init__(self, request: Request) -> None:
        self._outer_receive = request.receive
        self._body_read = False
        self.closed = asyncio.Event()
        self.messages: asyncio.Queue[Message | None] = asyncio.Queue()

    async def receive(self) -> Message:
        if not self._body_read:
            message = await self._outer_receive()
            if message["type"] == "http.disconnect":
                self._body_read = True
                self.closed.set()
            elif not message.get("more_body", False):
                self._body_read = True
            return message
        await self.closed.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.closed.is_set():
            raise OSError("the client went away")
        self.messages.put_nowait(message)

    async def run(self, app: ASGIApp, scope: Scope) -> None:
        try:
            await app(scope, self.receive, self.send)
        finally:
            self.messages.put_nowait(None)

    async def next_body(self) -> tuple[bytes, bool]:
        """The next body chunk and whether more follows; ``(b"", False)`` once the app ended."""
        while True:
            message = await self.messages.get()
            if message is None:
                return b"", False
            if message["type"] == "http.response.body":
                return bytes(message.get("body", b"")), bool(message.get("more_body", False))

    async def rest(self, first: bytes) -> AsyncIterator[bytes]:
        try:
            if first:
                yield first
            more = True
            while more:
                chunk, more = await self.next_body()
                if chunk:
                    yield chunk
        finally:
            # Synchronous on purpose: this also runs under the server's cancellation.
            self.closed.set()


def _finished(task: "asyncio.Task[None]") -> None:
    _RUNNING.discard(task)
    if not task.cancelled() and task.exception() is not None:
        # The app's error handlers logged it and answered the client already.
        logger.debug("hosted request ended with %r", task.exception())


async def respond(app: ASGIApp, request: Request) -> Response:
    """``app``'s answer to ``request``, streamed when the app sends its body in parts."""
    exchange = _Exchange(request)
    scope = {key: request.scope[key] for key in _SCOPE_KEYS if key in request.scope}
    task = asyncio.create_task(exchange.run(app, scope))
    _RUNNING.add(task)
    task.add_done_callback(_finished)
    start = await exchange.messages.get()
    if start is None or start["type"] != "http.response.start":
        await task  # raises what stopped the app before it answered
        raise RuntimeError("the app ended without answering the request")
    headers = list(start.get("headers", []))
    first, more = await exchange.next_body()
    response: Response
    if more:
        response = StreamingResponse(exchange.rest(first), status_code=start["status"])
    else:
        exchange.closed.set()
        response = Response(first, status_code=start["status"])
    response.raw_headers = headers
    return response


Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def asgi_handler(app_of: Callable[[], ASGIApp], name: str) -> Handler:
    """The function ``name``: agentdown's routes (``app_of()``, built on first use) on the request."""

    async def handler(req: Request) -> Response:
        return await respond(app_of(), req)

    handler.__name__ = name
    return handler


def chat_page_handler(spec: AgentSpec) -> Callable[[Request], Response]:
    def agent_chat_page(req: Request) -> Response:
        from agentdown.server.page import render_page

        # The host asks function-level callers for a key, so the page asks for one too.
        html, policy = render_page(spec, key_needed=spec.http_auth.mode in ("function", "admin"))
        return HTMLResponse(html, headers={"content-security-policy": policy, "cache-control": "no-store"})

    return agent_chat_page

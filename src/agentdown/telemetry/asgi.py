"""An ASGI middleware joining each HTTP request to its caller's trace (``traceparent``).

It starts one server span per request, child of the incoming W3C context, so every span a
request causes (agent runs, model calls, queued jobs) shares the caller's trace id. Only the
method, the path (never the query string: it may hold a function key) and the status are
recorded; no header is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from agentdown.telemetry._state import active
from agentdown.telemetry.propagation import TRACE_KEYS, extract
from agentdown.telemetry.spans import SpanKind, fail_span, start_span

__all__ = ["TraceContextMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_KEYS = {k.encode() for k in TRACE_KEYS}


class TraceContextMiddleware:
    """Wraps ``app``; passes everything through untouched when telemetry is off."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or active() is None:
            await self.app(scope, receive, send)
            return
        carrier = {k.decode(): v.decode("latin-1") for k, v in scope.get("headers", ()) if k in _KEYS}
        method = str(scope.get("method", "GET"))
        s = start_span(
            method,
            {"http.request.method": method, "url.path": scope.get("path"), "url.scheme": scope.get("scheme")},
            kind=SpanKind.SERVER,
            parent=extract(carrier),
        )
        assert s is not None  # active() said telemetry is on

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = int(message.get("status", 0))
                s.set_attribute("http.response.status_code", status)
                if status >= 500:
                    s.set_attribute("error.type", str(status))
            await send(message)

        token = otel_context.attach(trace.set_span_in_context(s))
        try:
            await self.app(scope, receive, send_status)
        except BaseException as exc:
            fail_span(s, exc)
            raise
        finally:
            otel_context.detach(token)
            s.end()

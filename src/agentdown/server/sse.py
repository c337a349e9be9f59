"""Server-sent events: the chat stream's event shapes, and a response that stops with its client.

Frames are ``event: <type>\\ndata: <one-line JSON>\\n\\n`` and the JSON repeats the type
as ``"type"``: clients of the Azure Functions agents runtime read only ``data:`` lines
and switch on ``type``; SSE clients that dispatch on the event name work too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from agentdown.loop.events import (
    ReasoningDeltaEvent,
    RunCompletedEvent,
    RunErrorEvent,
    RunEvent,
    TextDeltaEvent,
    ToolCallEndEvent,
    ToolCallStartEvent,
)
from agentdown.server.errors import client_message
from agentdown.server.turns import refusal, result_summary

__all__ = ["EventStream", "checked_event", "error_payload", "event_payload", "frame"]

logger = logging.getLogger("agentdown.server")
_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode


def frame(event: str, data: Mapping[str, Any]) -> bytes:
    """One frame; :class:`ValueError` for an event name that would break the framing."""
    return f"event: {checked_event(event)}\ndata: {_dumps(data)}\n\n".encode()


def checked_event(event: str) -> str:
    """``event`` unchanged, or :class:`ValueError` if it holds a line break.

    A CR or LF in the name would end the ``event:`` line and let the rest be read as
    a field (``data:``) or a frame of its own; the JSON data is always one line.
    """
    if "\n" in event or "\r" in event:
        raise ValueError(f"an SSE event name cannot contain a line break: {event!r}")
    return event


def event_payload(event: RunEvent, session_id: str) -> dict[str, Any] | None:
    """The chat stream's JSON for a run event; ``None`` for events the stream does not show."""
    if isinstance(event, TextDeltaEvent):
        return {"type": "delta", "content": event.text} if event.text else None
    if isinstance(event, ReasoningDeltaEvent):
        return {"type": "intermediate", "content": event.text} if event.text else None
    if isinstance(event, ToolCallStartEvent):
        return {
            "type": "tool_start",
            "tool_call_id": event.call_id,
            "tool_name": event.name,
            "arguments": event.arguments,
        }
    if isinstance(event, ToolCallEndEvent):
        return {
            "type": "tool_end",
            "tool_call_id": event.call_id,
            "tool_name": event.name,
            "result": event.output,
            "is_error": event.is_error,
            "duration": round(event.duration, 6),
        }
    if isinstance(event, RunCompletedEvent):
        return {"type": "done", "session_id": session_id, **result_summary(event.result, session_id)}
    if isinstance(event, RunErrorEvent):
        return error_payload(event.error, session_id)
    return None


def error_payload(exc: BaseException, session_id: str) -> dict[str, Any]:
    """The stream's ``error`` event for ``exc``.

    What the runtime refused (decisions for calls that are not pending, a turn that
    waits) is the caller's mistake, reported with the code ``/chat`` answers it with,
    not as a failed run.
    """
    refused = refusal(exc, session_id) if isinstance(exc, Exception) else None
    if refused is not None:
        return {"type": "error", "content": refused.message, "code": refused.code, **refused.extra}
    message, code = client_message(exc)
    return {"type": "error", "content": message, "code": code}


class EventStream(Response):
    """A ``text/event-stream`` response whose frames come from ``frames``.

    The frames are produced in a task of their own. When the client goes away that
    task is cancelled once (asyncio cancellation, not a level-triggered cancel scope)
    and awaited, so the run under it unwinds fully and saves its session before the
    request ends.
    """

    media_type = "text/event-stream"

    def __init__(self, frames: AsyncIterator[bytes], headers: Mapping[str, str] | None = None) -> None:
        self.frames = frames
        self.status_code = 200
        self.background = None
        merged = {
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "x-accel-buffering": "no",  # proxies such as nginx must not hold frames back
            **{k.lower(): v for k, v in (headers or {}).items()},
        }
        self.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in merged.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        producer = asyncio.create_task(self._pump(send))
        watcher = asyncio.create_task(_disconnected(receive))
        try:
            await asyncio.wait({producer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not producer.done():
                producer.cancel()
            watcher.cancel()
            # The run saves its session while unwinding; wait for that even if this
            # request is itself being cancelled.
            await asyncio.wait({producer})
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
            if not producer.cancelled():
                producer.exception()  # logged by _pump already; retrieved so asyncio does not warn
        # Also after a failure or a disconnect: an ASGI response must always be completed.
        with contextlib.suppress(OSError):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pump(self, send: Send) -> None:
        frames = self.frames
        try:
            async for chunk in frames:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except OSError:
            logger.info("client went away during an event stream")
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("event stream failed")
            raise
        finally:
            aclose = getattr(frames, "aclose", None)
            if aclose is not None:
                await aclose()


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return

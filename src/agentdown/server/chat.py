"""The built-in chat endpoints: page, ``/chat``, ``/chatstream`` (SSE), ``/history``.

Shapes are the Azure Functions agents runtime's: ``/chat`` answers
``{"session_id", "response", "tool_calls"}``; ``/history`` answers
``{"messages": [{"role", "text"}], "truncated"}``. agentdown adds ``status`` and
``usage`` to ``/chat`` and ``done``, and a ``tool_calls`` list to the assistant
entries of ``/history`` (the calls made before that answer) so the chat page can
show them after a reload.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from agentdown.messages import Message
from agentdown.server.context import SESSION_HEADER, ServerContext, session_id_of
from agentdown.server.errors import ApiError, api_endpoint, client_message, json_type, read_json_object
from agentdown.server.page import render_page
from agentdown.server.sse import EventStream, event_payload, frame, result_summary, tool_calls_of

__all__ = ["chat_routes", "prompt_of"]

logger = logging.getLogger("agentdown.server")


def prompt_of(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, str) and prompt.strip():
        return prompt
    if "prompt" not in body:
        got = "nothing"
    elif isinstance(prompt, str):
        got = "a blank string" if prompt else "an empty string"
    else:
        got = f"a JSON {json_type(prompt)}"
    raise ApiError(400, f'the request body needs "prompt": a non-empty string (got {got})', "missing_prompt")


def chat_routes(ctx: ServerContext) -> list[Route]:
    settings = ctx.settings

    @api_endpoint
    async def page(request: Request) -> Response:
        spec = ctx.spec(request.path_params["slug"], "debug_chat_ui")
        key_needed = spec.http_auth.mode in ("function", "admin") and ctx.authorizer.keys.configured
        html, policy = render_page(spec, key_needed=key_needed)
        return HTMLResponse(html, headers={"content-security-policy": policy, **_NO_STORE})

    @api_endpoint
    async def chat(request: Request) -> Response:
        spec = ctx.spec(request.path_params["slug"], "chat_api")
        ctx.authorizer.require_agent(request, spec.http_auth)
        session_id = session_id_of(request, new=False)
        prompt = prompt_of(await read_json_object(request, settings.max_body_bytes))
        turn = await ctx.runner.run(spec.slug, prompt, session_id=session_id)
        body = {
            "session_id": turn.session_id,
            "response": turn.result.text,
            "tool_calls": tool_calls_of(turn.result),
            **result_summary(turn.result),
        }
        return JSONResponse(body, headers={SESSION_HEADER: turn.session_id})

    @api_endpoint
    async def chatstream(request: Request) -> Response:
        spec = ctx.spec(request.path_params["slug"], "chat_api")
        ctx.authorizer.require_agent(request, spec.http_auth)
        session_id = session_id_of(request, new=True)
        assert session_id is not None
        prompt = prompt_of(await read_json_object(request, settings.max_body_bytes))
        frames = _chat_frames(ctx, spec.slug, prompt, session_id)
        return EventStream(frames, headers={SESSION_HEADER: session_id})

    @api_endpoint
    async def history(request: Request) -> Response:
        spec = ctx.spec(request.path_params["slug"], "chat_api")
        ctx.authorizer.require_agent(request, spec.http_auth)
        session_id = session_id_of(request, new=False)
        if session_id is None:
            return JSONResponse({"messages": [], "truncated": False})
        # Whole turns covering a few messages per entry: a long session is not read in full.
        bound = settings.history_limit * 8
        messages = await ctx.runner.history(spec.slug, session_id, max_messages=bound)
        entries = transcript(messages)
        truncated = len(entries) > settings.history_limit or len(messages) >= bound
        if truncated:
            entries = entries[-settings.history_limit :]
        body = {"session_id": session_id, "messages": entries, "truncated": truncated}
        return JSONResponse(body, headers={SESSION_HEADER: session_id, **_NO_STORE})

    return [
        Route("/agents/{slug}/", page, methods=["GET"]),
        Route("/agents/{slug}/chat", chat, methods=["POST"]),
        Route("/agents/{slug}/chatstream", chatstream, methods=["POST"]),
        Route("/agents/{slug}/history", history, methods=["GET"]),
    ]


_NO_STORE = {"cache-control": "no-store"}


async def _chat_frames(ctx: ServerContext, slug: str, prompt: str, session_id: str) -> AsyncIterator[bytes]:
    yield frame("session", {"type": "session", "session_id": session_id})
    stream = ctx.runner.stream(slug, prompt, session_id=session_id)
    error_sent = False
    try:
        async for _, event in stream:
            payload = event_payload(event, session_id)
            if payload is not None:
                error_sent |= payload["type"] == "error"
                yield frame(payload["type"], payload)
    except Exception as exc:
        # run_stream reports its own failure as an event before raising it; failures
        # around the run (the session store, an unknown tool set) arrive only here.
        if not error_sent:
            message, code = client_message(exc)
            yield frame("error", {"type": "error", "content": message, "code": code})
        else:
            logger.debug("chat stream of %s ended with %r", slug, exc)
    finally:
        await stream.aclose()


def transcript(messages: list[Message]) -> list[dict[str, Any]]:
    """User and assistant texts; tool calls ride on the next assistant answer."""
    entries: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for message in messages:
        for content in message.contents:
            if content.type == "tool_call" and content.call_id:
                call = {
                    "tool_call_id": content.call_id,
                    "tool_name": content.name,
                    "arguments": content.arguments,
                    "result": None,
                }
                pending.append(call)
                by_id[content.call_id] = call
            elif content.type == "tool_result" and content.call_id in by_id:
                by_id[content.call_id]["result"] = content.text
                by_id[content.call_id]["is_error"] = content.is_error
        text = message.text
        if message.role == "user" and text:
            if pending:
                entries.append({"role": "assistant", "text": "", "tool_calls": pending})
                pending = []
            entries.append({"role": "user", "text": text})
        elif message.role == "assistant" and text:
            entry: dict[str, Any] = {"role": "assistant", "text": text}
            if pending:
                entry["tool_calls"] = pending
                pending = []
            entries.append(entry)
    if pending:
        entries.append({"role": "assistant", "text": "", "tool_calls": pending})
    return entries

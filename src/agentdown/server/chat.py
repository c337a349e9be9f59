"""The built-in chat endpoints: page, ``/chat``, ``/chatstream`` (SSE), ``/history``.

Shapes are the Azure Functions agents runtime's: ``/chat`` answers
``{"session_id", "response", "model", "tool_calls"}``; ``/history`` answers
``{"messages": [{"role", "text"}], "truncated"}``. agentdown adds ``status`` and
``usage`` to ``/chat`` and ``done``, ``steps`` to ``/chat`` and a ``step`` event to the
stream (each model call's tokens and time, its tool calls' arguments, results and time:
the chat page's run inspector), ``pending``/``resume`` when a run waits for approvals or
tool outputs (:mod:`agentdown.server.turns`), a ``tool_calls`` list to the
assistant entries of ``/history`` (the calls made before that answer) so the chat page
can show them after a reload, and ``pending`` to ``/history`` while a turn waits.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from agentdown.knowledge.folder_search import citations_of
from agentdown.loop.engine import is_replayable
from agentdown.messages import Message
from agentdown.runtime.pending import TurnPendingError, pending_turn
from agentdown.server.context import SESSION_HEADER, ServerContext, session_id_of
from agentdown.server.errors import ApiError, api_endpoint, read_json_object
from agentdown.server.page import render_page
from agentdown.server.sse import EventStream, error_payload, event_payload, frame
from agentdown.server.turns import (
    TurnRequest,
    call_records,
    discard_body,
    parse_turn_request,
    pending_of,
    refusals,
    step_record,
    turn_body,
)

__all__ = ["chat_routes", "transcript"]

logger = logging.getLogger("agentdown.server")


def _needs_session(session_id: str | None) -> str:
    if session_id is None:
        raise ApiError(
            400,
            f"answering or discarding a pending turn needs its session: send the {SESSION_HEADER} header",
            "missing_session_id",
        )
    return session_id


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
        principal = ctx.authorizer.require_agent(request, spec.http_auth)
        session_id = session_id_of(request, new=False)
        asked = parse_turn_request(await read_json_object(request, settings.max_body_bytes))
        runner = ctx.runner
        with refusals(session_id):
            if asked.discard:
                sid = _needs_session(session_id)
                body = await discard_body(runner, spec.slug, sid, principal)
                return JSONResponse(body, headers={SESSION_HEADER: sid})
            if asked.decisions is not None:
                sid = _needs_session(session_id)
                turn = await runner.resume(spec.slug, sid, asked.decisions, principal=principal)
            else:
                assert asked.prompt is not None
                turn = await runner.run(spec.slug, asked.prompt, session_id=session_id, principal=principal)
        body = turn_body(turn, runner.agent(spec.slug).model.model_name)
        # The run inspector's record (not part of turn_body: MCP callers are models, and
        # timings would only fill their context).
        body["steps"] = [step_record(s) for s in turn.result.steps]
        return JSONResponse(body, headers={SESSION_HEADER: turn.session_id})

    @api_endpoint
    async def chatstream(request: Request) -> Response:
        spec = ctx.spec(request.path_params["slug"], "chat_api")
        principal = ctx.authorizer.require_agent(request, spec.http_auth)
        given = session_id_of(request, new=False)
        asked = parse_turn_request(await read_json_object(request, settings.max_body_bytes))
        if asked.discard:
            raise ApiError(400, '"discard" is answered by /chat, not by the stream', "invalid_request")
        if asked.decisions is not None:
            _needs_session(given)
        session_id = given or session_id_of(request, new=True)
        assert session_id is not None
        if given is not None:
            # Refusals (a pending turn, another caller's session) as HTTP statuses, not stream
            # errors; a race with another request is still caught inside the stream.
            with refusals(session_id):
                pending = await ctx.runner.pending(spec.slug, session_id, principal=principal)
                if pending is not None and asked.decisions is None and not pending.expired:
                    raise TurnPendingError(session_id, pending)
        frames = _chat_frames(ctx, spec.slug, asked, session_id, principal)
        return EventStream(frames, headers={SESSION_HEADER: session_id})

    @api_endpoint
    async def history(request: Request) -> Response:
        spec = ctx.spec(request.path_params["slug"], "chat_api")
        principal = ctx.authorizer.require_agent(request, spec.http_auth)
        session_id = session_id_of(request, new=False)
        if session_id is None:
            return JSONResponse({"messages": [], "truncated": False})
        # Whole turns covering a few messages per entry: a long session is not read in full.
        bound = settings.history_limit * 8
        with refusals(session_id):
            messages = await ctx.runner.history(
                spec.slug, session_id, max_messages=bound, principal=principal
            )
        entries = transcript(messages)
        truncated = len(entries) > settings.history_limit or len(messages) >= bound
        if truncated:
            entries = entries[-settings.history_limit :]
        body: dict[str, Any] = {"session_id": session_id, "messages": entries, "truncated": truncated}
        pending = pending_turn(messages)
        if pending is not None and not pending.expired:
            body["pending"] = pending_of(pending)
        return JSONResponse(body, headers={SESSION_HEADER: session_id, **_NO_STORE})

    return [
        Route("/agents/{slug}/", page, methods=["GET"]),
        Route("/agents/{slug}/chat", chat, methods=["POST"]),
        Route("/agents/{slug}/chatstream", chatstream, methods=["POST"]),
        Route("/agents/{slug}/history", history, methods=["GET"]),
    ]


_NO_STORE = {"cache-control": "no-store"}


async def _chat_frames(
    ctx: ServerContext, slug: str, asked: TurnRequest, session_id: str, principal: str | None
) -> AsyncIterator[bytes]:
    yield frame("session", {"type": "session", "session_id": session_id})
    stream = ctx.runner.stream(
        slug, asked.prompt, session_id=session_id, principal=principal, decisions=asked.decisions
    )
    error_sent = False
    try:
        async for _, event in stream:
            payload = event_payload(event, session_id)
            if payload is not None:
                error_sent |= payload["type"] == "error"
                yield frame(payload["type"], payload)
    except Exception as exc:
        # run_stream reports its own failure as an event before raising it; failures
        # around the run (the session store, a pending turn, an unknown tool set) arrive only here.
        if not error_sent:
            yield frame("error", error_payload(exc, session_id))
        else:
            logger.debug("chat stream of %s ended with %r", slug, exc)
    finally:
        await stream.aclose()


def transcript(messages: list[Message]) -> list[dict[str, Any]]:
    """User and assistant texts; tool calls ride on the next assistant answer.

    Messages the loop wrote for itself (retry prompts) and answers they replaced are
    not part of the conversation a person had, so they are left out.
    """
    kept = [m for m in messages if is_replayable(m)]
    entries: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    records = iter(call_records(kept))
    for message in kept:
        pending.extend(next(records) for _ in message.tool_calls if _.call_id)
        text = message.text
        if message.role == "user" and text:
            if pending:
                entries.append({"role": "assistant", "text": "", "tool_calls": pending})
                pending = []
            entries.append({"role": "user", "text": text})
        elif message.role == "assistant" and text:
            entry: dict[str, Any] = {"role": "assistant", "text": text}
            citations = citations_of(message)
            if citations:
                entry["citations"] = citations
            if pending:
                entry["tool_calls"] = pending
                pending = []
            entries.append(entry)
    if pending:
        entries.append({"role": "assistant", "text": "", "tool_calls": pending})
    return entries

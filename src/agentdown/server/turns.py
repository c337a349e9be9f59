"""What the chat API, the chat stream and MCP share: the turn a request asks for, and its answer.

A request body asks for one of three things:

* ``{"prompt": "..."}``: a new turn (409 while the session's last turn waits for decisions);
* ``{"approvals": {call_id: true|false}, "tool_outputs": {call_id: value}}``: resume the
  pending turn of the session (``x-ms-session-id`` / ``session_id``) with these decisions;
* ``{"discard": true}``: close the pending turn without running its calls.

A paused run answers ``status: "requires_action"`` with ``pending`` (each call's id, tool,
arguments and whether it needs an approval or an output) and ``resume`` (what to send
back). The state itself stays in the session store: a client only ever names calls.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from agentdown.exceptions import ResumeError
from agentdown.knowledge.folder_search import citations_of
from agentdown.loop.events import AgentRunResult, RunStep
from agentdown.messages import Message
from agentdown.runtime import Runner
from agentdown.runtime.pending import (
    NothingPendingError,
    PendingExpiredError,
    PendingTurn,
    SessionNotFoundError,
    TurnPendingError,
    calls_of,
)
from agentdown.runtime.runner import Decisions, TurnResult
from agentdown.server.errors import ApiError, json_type

__all__ = [
    "TurnRequest",
    "call_records",
    "parse_turn_request",
    "pending_of",
    "refusal",
    "refusals",
    "result_summary",
    "step_record",
    "tool_calls_of",
    "turn_body",
]


@dataclass(frozen=True, slots=True)
class TurnRequest:
    prompt: str | None = None
    decisions: Decisions | None = None
    discard: bool = False


def _prompt(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    if isinstance(prompt, str) and prompt.strip():
        return prompt
    if "prompt" not in body:
        got = "nothing"
    elif isinstance(prompt, str):
        got = "a blank string" if prompt else "an empty string"
    else:
        got = f"a JSON {json_type(prompt)}"
    raise ApiError(
        400,
        f'the request body needs "prompt": a non-empty string (got {got}); or "approvals" / '
        '"tool_outputs" to answer a pending turn, or "discard": true',
        "missing_prompt",
    )


def parse_turn_request(body: dict[str, Any]) -> TurnRequest:
    """Which turn ``body`` asks for; 400 naming the field for anything malformed or mixed."""
    answers = [k for k in ("approvals", "tool_outputs") if k in body]
    discard = body.get("discard", False)
    if not isinstance(discard, bool):
        raise ApiError(
            400, f'"discard" must be true or false, got a JSON {json_type(discard)}', "invalid_request"
        )
    asks = sum([bool(answers), discard, "prompt" in body])
    if asks > 1:
        raise ApiError(
            400,
            'send one of "prompt", "approvals"/"tool_outputs" or "discard" per request',
            "invalid_request",
        )
    if discard:
        return TurnRequest(discard=True)
    if not answers:
        return TurnRequest(prompt=_prompt(body))
    # null is "none"; any other non-object (false, [], "") is refused as ChatRequest refuses it.
    approvals = {} if body.get("approvals") is None else body["approvals"]
    outputs = {} if body.get("tool_outputs") is None else body["tool_outputs"]
    if not isinstance(approvals, dict) or not all(isinstance(v, bool) for v in approvals.values()):
        raise ApiError(400, '"approvals" must be an object of call id -> true/false', "invalid_request")
    if not isinstance(outputs, dict):
        raise ApiError(
            400, '"tool_outputs" must be an object of call id -> the tool\'s result', "invalid_request"
        )
    return TurnRequest(decisions=Decisions(approvals=approvals, tool_outputs=outputs))


def pending_of(pending: PendingTurn) -> list[dict[str, Any]]:
    return [c.to_dict() for c in pending.calls]


def _resume_hint(session_id: str, calls: list[dict[str, Any]]) -> dict[str, Any]:
    approvals = {c["tool_call_id"]: True for c in calls if c["kind"] == "approval"}
    outputs = {c["tool_call_id"]: "<the tool's result>" for c in calls if c["kind"] == "output"}
    example: dict[str, Any] = {}
    if approvals:
        example["approvals"] = approvals
    if outputs:
        example["tool_outputs"] = outputs
    return {"session_id": session_id, "send": example}


def refusal(exc: Exception, session_id: str | None) -> ApiError | None:
    """The HTTP answer for a turn the runtime refused, or ``None`` for other errors."""
    if isinstance(exc, TurnPendingError):
        calls = pending_of(exc.pending)
        return ApiError(
            409,
            str(exc),
            "turn_pending",
            extra={
                "session_id": exc.session_id,
                "pending": calls,
                "resume": _resume_hint(exc.session_id, calls),
            },
        )
    if isinstance(exc, NothingPendingError):
        return ApiError(409, str(exc), "nothing_pending")
    if isinstance(exc, PendingExpiredError):
        return ApiError(410, str(exc), "pending_expired")
    if isinstance(exc, SessionNotFoundError):
        return ApiError(404, f"no session {session_id!r} here", "session_not_found")
    if isinstance(exc, ResumeError):
        return ApiError(400, str(exc), "invalid_decisions")
    return None


@contextlib.contextmanager
def refusals(session_id: str | None) -> Iterator[None]:
    """Raise what the runtime refuses inside the block as its HTTP answer (:func:`refusal`)."""
    try:
        yield
    except Exception as exc:
        refused = refusal(exc, session_id)
        if refused is None:
            raise
        raise refused from exc


def call_records(messages: list[Message]) -> list[dict[str, Any]]:
    """Every tool call of ``messages`` with its result (``None`` until it has one), in call order."""
    records: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    for message in messages:
        for content in message.contents:
            if content.type == "tool_call" and content.call_id:
                record = {
                    "tool_call_id": content.call_id,
                    "tool_name": content.name,
                    "arguments": content.arguments,
                    "result": None,
                }
                records.append(record)
                by_id[content.call_id] = record
            elif content.type == "tool_result" and content.call_id in by_id:
                by_id[content.call_id]["result"] = content.text
                if content.is_error:
                    by_id[content.call_id]["is_error"] = True
    return records


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def step_record(step: RunStep) -> dict[str, Any]:
    """One run step as ``/chat``'s ``steps`` and the stream's ``step`` event carry it.

    A step is one model call (its tokens and time) and the tool calls it asked for, each
    with the same arguments and result ``tool_start`` / ``tool_end`` already show: the
    inspector gets timings and tokens, nothing the caller could not see before.
    """
    duration = None if step.completed_at is None else max(0.0, step.completed_at - step.created_at)
    return {
        "step_id": step.id,
        "step_type": step.type,
        "status": step.status,
        "started_at": _seconds(step.created_at),
        "completed_at": _seconds(step.completed_at),
        "duration": _seconds(duration),
        "model_duration": _seconds(step.model_duration),
        "usage": step.usage.to_dict(),
        "tool_calls": [
            {
                "tool_call_id": c.call_id,
                "tool_name": c.name,
                "arguments": c.arguments,
                "result": c.output,
                "is_error": c.is_error,
                "started_at": _seconds(c.started_at),
                "duration": _seconds(c.duration),
            }
            for c in step.tool_calls
        ],
    }


def tool_calls_of(result: AgentRunResult[Any]) -> list[dict[str, Any]]:
    """The run's tool calls as ``/chat`` reports them (``tool_start`` records with their result)."""
    return [{"type": "tool_start", **r} for r in call_records(result.messages)]


def result_summary(result: AgentRunResult[Any], session_id: str) -> dict[str, Any]:
    """What ``done`` and ``/chat`` add beyond the runtime's fields: status, usage, pending calls."""
    summary: dict[str, Any] = {"status": result.status, "usage": result.usage.to_dict()}
    citations = citations_of(result)
    if citations:
        summary["citations"] = citations
    if result.requires_action and result.state is not None:
        calls = [c.to_dict() for c in calls_of(result.state)]
        summary["pending"] = calls
        summary["resume"] = _resume_hint(session_id, calls)
    return summary


def turn_body(turn: TurnResult, model: str | None) -> dict[str, Any]:
    """``/chat``'s answer (the Azure Functions agents runtime's fields first)."""
    return {
        "session_id": turn.session_id,
        "response": turn.result.text,
        "model": model,
        "tool_calls": tool_calls_of(turn.result),
        **result_summary(turn.result, turn.session_id),
    }


async def discard_body(runner: Runner, slug: str, session_id: str, principal: str | None) -> dict[str, Any]:
    pending = await runner.discard(slug, session_id, principal=principal)
    return {"session_id": session_id, "status": "discarded", "discarded": pending_of(pending)}

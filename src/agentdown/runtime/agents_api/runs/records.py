"""Run and run-step bodies: how they are built and how their status changes.

A run body is the served ``thread.run`` plus private keys (``_`` prefix, never served):

* ``_fields``: the request's overrides, so any worker can rebuild the run's plan;
* ``_lease``: ``{"owner", "until"}``, who executes it and until when (renewed);
* ``_conversation``: the run's own messages so far (tool calls and results), the
  checkpoint a worker continues from after the previous one died;
* ``_state``: the signed loop state while ``requires_action``; ``_tool_outputs`` the
  outputs submitted for it, until the run consumed them;
* ``_cancel``: a cancel was requested; the executor stops at its next safe point.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from agentdown import telemetry
from agentdown.knowledge.base import SearchHit
from agentdown.messages import Usage
from agentdown.runtime.agents_api.ids import PREFIXES, new_record_id
from agentdown.runtime.agents_api.objects import now
from agentdown.runtime.agents_api.store import public

__all__ = [
    "close_step",
    "file_search_detail",
    "file_search_results",
    "new_run",
    "new_step",
    "served_step",
    "tool_call_detail",
    "usage_object",
]


def usage_object(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens or usage.input_tokens + usage.output_tokens,
    }


def new_run(
    thread_id: str,
    assistant_id: str,
    *,
    model: str,
    instructions: str,
    tools: list[dict[str, Any]],
    truncation: Mapping[str, Any],
    fields: Mapping[str, Any],
    expires_at: float,
    run_id: str | None = None,
) -> dict[str, Any]:
    created = now()
    body: dict[str, Any] = {
        "id": run_id or new_record_id(PREFIXES["run"]),
        "object": "thread.run",
        "created_at": created,
        "thread_id": thread_id,
        "assistant_id": assistant_id,
        "status": "queued",
        "model": model,
        "instructions": instructions,
        "tools": tools,
        "tool_resources": fields.get("tool_resources") or {},
        "metadata": dict(fields.get("metadata") or {}),
        "expires_at": int(expires_at),
        "temperature": fields.get("temperature"),
        "top_p": fields.get("top_p"),
        "max_prompt_tokens": fields.get("max_prompt_tokens"),
        "max_completion_tokens": fields.get("max_completion_tokens"),
        "truncation_strategy": dict(truncation),
        "tool_choice": fields.get("tool_choice") or "auto",
        "response_format": fields.get("response_format") or "auto",
        "parallel_tool_calls": fields.get("parallel_tool_calls") is not False,
        "_fields": {k: v for k, v in fields.items() if v is not None and k not in ("stream", "metadata")},
        "_conversation": [],
    }
    trace = telemetry.inject()
    if trace:
        # The creating request's trace context: wherever the run executes (here, another
        # worker, after a requeue), its span joins that trace.
        body["_trace"] = trace
    return body


def new_step(run: Mapping[str, Any], kind: str, details: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": new_record_id(PREFIXES["step"]),
        "object": "thread.run.step",
        "created_at": now(),
        "run_id": run["id"],
        "assistant_id": run["assistant_id"],
        "thread_id": run["thread_id"],
        "type": kind,
        "status": "in_progress",
        "step_details": {"type": kind, kind: details} if kind == "message_creation" else details,
        "metadata": {},
    }


def tool_call_detail(call_id: str, name: str, arguments: Any, output: str | None = None) -> dict[str, Any]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments or {}, ensure_ascii=False)
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": text, "output": output},
    }


def file_search_detail(call_id: str, ranking_options: Mapping[str, Any]) -> dict[str, Any]:
    """A ``file_search`` tool call of a step, before its results."""
    return {
        "id": call_id,
        "type": "file_search",
        "file_search": {"ranking_options": dict(ranking_options), "results": []},
    }


def file_search_results(hits: Sequence[SearchHit]) -> list[dict[str, Any]]:
    """The stored results of a ``file_search`` call: with their text, served only when asked for."""
    return [
        {
            "file_id": h.file_id,
            "file_name": h.filename,
            "score": round(float(h.score), 6),
            "content": [{"type": "text", "text": h.text}],
        }
        for h in hits
    ]


def served_step(body: Mapping[str, Any], *, include_content: bool = False) -> dict[str, Any]:
    """The served step: ``file_search`` results lose their ``content`` unless ``include[]`` asked for it."""
    served = public(body)
    details = served.get("step_details")
    if include_content or served.get("type") != "tool_calls" or not isinstance(details, dict):
        return served
    calls = []
    for call in details.get("tool_calls") or []:
        if call.get("type") == "file_search":
            search = dict(call.get("file_search") or {})
            search["results"] = [
                {k: v for k, v in r.items() if k != "content"} for r in search.get("results") or []
            ]
            call = {**call, "file_search": search}
        calls.append(call)
    return {**served, "step_details": {**details, "tool_calls": calls}}


def close_step(step: Mapping[str, Any], status: str, not_run: str, stamp: int) -> dict[str, Any]:
    """``step`` ended with ``status``; each of its tool calls without an output gets ``not_run``,
    so no call is left unanswered in the audit trail."""
    body = dict(step)
    if body["type"] == "tool_calls":
        for call in body["step_details"]["tool_calls"]:
            if call.get("type") == "function" and call["function"].get("output") is None:
                call["function"]["output"] = not_run
    body.update(status=status, **{f"{status}_at": stamp})
    return body

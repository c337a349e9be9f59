"""Executes one run: the loop's events become run steps, thread messages and stream frames.

The executor holds the run's lease while it works (see :mod:`.lease`), persists each
finished model call and tool call as it happens, and ends the run in exactly one
terminal status. What it persists is what another worker needs to continue after
this one died: the run's own messages so far (``_conversation``) and each tool
call's output in its step. A tool call that had started but not finished when its
worker died is **not run again** (it may have had effects: a payment, an email); it
gets an error result saying so, and the model decides what to do next.

Storage that stays unavailable through the store's retries
(:class:`~..store.StoreUnavailableError`) does not end the run: it is raised to the
caller, whose job stays on the queue, and the run goes on from its last checkpoint
when the job comes back (ending it ``failed`` would need a write that cannot land).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from agentdown.knowledge.base import SearchHit
from agentdown.knowledge.file_search import FileSearchTool, cite
from agentdown.loop.engine import SUPERSEDED
from agentdown.loop.events import (
    MessageCompletedEvent,
    RunCompletedEvent,
    RunEvent,
    StepCompletedEvent,
    TextDeltaEvent,
    ToolCallEndEvent,
)
from agentdown.messages import Content, Message, Usage
from agentdown.runtime.agents_api.code_interpreter import RunCodeInterpreter
from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.images import resolve_images
from agentdown.runtime.agents_api.objects import (
    FILE_URI,
    message_object,
    now,
    text_block,
    to_model_message,
)
from agentdown.runtime.agents_api.runs.lease import Lease, LeaseLost
from agentdown.runtime.agents_api.runs.plan import RunPlan, plan_run, resolve_assistant
from agentdown.runtime.agents_api.runs.records import (
    close_step,
    file_search_detail,
    file_search_results,
    new_step,
    served_step,
    tool_call_detail,
    usage_object,
)
from agentdown.runtime.agents_api.search_tools import FILE_SEARCH_CONTENT
from agentdown.runtime.agents_api.store import Create, Record, Replace, StoreUnavailableError, public
from agentdown.sessions import Session
from agentdown.sessions.truncation import DEFAULT_MAX_INPUT_TOKENS, estimate_tokens

__all__ = ["INTERRUPTED_RESULT", "Emit", "execute_run"]

logger = logging.getLogger("agentdown.agents_api")

Emit = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Receives each stream frame: ``(event name, served body)``."""

INTERRUPTED_RESULT = (
    "Error: the worker running this tool call stopped before it finished. It was not run again, "
    "because it may have had effects already; check before calling it again."
)
_HISTORY_PAGE = 100


async def _no_emit(event: str, body: dict[str, Any]) -> None:
    return None


class _Stop(Exception):
    """The run must end now: cancelled, or out of its token budget."""

    def __init__(self, status: str, reason: str | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.reason = reason


class _Execution:
    def __init__(self, api: AgentsApi, lease: Lease, emit: Emit, cancel: asyncio.Event) -> None:
        self.api = api
        self.lease = lease
        self.raw_emit = emit
        self.cancel = cancel
        self.run = lease.body
        self.thread_id = str(self.run["thread_id"])
        self.run_id = str(self.run["id"])
        self.step_usage: dict[str, dict[str, int]] = dict(self.run.get("_step_usage") or {})
        """Usage by loop step id: a resumed run reports its paused step again, counted once."""
        self.usage = _total(self.step_usage)
        self.message: Record | None = None
        """The thread message being streamed (once its record is written)."""
        self.message_id: str | None = None
        self.opening: asyncio.Task[None] | None = None
        self.expires = False
        """The run ends ``expired`` at ``expires_at`` (it has ``azure_function`` tools, which wait until then)."""
        self.whole: Message | None = None
        """A text reply that came whole, written at its step's end."""
        self.message_step: Record | None = None
        self.text = ""
        self.tool_step: Record | None = None
        self.finished_text: tuple[Message, Record] | None = None
        """The last text answer written, until we know a format retry did not supersede it."""
        self.unwritten: tuple[Message, list[Create], list[tuple[str, dict[str, Any]]]] | None = None
        """A whole answer of a run nobody streams: its writes wait to go with the next one.

        Usually that is the run's completion, so a short run costs one write fewer;
        nobody can observe the difference, since nothing was emitted yet."""
        self.search: FileSearchTool | None = None
        self.interpreter: RunCodeInterpreter | None = None
        """The run's ``code_interpreter`` (its calls are steps of that type, its images the answer's)."""
        self.openapi: set[str] = set()
        """Names of the run's ``openapi`` operations (their calls are steps of that type)."""
        self.kinds: set[str] = set()
        """Names of the run's ``azure_ai_search`` tools (their calls are steps of that type)."""
        """The run's ``file_search`` tool: its calls' results go to the steps, its hits to citations."""
        self.include_content = FILE_SEARCH_CONTENT in (self.run.get("_fields") or {}).get("include", [])
        """``include[]`` asked for the file search results' text in the streamed steps."""

    async def emit(self, event: str, body: dict[str, Any]) -> None:
        if event.startswith("thread.run.step."):
            body = served_step(body, include_content=self.include_content)
        await self.raw_emit(event, body)

    def answer_block(self, text: str) -> dict[str, Any]:
        """The answer's text block, its file search markers as ``file_citation`` annotations."""
        block = text_block(text)
        if self.search is not None and self.search.hits:
            _, citations = cite(text, self.search.hits)
            block["text"]["annotations"] = [c.to_annotation() for c in citations]
        return block

    def image_blocks(self) -> list[dict[str, Any]]:
        """``image_file`` contents of the images the code interpreter wrote since the last answer."""
        if self.interpreter is None or not self.interpreter.images:
            return []
        images, self.interpreter.images = self.interpreter.images, []
        return [{"type": "image_file", "image_file": {"file_id": i}} for i in images]

    # --- writes -------------------------------------------------------------------------------

    async def _put_step(self, step: Record, body: dict[str, Any]) -> Record:
        return await self.api.store.replace(step, body)

    async def _new_step(self, kind: str, details: dict[str, Any]) -> Record:
        await self._opened()
        body = new_step(self.run, kind, details)
        record = await self.api.store.create("step", self.run_id, body["id"], body)
        await self.emit("thread.run.step.created", public(body))
        await self.emit("thread.run.step.in_progress", public(body))
        return record

    async def _checkpoint(self, **changes: Any) -> None:
        """Persist the run (its usage and ``changes``); stop if a cancel arrived meanwhile."""
        await self._opened()
        self.run = await self.lease.update(_step_usage=self.step_usage, **changes)
        if self.run.get("_cancel") or self.cancel.is_set():
            raise _Stop("cancelled")

    # --- events -------------------------------------------------------------------------------

    async def on_delta(self, event: TextDeltaEvent) -> None:
        if self.message_id is None:
            await self._settle_previous()
            body = message_object(
                self.thread_id,
                "assistant",
                [],
                assistant_id=str(self.run["assistant_id"]),
                run_id=self.run_id,
                status="in_progress",
            )
            step = new_step(self.run, "message_creation", {"message_id": body["id"]})
            self.message_id = str(body["id"])
            # The client reads the first token now; the two records are written meanwhile, and
            # every later write of this run waits for them (:meth:`_opened`).
            self.opening = asyncio.create_task(self._open(step, body))
            await self.emit("thread.run.step.created", public(step))
            await self.emit("thread.run.step.in_progress", public(step))
            await self.emit("thread.message.created", public(body))
            await self.emit("thread.message.in_progress", public(body))
        self.text += event.text
        await self.emit(
            "thread.message.delta",
            {
                "id": self.message_id,
                "object": "thread.message.delta",
                "delta": {
                    "content": [
                        {"index": 0, "type": "text", "text": {"value": event.text, "annotations": []}}
                    ]
                },
            },
        )

    async def _open(self, step: dict[str, Any], message: dict[str, Any]) -> None:
        self.message_step, self.message = await self.api.store.write(
            [
                Create("step", self.run_id, step["id"], step),
                Create("message", self.thread_id, message["id"], message),
            ]
        )

    async def _opened(self) -> None:
        """Wait for the streamed message's records (their write started with the first token).

        Also writes a deferred whole answer (:attr:`unwritten`): every write of the run
        comes through here first, so the thread's order of records is kept.
        """
        if self.opening is not None:
            opening, self.opening = self.opening, None
            await opening
        if self.unwritten is not None:
            answer, ops, events = self.unwritten
            self.unwritten = None
            written = await self.api.store.write(ops)
            await self._emit_all(events)
            self.finished_text = (answer, written[-1])

    def take_unwritten(self) -> list[Create]:
        """The deferred answer's writes, for the caller to put in its own write."""
        if self.unwritten is None:
            return []
        _, ops, _ = self.unwritten
        self.unwritten = None
        return ops

    async def _emit_all(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        for event, payload in events:
            await self.emit(event, public(payload))

    async def on_message(self, message: Message) -> None:
        if message.role == "assistant":
            await self._settle_previous()
            if message.text and self.message_id is None:
                if not message.tool_calls:
                    # A whole reply (nobody streams this run): written once, with its step, at on_step.
                    self.whole = message
                else:
                    await self.on_delta(TextDeltaEvent(message.text))
            if message.tool_calls:
                if self.message_id is not None:
                    await self._finish_text(message, Usage())
                calls = [
                    self._call_detail(c.call_id or "", c.name or "", c.arguments) for c in message.tool_calls
                ]
                self.tool_step = await self._new_step(
                    "tool_calls", {"type": "tool_calls", "tool_calls": calls}
                )
        if message.role == "tool" or message.tool_calls:
            # What a takeover continues from; a text answer needs no checkpoint: the run ends next.
            await self._checkpoint(_conversation=[*self.run.get("_conversation", []), message.to_dict()])

    def _call_detail(self, call_id: str, name: str, arguments: Any) -> dict[str, Any]:
        if self.search is not None and name == self.search.name:
            return file_search_detail(call_id, self.search.ranking_options)
        if name == "azure_ai_search" and name in self.kinds:
            text = (
                arguments if isinstance(arguments, str) else json.dumps(arguments or {}, ensure_ascii=False)
            )
            return {
                "id": call_id,
                "type": "azure_ai_search",
                "azure_ai_search": {"input": text, "output": None},
            }
        if self.interpreter is not None and name == self.interpreter.name:
            code = arguments.get("code") if isinstance(arguments, dict) else arguments
            return {
                "id": call_id,
                "type": "code_interpreter",
                "code_interpreter": {"input": str(code or ""), "outputs": []},
            }
        if name in self.openapi:
            text = (
                arguments if isinstance(arguments, str) else json.dumps(arguments or {}, ensure_ascii=False)
            )
            return {
                "id": call_id,
                "type": "openapi",
                "openapi": {"name": name, "arguments": text, "output": None},
            }
        return tool_call_detail(call_id, name, arguments)

    async def on_tool_end(self, event: ToolCallEndEvent) -> None:
        if self.tool_step is None:
            return
        body = dict(self.tool_step.body)
        for call in body["step_details"]["tool_calls"]:
            if call["id"] != event.call_id:
                continue
            if call["type"] in ("azure_ai_search", "openapi"):
                call[call["type"]]["output"] = event.output
            elif call["type"] == "code_interpreter" and self.interpreter is not None:
                done = self.interpreter.calls.get(event.call_id) or {}
                call["code_interpreter"]["outputs"] = done.get("outputs", [])
            elif call["type"] == "file_search":
                found = self.search.calls.get(event.call_id) if self.search is not None else None
                call["file_search"]["results"] = file_search_results(found[1] if found else [])
            else:
                call["function"]["output"] = event.output
        self.tool_step = await self._put_step(self.tool_step, body)

    async def on_step(self, event: StepCompletedEvent) -> None:
        step = event.step
        self.step_usage[step.id] = step.usage.to_dict()
        self.usage = _total(self.step_usage)
        if step.type == "tool_calls" and self.tool_step is not None:
            outputs = {c.call_id: c.output for c in step.tool_calls}
            if any(v is None for v in outputs.values()):
                return  # paused: the step goes on when the outputs come
            body = dict(self.tool_step.body)
            for call in body["step_details"]["tool_calls"]:
                if call["type"] == "function":
                    call["function"]["output"] = outputs.get(call["id"], call["function"]["output"])
            body.update(status="completed", completed_at=now(), usage=usage_object(step.usage))
            self.tool_step = await self._put_step(self.tool_step, body)
            await self.emit("thread.run.step.completed", public(body))
            self.tool_step = None
        elif self.whole is not None:
            await self._write_whole(self.whole, step.usage)
        elif self.message_id is not None:
            answer = Message.assistant(self.text)
            await self._finish_text(answer, step.usage)
        self._check_budget()
        if self.cancel.is_set():
            raise _Stop("cancelled")

    async def _finish_text(self, answer: Message, usage: Usage) -> None:
        await self._opened()
        assert self.message is not None and self.message_step is not None
        body = dict(self.message.body)
        body.update(
            status="completed",
            completed_at=now(),
            content=[self.answer_block(self.text or answer.text), *self.image_blocks()],
        )
        step = dict(self.message_step.body)
        step.update(status="completed", completed_at=now(), usage=usage_object(usage))
        message, _ = await self.api.store.write(
            [Replace(self.message, body), Replace(self.message_step, step)]
        )
        await self.emit("thread.message.completed", public(body))
        await self.emit("thread.run.step.completed", public(step))
        self.finished_text = (answer, message)
        self.message, self.message_step, self.message_id, self.text = None, None, None, ""

    async def _write_whole(self, answer: Message, usage: Usage) -> None:
        """A text reply that came whole: its message and its step, both completed, in one write."""
        self.whole = None
        await self._opened()
        body = message_object(
            self.thread_id,
            "assistant",
            [self.answer_block(answer.text), *self.image_blocks()],
            assistant_id=str(self.run["assistant_id"]),
            run_id=self.run_id,
        )
        step = new_step(self.run, "message_creation", {"message_id": body["id"]})
        step.update(status="completed", completed_at=now(), usage=usage_object(usage))
        ops: list[Create] = [
            Create("step", self.run_id, step["id"], step),
            Create("message", self.thread_id, body["id"], body),
        ]
        events = [
            ("thread.run.step.created", step),
            ("thread.message.created", body),
            ("thread.message.completed", body),
            ("thread.run.step.completed", step),
        ]
        if self.raw_emit is _no_emit:
            self.unwritten = (answer, ops, events)
            return
        _, message = await self.api.store.write(ops)
        await self._emit_all(events)
        self.finished_text = (answer, message)

    async def _settle_previous(self) -> None:
        """A format retry replaced the last answer: take it out of the thread (its step stays)."""
        if self.unwritten is not None and self.unwritten[0].metadata.get(SUPERSEDED):
            await self._opened()
        if self.finished_text is None:
            return
        answer, record = self.finished_text
        self.finished_text = None
        if answer.metadata.get(SUPERSEDED):
            await self.api.store.delete("message", self.thread_id, record.id)

    def _check_budget(self) -> None:
        limit = self.run.get("max_completion_tokens")
        if limit is not None and self.usage.output_tokens > limit:
            raise _Stop("incomplete", "max_completion_tokens")
        limit = self.run.get("max_prompt_tokens")
        if limit is not None and self.usage.input_tokens > limit:
            raise _Stop("incomplete", "max_prompt_tokens")


async def execute_run(
    api: AgentsApi,
    lease: Lease,
    *,
    emit: Emit | None = None,
    cancel: asyncio.Event | None = None,
    plan: RunPlan | None = None,
) -> dict[str, Any]:
    """Run the leased run to a terminal status or ``requires_action``; the final body.

    ``plan`` is the one made when the run was created in this process (else it is made again).
    """
    ex = _Execution(api, lease, emit or _no_emit, cancel or asyncio.Event())
    run = ex.run
    try:
        if plan is None:
            assistant = await resolve_assistant(api, str(run["assistant_id"]))
            plan = await plan_run(
                api,
                assistant,
                run.get("_fields") or {},
                run_id=ex.run_id,
                deadline=float(run["expires_at"]),
                owner=str(run.get("_owner", "")),
                thread={"id": ex.thread_id},
                check_resources=False,
            )
        ex.expires = bool(plan.azure_functions())
        ex.search = plan.file_search()
        ex.kinds = {t.name for t in plan.agent.tools if getattr(t, "kind", None) == "azure_ai_search"}
        ex.openapi = {t.name for t in plan.agent.tools if getattr(t, "kind", None) == "openapi"}
        ex.interpreter = next((t for t in plan.agent.tools if isinstance(t, RunCodeInterpreter)), None)
        if ex.search is not None and (run.get("_conversation") or run.get("_state") is not None):
            await _seed_hits(ex, ex.search)
        events = await _start(ex, plan)
        try:
            async for event in events:
                await _dispatch(ex, event)
                if isinstance(event, RunCompletedEvent):
                    return await _completed(ex, plan, event)
        finally:
            await events.aclose()
    except _Stop as stop:
        return await _end(ex, stop.status, reason=stop.reason)
    except (LeaseLost, StoreUnavailableError):
        raise
    except Exception as exc:
        logger.warning("run %s failed: %s", ex.run_id, exc)
        return await _end(ex, "failed", error=_error_of(exc))
    raise AssertionError("the run loop ended without a result")  # pragma: no cover


async def _start(ex: _Execution, plan: RunPlan) -> Any:
    run = ex.run
    history = await _history(ex, plan)
    outputs = run.get("_tool_outputs")
    conversation = [Message.from_dict(m) for m in run.get("_conversation") or []]
    options = plan.options
    # Tokens one by one only for a client reading them: a run nobody streams asks for whole replies.
    streamed = ex.raw_emit is not _no_emit
    if outputs is not None and run.get("_state") is not None:
        waiting = await ex.api.store.list("step", ex.run_id, limit=5, where={"status": "in_progress"})
        ex.tool_step = next((r for r in waiting.records if r.body["type"] == "tool_calls"), None)
        await ex._checkpoint(_tool_outputs=None)
        return plan.agent.run_stream(
            resume=run["_state"],
            tool_outputs=outputs,
            session=Session(id=ex.run_id, messages=history),
            options=options,
            stream_model=streamed,
        )
    if conversation:
        conversation = await _recover(ex, conversation, plan)
    return plan.agent.run_stream(
        [],
        session=Session(id=ex.run_id, messages=[*history, *conversation]),
        options=options,
        stream_model=streamed,
    )


async def _dispatch(ex: _Execution, event: RunEvent) -> None:
    if ex.cancel.is_set():
        raise _Stop("cancelled")
    if ex.expires and time.time() >= float(ex.run["expires_at"]):
        raise _Stop("expired")  # waited for an Azure Function past expires_at, as the service ends it
    if isinstance(event, TextDeltaEvent):
        await ex.on_delta(event)
    elif isinstance(event, MessageCompletedEvent):
        await ex.on_message(event.message)
    elif isinstance(event, ToolCallEndEvent):
        await ex.on_tool_end(event)
    elif isinstance(event, StepCompletedEvent):
        await ex.on_step(event)


async def _history(ex: _Execution, plan: RunPlan) -> list[Message]:
    """The thread's messages the model sees, oldest first (this run's own are its conversation)."""
    collected: list[Message] = []
    budget = DEFAULT_MAX_INPUT_TOKENS
    async for body in _newest_first(ex, plan):
        if body.get("run_id") == ex.run_id:
            continue
        message = to_model_message(body)
        collected.append(message)
        budget -= estimate_tokens(message)
        if plan.history_limit is not None and len(collected) >= plan.history_limit:
            break
        if plan.history_limit is None and budget <= 0:
            break
    if any(c.type == "uri" and (c.uri or "").startswith(FILE_URI) for m in collected for c in m.contents):
        await resolve_images(ex.api.files(), collected, str(ex.run.get("_owner", "")))
    return collected[::-1]


async def _newest_first(ex: _Execution, plan: RunPlan) -> AsyncIterator[dict[str, Any]]:
    """The thread's message bodies, newest first, a page at a time (none read when the plan has them)."""
    if plan.thread_messages is not None:
        for body in reversed(plan.thread_messages):
            yield body
        return
    after: str | None = None
    while True:
        page = await ex.api.store.list(
            "message", ex.thread_id, limit=_HISTORY_PAGE, order="desc", after=after
        )
        for record in page.records:
            yield record.body
        if not page.has_more or not page.records:
            return
        after = page.records[-1].id


async def _recover(ex: _Execution, conversation: list[Message], plan: RunPlan) -> list[Message]:
    """After a dead worker: drop its unfinished message, settle its unfinished tool calls.

    An unfinished ``azure_function`` call is waited for (its message is on the queue, and
    the function's reply comes to whoever executes the run now); any other unfinished
    call gets :data:`INTERRUPTED_RESULT`.
    """
    functions = plan.azure_functions()
    pending = {c.call_id: c.name for m in conversation[-1:] for c in m.tool_calls}
    store = ex.api.store
    page = await store.list("message", ex.thread_id, limit=20, order="desc", where={"run_id": ex.run_id})
    for record in page.records:
        if record.body.get("status") == "in_progress":
            await store.delete("message", ex.thread_id, record.id)
    steps = await store.list("step", ex.run_id, limit=100, order="desc", where={"status": "in_progress"})
    outputs: dict[str, str] = {}
    for step in steps.records:
        body = dict(step.body)
        if body["type"] == "tool_calls":
            for call in body["step_details"]["tool_calls"]:
                if call["type"] != "function":
                    outputs[call["id"]] = INTERRUPTED_RESULT
                    continue
                fn = call["function"]
                if fn["output"] is None and pending.get(call["id"]) in functions:
                    fn["output"] = await _awaited_reply(functions[str(pending[call["id"]])], call["id"])
                fn["output"] = fn["output"] if fn["output"] is not None else INTERRUPTED_RESULT
                outputs[call["id"]] = fn["output"]
            body.update(status="completed", completed_at=now())
        else:
            body.update(
                status="failed",
                failed_at=now(),
                last_error={"code": "server_error", "message": "worker stopped"},
            )
        await store.replace(step, body)
    answered = {c.call_id for m in conversation for c in m.tool_results}
    last = conversation[-1]
    missing = [c for c in last.tool_calls if c.call_id not in answered]
    if missing:
        results = [
            Content.from_tool_result(
                c.call_id or "",
                outputs.get(c.call_id or "", INTERRUPTED_RESULT),
                name=c.name,
                is_error=outputs.get(c.call_id or "", INTERRUPTED_RESULT) == INTERRUPTED_RESULT,
            )
            for c in missing
        ]
        conversation.append(Message(role="tool", contents=results))
        await ex._checkpoint(_conversation=[m.to_dict() for m in conversation])
    logger.info("run %s continues after its worker stopped", ex.run_id)
    return conversation


async def _seed_hits(ex: _Execution, search: FileSearchTool) -> None:
    """A resumed run's earlier file search results, so the markers the model saw still cite."""
    after: str | None = None
    while True:
        page = await ex.api.store.list("step", ex.run_id, limit=100, order="asc", after=after)
        for record in page.records:
            details = record.body.get("step_details") or {}
            for call in details.get("tool_calls") or [] if record.body.get("type") == "tool_calls" else []:
                if call.get("type") != "file_search":
                    continue
                for result in (call.get("file_search") or {}).get("results") or []:
                    text = "".join(str(c.get("text", "")) for c in result.get("content") or [])
                    search.hits.append(
                        SearchHit(
                            str(result["file_id"]), str(result["file_name"]), float(result["score"]), text, 0
                        )
                    )
        if not page.has_more or not page.records:
            return
        after = page.records[-1].id


async def _awaited_reply(tool: Any, call_id: str) -> str:
    from agentdown.runtime.queue_tools.tool import QueueToolTimeoutError
    from agentdown.tools.results import serialize_result

    try:
        value = await tool.resume(call_id)
    except QueueToolTimeoutError:
        raise _Stop("expired") from None
    text, _ = serialize_result(value)
    return text


async def _completed(ex: _Execution, plan: RunPlan, event: RunCompletedEvent) -> dict[str, Any]:
    result = event.result
    await ex._settle_previous()
    if result.status == "requires_action":
        if result.approval_requests:
            names = sorted({r.name for r in result.approval_requests})
            return await _end(
                ex,
                "failed",
                error={
                    "code": "approval_required",
                    "message": f"tool(s) {names} need a human approval, which the Agents API cannot ask for; "
                    "run this agent through the chat API instead",
                },
            )
        calls = [
            {
                "id": c.call_id,
                "type": "function",
                "function": tool_call_detail("", c.name or "", c.arguments)["function"],
            }
            for c in result.pending_tool_calls
        ]
        for call in calls:
            call["function"].pop("output", None)
        body = await ex.lease.release(
            status="requires_action",
            required_action={"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": calls}},
            _state=result.state,
            _step_usage=ex.step_usage,
        )
        await ex.emit("thread.run.requires_action", public(body))
        return body
    if result.status == "incomplete":
        return await _end(ex, "incomplete", reason="run_ended")
    return await _end(ex, "completed")


async def _end(
    ex: _Execution, status: str, *, reason: str | None = None, error: dict[str, str] | None = None
) -> dict[str, Any]:
    """Close what is open (steps, the streamed message) and give the run its terminal status."""
    store, stamp = ex.api.store, now()
    with _best_effort():
        await ex._settle_previous()
    # A completed run's deferred answer goes in the run's last write; otherwise it is written first.
    answer_ops = ex.take_unwritten() if status == "completed" else []
    with _best_effort():
        await ex._opened()
    if ex.message is not None:
        body = dict(ex.message.body)
        body.update(
            status="incomplete",
            content=[text_block(ex.text)],
            incomplete_at=stamp,
            incomplete_details={"reason": reason or status},
        )
        with _best_effort():
            await store.replace(ex.message, body)
        await ex.emit("thread.message.incomplete", public(body))
    step_status = {"cancelled": "cancelled", "failed": "failed", "expired": "expired"}.get(
        status, "completed"
    )
    for step in (ex.message_step, ex.tool_step):
        if step is None:
            continue
        body = close_step(step.body, step_status, f"Not run: the run was {status}.", stamp)
        if error is not None:
            body["last_error"] = error
        with _best_effort():
            await store.replace(step, body)
        await ex.emit(f"thread.run.step.{step_status}", public(body))
    changes: dict[str, Any] = {
        "status": status,
        "required_action": None,
        "_state": None,
        "_tool_outputs": None,
        "usage": usage_object(ex.usage),
        "_usage": ex.usage.to_dict(),
    }
    if status == "completed":
        changes["completed_at"] = stamp
    elif status == "failed":
        changes.update(
            failed_at=stamp, last_error=error or {"code": "server_error", "message": "the run failed"}
        )
    elif status == "cancelled":
        changes["cancelled_at"] = stamp
    elif status == "incomplete":
        changes.update(incomplete_details={"reason": reason or "run_ended"}, completed_at=stamp)
    body = await ex.lease.release(answer_ops, **changes)
    await ex.emit(f"thread.run.{status}", public(body))
    return body


@contextlib.contextmanager
def _best_effort() -> Iterator[None]:
    """Closing writes whose failure does not change the run's end, unless storage is down.

    Then the run must not end over records that never landed: it is left for redelivery.
    """
    try:
        yield
    except StoreUnavailableError:
        raise
    except Exception as exc:
        logger.debug("a closing write failed: %s", exc)


def _total(by_step: dict[str, dict[str, int]]) -> Usage:
    total = Usage()
    for usage in by_step.values():
        total = total + Usage(**usage)
    return total


def _error_of(exc: BaseException) -> dict[str, str]:
    """What the caller reads about a failure: its kind, never a provider's response body or a URL."""
    from agentdown.exceptions import (
        ModelError,
        RunTimeoutError,
        StructuredOutputError,
        ToolsetUnavailableError,
    )
    from agentdown.runtime.agents_api.errors import ApiProblem

    status = getattr(exc, "status", None)
    if isinstance(exc, ModelError):
        if status == 429:
            return {
                "code": "rate_limit_exceeded",
                "message": "the model provider is rate limiting; retry later",
            }
        detail = f" (HTTP {status})" if isinstance(status, int) else ""
        return {
            "code": "model_error",
            "message": f"the model call failed{detail}; the server log has details",
        }
    if isinstance(exc, RunTimeoutError):
        return {"code": "timeout", "message": str(exc)}
    if isinstance(exc, StructuredOutputError):
        return {"code": "invalid_response_format", "message": str(exc)[:500]}
    if isinstance(exc, ToolsetUnavailableError):
        return {"code": "tool_unavailable", "message": str(exc)[:500]}
    if isinstance(exc, ApiProblem):
        return {"code": exc.code, "message": exc.message}
    return {
        "code": "server_error",
        "message": f"the run failed ({type(exc).__name__}); the server log has details",
    }

"""The run loop: model call -> tool calls -> model call ... -> final answer.

One engine serves both ``run`` and ``run_stream``: it is an async generator of
:mod:`events <agentdown.loop.events>`; ``run`` simply drains it. Each iteration
decides an explicit next step (a small dataclass) instead of juggling flags.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentdown.exceptions import RunTimeoutError, StructuredOutputError, UnexpectedModelBehavior
from agentdown.loop.config import FunctionInvocationConfiguration
from agentdown.loop.events import (
    AgentRunResult,
    ApprovalRequest,
    MessageCompletedEvent,
    ReasoningDeltaEvent,
    RunCompletedEvent,
    RunEvent,
    RunStep,
    StepCompletedEvent,
    TextDeltaEvent,
    ToolCallEndEvent,
    ToolCallRecord,
    ToolCallStartEvent,
)
from agentdown.loop.signing import sign_state
from agentdown.loop.state import PendingDecisions, RunState, needs_decision
from agentdown.loop.structured import OutputSpec, OutputValidationError
from agentdown.messages import Content, Message, Usage, new_id
from agentdown.models import tracing as traced
from agentdown.models.base import (
    ChatModel,
    ChatOptions,
    ChatResponse,
    ReasoningDelta,
    TextDelta,
    ToolDefinition,
)
from agentdown.sessions import Session
from agentdown.sessions.stored import StoredSession
from agentdown.sessions.truncation import TruncationStrategy, truncate
from agentdown.tools import Tool, ToolCallOutcome, invoke_tool_call
from agentdown.tools.results import serialize_result

logger = logging.getLogger("agentdown.run")

__all__ = ["RunSetup", "is_replayable", "run_events"]

CANCELLED_RESULT = "The tool call was cancelled before it finished."
REJECTED_RESULT = "The user rejected this tool call; it was not executed."
SYNTHETIC = "agentdown.synthetic"
"""Metadata key of messages the loop wrote itself (the retry prompt after an invalid answer)."""
SUPERSEDED = "agentdown.superseded"
"""Metadata key of an answer a retry replaced: kept for the record, never replayed."""


def is_replayable(message: Message) -> bool:
    """False for messages that belong to one run's bookkeeping (retry prompts, rejected answers)."""
    meta = message.metadata
    return not meta or (SYNTHETIC not in meta and SUPERSEDED not in meta)


@dataclass(slots=True)
class RunSetup:
    """Everything fixed for the duration of one run."""

    model: ChatModel
    system_prompt: str | None
    tools: Mapping[str, Tool]
    """Every executable tool by name (advertised and ``additional_tools``)."""
    definitions: Sequence[ToolDefinition]
    """What the model is offered."""
    middleware: Sequence[object]
    config: FunctionInvocationConfiguration
    options: ChatOptions
    output: OutputSpec | None
    output_retries: int
    session: Session | None
    function_invocation_kwargs: dict[str, Any]
    deadline: float | None
    """``loop.time()`` by which the run must end."""
    streaming: bool = False
    author_name: str | None = None
    truncation: TruncationStrategy | None = None
    """How much history the model sees; ``None`` sends everything."""
    max_input_tokens: int | None = None
    """The ``auto`` strategy's budget for the whole request."""
    reserved_tokens: int = 0
    """Tokens the request spends outside the messages (tool definitions)."""
    state_key: Callable[[], bytes] | None = None
    """Returns the key that signs the state of a paused run."""


# --- next steps --------------------------------------------------------------


@dataclass(slots=True)
class _CallModel:
    pass


@dataclass(slots=True)
class _RunTools:
    message: Message
    step: RunStep
    decisions: PendingDecisions | None = None


@dataclass(slots=True)
class _Pause:
    message: Message
    step: RunStep
    approvals: list[Content]
    declaration_only: list[Content]


@dataclass(slots=True)
class _Final:
    message: Message


@dataclass(slots=True)
class _Stopped:
    """Ended early (unknown tool with ``terminate_on_unknown_calls``)."""


_NextStep = _CallModel | _RunTools | _Pause | _Final | _Stopped


@dataclass(slots=True)
class _Run:
    setup: RunSetup
    history: list[Message]
    new_messages: list[Message]
    steps: list[RunStep] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    state: RunState = field(default_factory=RunState)
    finished: bool = False
    """Set once the session got this run's messages (or the run paused): never commit twice."""
    tools_ran: bool = False
    """A tool was executed (or given its output) in this run: its effects must not be redone."""

    def conversation(self) -> list[Message]:
        setup = self.setup
        head = [Message.system(setup.system_prompt)] if setup.system_prompt else []
        messages = [*head, *self.history, *self.new_messages]
        if setup.truncation is not None:
            # A StoredSession counted its messages when it was loaded (a TokenCache): reuse those
            # counts. Looked up by name so this method needs no import of its own.
            messages = truncate(
                messages,
                setup.truncation,
                max_input_tokens=setup.max_input_tokens,
                reserved_tokens=setup.reserved_tokens,
                count_tokens=getattr(setup.session, "count_tokens", None),
            )
        # Earlier runs' bookkeeping (retry prompts, replaced answers) is not conversation; this
        # run's own is. Filtered after truncation, so the cost follows what is sent.
        current = {id(m) for m in self.new_messages}
        # ``not m.metadata`` first: is_replayable's own first test, without the call per message.
        return [m for m in messages if not m.metadata or id(m) in current or is_replayable(m)]

    def guard(self) -> contextlib.AbstractAsyncContextManager[Any]:
        deadline = self.setup.deadline
        return asyncio.timeout_at(deadline) if deadline is not None else contextlib.nullcontext()

    def result(self, status: Any, **extra: Any) -> AgentRunResult[Any]:
        session = self.setup.session
        return AgentRunResult(
            status=status,
            messages=self.new_messages,
            steps=self.steps,
            usage=self.usage,
            session_id=session.id if session is not None else None,
            **extra,
        )

    def commit(self) -> None:
        """Append this run's messages to the session, closing any dangling tool call first."""
        if self.finished:
            return
        self.finished = True
        close_dangling_calls(self.new_messages)
        if self.setup.session is not None:
            self.setup.session.messages.extend(self.new_messages)


def close_dangling_calls(messages: list[Message]) -> None:
    """Give every tool call without a result a 'cancelled' result, so history stays well-formed."""
    answered = {c.call_id for m in messages for c in m.tool_results}
    for message in list(messages):
        missing = [c for c in message.tool_calls if c.call_id not in answered]
        if not missing:
            continue
        results = [
            Content.from_tool_result(c.call_id or "", CANCELLED_RESULT, name=c.name, is_error=True)
            for c in missing
        ]
        insert_at = messages.index(message) + 1
        if insert_at < len(messages) and messages[insert_at].role == "tool":
            messages[insert_at].contents.extend(results)
        else:
            messages.insert(insert_at, Message(role="tool", contents=results))


async def run_events(
    setup: RunSetup, inputs: list[Message], resume: RunState | None = None
) -> AsyncGenerator[RunEvent, None]:
    """Run the loop, yielding events; the last event is :class:`RunCompletedEvent`."""
    history = list(setup.session.messages) if setup.session is not None else []
    run = _Run(setup=setup, history=history, new_messages=list(inputs))
    step: _NextStep = _CallModel()
    if resume is not None:
        run.new_messages = resume.messages
        run.steps = resume.steps
        run.usage = resume.usage
        run.state = resume
        last = run.new_messages[-1]
        step = _RunTools(last, run.steps[-1], resume.decisions)
    try:
        while True:
            if isinstance(step, _CallModel):
                messages, tools = _prepare_call(run)
                started_at, t0 = time.time(), time.perf_counter()
                response: ChatResponse | None = None
                if setup.streaming:
                    async for item in _stream_model(run, messages, tools):
                        if isinstance(item, ChatResponse):
                            response = item
                        else:
                            yield item
                else:
                    async with run.guard():
                        response = await traced.complete(
                            setup.model, messages, tools=tools, options=setup.options
                        )
                _record_response(run, response, started_at, t0)
                assert response is not None
                yield MessageCompletedEvent(response.message)
                step = _decide(run, response)
                if isinstance(step, _Final | _Stopped | _Pause):
                    yield StepCompletedEvent(run.steps[-1])
            elif isinstance(step, _RunTools):
                async for event in _run_tools(run, step):
                    yield event
                step = _CallModel()
            elif isinstance(step, _Final):
                retry = _check_output(run, step.message)
                if retry is not None:
                    run.new_messages.append(retry)
                    step = _CallModel()
                    continue
                run.commit()
                yield RunCompletedEvent(run.result("completed", value=run.state.value))
                return
            elif isinstance(step, _Stopped):
                run.commit()
                yield RunCompletedEvent(run.result("incomplete"))
                return
            else:
                run.finished = True  # a paused run reaches the session only when resumed to the end
                yield RunCompletedEvent(_pause_result(run, step))
                return
    except TimeoutError as exc:
        deadline = setup.deadline
        if deadline is None or asyncio.get_running_loop().time() < deadline:
            _keep_tool_effects(run)
            raise  # a timeout of its own (e.g. the model request's), not the run's
        run.commit()
        raise RunTimeoutError("the run exceeded its timeout; the session keeps the turn so far") from exc
    except (asyncio.CancelledError, GeneratorExit):
        run.commit()
        raise
    except Exception:
        _keep_tool_effects(run)
        raise


def _keep_tool_effects(run: _Run) -> None:
    """After a failure, keep the turn so far if tools ran: a retry must not run them again.

    Without tool calls nothing happened that the session must remember, and a failed run
    leaves it as it was; with them (a payment approved and made, say), the prompt, the
    calls and their results are saved, and the next prompt continues from there.
    """
    if run.tools_ran:
        run.commit()


def _prepare_call(run: _Run) -> tuple[list[Message], Sequence[ToolDefinition]]:
    """The messages and tools of the next model call; counts tool rounds against the limit."""
    setup = run.setup
    offer_tools = setup.config.enabled and not run.state.tools_withdrawn and bool(setup.tools)
    run.state.offered_tools = offer_tools
    if offer_tools:
        run.state.iterations += 1
        if run.state.iterations >= setup.config.max_iterations:
            # The model may use this last tool round; the call after it goes without tools.
            run.state.tools_withdrawn = True
    return run.conversation(), setup.definitions if offer_tools else ()


async def _stream_model(
    run: _Run, messages: list[Message], tools: Sequence[ToolDefinition]
) -> AsyncIterator[TextDeltaEvent | ReasoningDeltaEvent | ChatResponse]:
    setup = run.setup
    stream = traced.stream(setup.model, messages, tools=tools, options=setup.options).__aiter__()
    while True:
        try:
            async with run.guard():
                item = await anext(stream)
        except StopAsyncIteration:
            return
        if isinstance(item, TextDelta):
            yield TextDeltaEvent(item.text)
        elif isinstance(item, ReasoningDelta):
            yield ReasoningDeltaEvent(item.text)
        elif isinstance(item, ChatResponse):
            yield item


def _record_response(run: _Run, response: ChatResponse | None, started_at: float, t0: float) -> None:
    """Add the model's reply to the run, with its run step and usage."""
    setup = run.setup
    if response is None:
        raise UnexpectedModelBehavior("the model stream ended without a final response")
    message = response.message
    if message.role != "assistant":
        raise UnexpectedModelBehavior(f"the model replied with role {message.role!r}, expected 'assistant'")
    message.author_name = message.author_name or setup.author_name
    usage = response.usage
    if usage.requests == 0:
        usage.requests = 1
    run.usage = run.usage + usage
    calls = message.tool_calls
    run.steps.append(
        RunStep(
            id=new_id("step"),
            type="tool_calls" if calls else "message_creation",
            created_at=started_at,
            model_duration=time.perf_counter() - t0,
            usage=usage,
            completed_at=None if calls else time.time(),
            status="in_progress" if calls else "completed",
            message_id=message.message_id,
            tool_calls=[ToolCallRecord(c.call_id or "", c.name or "", c.arguments) for c in calls],
        )
    )
    run.new_messages.append(message)


def _decide(run: _Run, response: ChatResponse) -> _NextStep:
    setup = run.setup
    message = response.message
    calls = message.tool_calls
    step = run.steps[-1]
    if not calls:
        return _Final(message)
    if not run.state.offered_tools:
        _answer_without_running(run, step, calls, "Tools are not available now; answer directly.")
        return _Final(message)
    unknown = [c for c in calls if c.name not in setup.tools]
    if unknown and setup.config.terminate_on_unknown_calls:
        names = ", ".join(sorted({c.name or "" for c in unknown}))
        _answer_without_running(run, step, calls, f"The run ended: the model called unknown tool(s) {names}.")
        logger.warning("run ended: unknown tool(s) %s", names)
        return _Stopped()
    kinds = [(c, needs_decision(setup.tools.get(c.name or ""))) for c in calls]
    gated = [c for c, kind in kinds if kind == "approval"]
    declared = [c for c, kind in kinds if kind == "output"]
    if gated or declared:
        return _Pause(message, step, gated, declared)
    return _RunTools(message, step)


def _answer_without_running(run: _Run, step: RunStep, calls: list[Content], text: str) -> None:
    results = [Content.from_tool_result(c.call_id or "", text, name=c.name, is_error=True) for c in calls]
    for record in step.tool_calls:
        record.output, record.is_error = text, True
    step.status, step.completed_at = "completed", time.time()
    run.new_messages.append(Message(role="tool", contents=results))


async def _run_tools(run: _Run, step: _RunTools) -> AsyncIterator[RunEvent]:
    setup, state = run.setup, run.state
    config = setup.config
    results: dict[str, Content] = {}
    to_run: list[Content] = []
    decisions = step.decisions
    for call in step.message.tool_calls:
        call_id = call.call_id or ""
        tool = setup.tools.get(call.name or "")
        if tool is None:
            results[call_id] = Content.from_tool_result(
                call_id, f"Error: the tool {call.name!r} does not exist.", name=call.name, is_error=True
            )
        elif decisions is not None and call_id in decisions.rejected:
            results[call_id] = Content.from_tool_result(
                call_id, REJECTED_RESULT, name=call.name, is_error=True
            )
        elif decisions is not None and call_id in decisions.outputs:
            text, items = serialize_result(decisions.outputs[call_id])
            results[call_id] = Content.from_tool_result(call_id, text, name=call.name, items=items)
        elif config.max_function_calls is not None and state.function_calls >= config.max_function_calls:
            state.tools_withdrawn = True
            results[call_id] = Content.from_tool_result(
                call_id,
                f"Not executed: this run reached its limit of {config.max_function_calls} tool calls.",
                name=call.name,
                is_error=True,
            )
        else:
            state.function_calls += 1
            to_run.append(call)
    if to_run or (decisions is not None and decisions.outputs):
        run.tools_ran = True

    records = {r.call_id: r for r in step.step.tool_calls}
    for call in to_run:
        yield ToolCallStartEvent(call.call_id or "", call.name or "", call.arguments)
    async for outcome in _execute(run, to_run):
        results[outcome.call.call_id or ""] = outcome.result
        record = records.get(outcome.call.call_id or "")
        if record is not None:
            record.started_at, record.duration = outcome.started_at, outcome.duration
        yield ToolCallEndEvent(
            call_id=outcome.call.call_id or "",
            name=outcome.call.name or "",
            output=outcome.result.text or "",
            is_error=outcome.result.is_error,
            duration=outcome.duration,
            value=outcome.value,
        )

    ordered = [results[c.call_id or ""] for c in step.message.tool_calls]
    for result in ordered:
        record = records.get(result.call_id or "")
        if record is not None:
            record.output, record.is_error = result.text, result.is_error
    if ordered and all(r.is_error for r in ordered):
        state.consecutive_errors += 1
        if state.consecutive_errors >= config.max_consecutive_errors_per_request:
            state.tools_withdrawn = True
    else:
        state.consecutive_errors = 0
    if config.max_function_calls is not None and state.function_calls >= config.max_function_calls:
        state.tools_withdrawn = True
    tool_message = Message(role="tool", contents=ordered, author_name=setup.author_name)
    run.new_messages.append(tool_message)
    step.step.status, step.step.completed_at = "completed", time.time()
    yield MessageCompletedEvent(tool_message)
    yield StepCompletedEvent(step.step)


def _unshare_history(run: _Run) -> None:
    """Give the session private copies of the messages it shares with its store's cache.

    Tools and function middleware get the session (``context.session``): user code that
    may edit its messages, which must reach neither the cache nor other requests. The
    run's own history switches to the copies too, so the next model call sends what
    the tools left, as with a copying load.
    """
    session = run.setup.session
    if isinstance(session, StoredSession) and session.shared:
        copies = session.unshare()
        run.history = [copies.get(id(m), m) for m in run.history]


async def _execute(run: _Run, calls: list[Content]) -> AsyncIterator[ToolCallOutcome]:
    """Run calls concurrently, yielding each outcome as it finishes."""
    setup = run.setup
    if calls:
        _unshare_history(run)

    def invoke(call: Content) -> Any:
        return invoke_tool_call(
            setup.tools[call.name or ""],
            call,
            middleware=setup.middleware,
            session=setup.session,
            function_invocation_kwargs=setup.function_invocation_kwargs,
            include_detailed_errors=setup.config.include_detailed_errors,
            usage=run.state.tool_usage,
        )

    if len(calls) == 1:
        # The common case: no task bookkeeping on the hot path.
        async with run.guard():
            outcome = await invoke(calls[0])
        yield outcome
        return
    tasks = [asyncio.ensure_future(invoke(call)) for call in calls]
    try:
        async with run.guard():
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
    finally:
        for task in tasks:
            task.cancel()


def _check_output(run: _Run, message: Message) -> Message | None:
    """Validate the final answer; return a retry prompt for the model, or ``None`` when done."""
    spec = run.setup.output
    if spec is None:
        return None
    try:
        run.state.value = spec.validate(message.text)
        return None
    except OutputValidationError as exc:
        if run.state.output_retries >= run.setup.output_retries:
            run.commit()
            raise StructuredOutputError(
                f"the answer did not match the response format after {run.state.output_retries} "
                f"retries: {exc}",
                raw_text=message.text,
                errors=str(exc),
            ) from exc
        run.state.output_retries += 1
        message.metadata[SUPERSEDED] = True
        retry = Message.user(
            f"Your answer does not match the required format: {exc}. "
            "Reply again with only the corrected JSON document."
        )
        retry.metadata[SYNTHETIC] = "output_retry"
        return retry


def _pause_result(run: _Run, pause: _Pause) -> AgentRunResult[Any]:
    run.state.messages = run.new_messages
    run.state.steps = run.steps
    run.state.usage = run.usage
    run.state.approval_ids = [c.call_id or "" for c in pause.approvals]
    run.state.declaration_ids = [c.call_id or "" for c in pause.declaration_only]
    run.state.session_id = run.setup.session.id if run.setup.session is not None else None
    state = run.state.to_dict()
    if run.setup.state_key is not None:
        sign_state(state, run.setup.state_key())
    return run.result(
        "requires_action",
        approval_requests=[
            ApprovalRequest(c.call_id or "", c.name or "", c.arguments) for c in pause.approvals
        ],
        pending_tool_calls=list(pause.declaration_only),
        state=state,
    )

"""One triggered run: the contract prompt, the session, the log line and the output binding.

A run that pauses (a tool that needs approval, a declaration-only tool) is kept by the
runner as the session's pending turn, and the event counts as handled: a queue message
is completed, a blob gets its receipt. Nobody can answer inside a triggered run, so the
log names each waiting call and the exact ``agentdown approve`` command that resumes
it. The output binding is not written for a paused run (its answer is not one yet);
``agentdown approve`` writes it when the resumed run answers. For that the prompt
message records the trigger data (metadata :data:`TRIGGER_KEY`) when the agent has an
output binding, since a blob name such as ``results/{name}.md`` is rendered from it.
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentdown import telemetry
from agentdown.app.spec import BlobTrigger, QueueTrigger, TimerTrigger
from agentdown.app.triggers import trigger_prompt
from agentdown.loop.events import AgentRunResult
from agentdown.messages import Message
from agentdown.runtime.pending import PendingCall, TurnPendingError, calls_of
from agentdown.runtime.queues.base import MessageQueue
from agentdown.runtime.runner import Runner, TurnResult
from agentdown.runtime.triggers.bindings import OutputBinding, render, session_id_for
from agentdown.runtime.triggers.blobstore import BlobContainer

__all__ = [
    "TRIGGER_KEY",
    "EventTrigger",
    "Invoker",
    "OutputSink",
    "TriggerBinding",
    "TriggerOrigin",
    "answer_of",
    "approve_command",
    "logger",
    "trigger_origin",
]

logger = logging.getLogger("agentdown.triggers")

EventTrigger = TimerTrigger | QueueTrigger | BlobTrigger
_LOGGED_ANSWER = 4000
_LOGGED_ARGUMENTS = 300
TRIGGER_KEY = "agentdown.trigger"


@dataclass(frozen=True, slots=True)
class TriggerBinding:
    """What the host runs for one agent: its trigger, and agentdown's additions to it."""

    agent: str
    """The agent's slug."""
    trigger: EventTrigger
    output: OutputBinding | None = None
    """Where the answer goes besides the log (front matter ``output``)."""
    session_key: str | None = None
    """Front matter ``session_key``: invocations rendering the same id share a session."""


@dataclass(frozen=True, slots=True)
class TriggerOrigin:
    """The event a run was triggered by, as recorded on its prompt message."""

    type: str
    data: Mapping[str, Any]
    captures: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        # Through JSON once: the data may hold datetimes (timers), the session stores JSON.
        plain = json.loads(json.dumps(dict(self.data), ensure_ascii=False, default=str))
        return {"type": self.type, "data": plain, "captures": dict(self.captures)}


def trigger_origin(messages: Sequence[Message]) -> TriggerOrigin | None:
    """The trigger recorded on the newest prompt among ``messages`` (a run's messages), if any."""
    for message in reversed(messages):
        raw = message.metadata.get(TRIGGER_KEY)
        if message.role == "user" and isinstance(raw, dict) and isinstance(raw.get("data"), dict):
            captures = raw.get("captures") if isinstance(raw.get("captures"), dict) else {}
            return TriggerOrigin(str(raw.get("type") or ""), raw["data"], dict(captures or {}))
    return None


def answer_of(result: AgentRunResult[Any]) -> tuple[str, bool]:
    """``(answer, is_json)``: what a triggered run's output binding receives."""
    if result.value is not None:
        return json.dumps(result.value, ensure_ascii=False, default=_plain), True
    return result.text, False


def approve_command(
    app_dir: Path | str | None, agent: str, session_id: str, calls: Sequence[PendingCall]
) -> str:
    """The ``agentdown approve`` command line that answers ``calls`` (shell-quoted)."""
    ids = [shlex.quote(c.call_id) for c in calls]
    app = shlex.quote(str(app_dir)) if app_dir is not None else "APP"
    command = f"agentdown approve {app} {shlex.quote(agent)} {shlex.quote(session_id)} {' '.join(ids)}"
    if any(c.kind == "output" for c in calls):
        command += " --output '<the tool result as JSON>'"
    return command


def _describe_calls(calls: Sequence[PendingCall]) -> str:
    parts = []
    for call in calls:
        args = json.dumps(call.arguments or {}, ensure_ascii=False)
        if len(args) > _LOGGED_ARGUMENTS:
            args = args[:_LOGGED_ARGUMENTS] + "..."
        need = "needs approval" if call.kind == "approval" else "needs its result"
        parts.append(f"{call.tool} {args} [{call.call_id}] ({need})")
    return "; ".join(parts)


class OutputSink:
    """Writes answers to a queue or a blob, as an :class:`OutputBinding` says."""

    def __init__(
        self,
        binding: OutputBinding,
        *,
        queue: MessageQueue | None = None,
        container: BlobContainer | None = None,
    ) -> None:
        self.binding = binding
        self._queue = queue
        self._container = container

    async def start(self) -> None:
        if self._queue is not None:
            await self._queue.create()
        if self._container is not None:
            await self._container.start()

    async def write(
        self, answer: str, is_json: bool, data: Mapping[str, Any], captures: Mapping[str, str]
    ) -> str:
        """Write ``answer``; where it went, for the log."""
        if self._queue is not None:
            message_id = await self._queue.send(answer)
            return f"queue {self._queue.name} (message {message_id})"
        assert self._container is not None
        name = render(self.binding.name_template, data, captures)
        content_type = "application/json" if is_json else "text/plain; charset=utf-8"
        return await self._container.write(name, answer.encode("utf-8"), content_type)


class Invoker:
    """Runs the agent of one trigger binding for one event."""

    def __init__(
        self, runner: Runner, binding: TriggerBinding, output: OutputSink | None, *, log_answers: bool
    ) -> None:
        self.runner = runner
        self.binding = binding
        self.output = output
        self.log_answers = log_answers
        """Log each answer (the agent's ``logger`` switch); otherwise only its length."""

    async def __call__(
        self, data: Mapping[str, Any], captures: Mapping[str, str] | None = None
    ) -> TurnResult:
        binding = self.binding
        if telemetry.active() is None:
            return await self._invoke(data, captures)
        body = data.get("body_json")
        with telemetry.span(
            f"{binding.trigger.type} {binding.agent}",
            {"agentdown.trigger.type": binding.trigger.type, "gen_ai.agent.name": binding.agent},
            kind=telemetry.SpanKind.CONSUMER,
            # A queue message sent from a traced process (a JSON body with traceparent) joins its trace.
            parent=telemetry.extract(body) if isinstance(body, dict) else None,
        ) as span:
            try:
                turn = await self._invoke(data, captures)
            except BaseException:
                telemetry.count_run("trigger", "failed")
                raise
            status = str(turn.result.status)
            if span is not None:
                span.set_attribute("agentdown.run.status", status)
            telemetry.count_run("trigger", status)
            return turn

    async def _invoke(self, data: Mapping[str, Any], captures: Mapping[str, str] | None) -> TurnResult:
        binding = self.binding
        found = captures or {}
        session_id = session_id_for(binding.session_key, data, found) if binding.session_key else None
        prompt = Message.user(trigger_prompt(binding.trigger.type, data))
        if self.output is not None:
            prompt.metadata[TRIGGER_KEY] = TriggerOrigin(binding.trigger.type, data, found).to_dict()
        try:
            turn = await self.runner.run(binding.agent, prompt, session_id=session_id)
        except TurnPendingError as exc:
            # The event fails and is delivered again later (then poisoned, as any failure): by
            # then the waiting turn may be answered. Said plainly, since only a person can fix it.
            logger.warning(
                "%s (%s): session %s still waits for decisions on %s; this event runs once they are "
                "given: %s",
                binding.agent,
                binding.trigger.type,
                exc.session_id,
                ", ".join(f"{c.tool} [{c.call_id}]" for c in exc.pending.calls),
                approve_command(
                    self.runner.catalog.app_dir, binding.agent, exc.session_id, exc.pending.calls
                ),
            )
            raise
        result = turn.result
        if result.requires_action:
            self._log_paused(turn)
            return turn
        answer, is_json = answer_of(result)
        where = ""
        if self.output is not None:
            where = " -> " + await self.output.write(answer, is_json, data, found)
        if self.log_answers:
            shown = answer if len(answer) <= _LOGGED_ANSWER else answer[:_LOGGED_ANSWER] + "..."
            logger.info(
                "%s (%s) answered in session %s%s: %s",
                binding.agent,
                binding.trigger.type,
                turn.session_id,
                where,
                shown,
            )
        else:
            logger.info(
                "%s (%s) answered in session %s%s (%d characters)",
                binding.agent,
                binding.trigger.type,
                turn.session_id,
                where,
                len(answer),
            )
        return turn

    def _log_paused(self, turn: TurnResult) -> None:
        binding = self.binding
        state = turn.result.state
        calls = calls_of(state) if state is not None else []
        ttl_hours = self.runner.pending_ttl / 3600
        later = " (its output binding is written then)" if self.output is not None else ""
        # Arguments are logged only where answers are: they may carry the event's content.
        shown = (
            _describe_calls(calls)
            if self.log_answers
            else ", ".join(f"{c.tool} [{c.call_id}]" for c in calls)
        )
        logger.warning(
            "%s (%s) waits in session %s for decisions on %d tool call(s): %s. The event is handled and "
            "the turn kept for %.3g h; resume it with: %s%s%s",
            binding.agent,
            binding.trigger.type,
            turn.session_id,
            len(calls),
            shown,
            ttl_hours,
            approve_command(self.runner.catalog.app_dir, binding.agent, turn.session_id, calls),
            " (--deny to refuse)" if any(c.kind == "approval" for c in calls) else "",
            later,
        )


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else str(value)

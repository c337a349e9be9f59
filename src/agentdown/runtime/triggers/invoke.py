"""One triggered run: the contract prompt, the session, the log line and the output binding."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentdown.app.spec import BlobTrigger, QueueTrigger, TimerTrigger
from agentdown.app.triggers import trigger_prompt
from agentdown.runtime.queues.base import MessageQueue
from agentdown.runtime.runner import Runner, TurnResult
from agentdown.runtime.triggers.bindings import OutputBinding, render, session_id_for
from agentdown.runtime.triggers.blobstore import BlobContainer

__all__ = ["EventTrigger", "Invoker", "OutputSink", "TriggerBinding", "logger"]

logger = logging.getLogger("agentdown.triggers")

EventTrigger = TimerTrigger | QueueTrigger | BlobTrigger
_LOGGED_ANSWER = 4000


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
        found = captures or {}
        session_id = session_id_for(binding.session_key, data, found) if binding.session_key else None
        turn = await self.runner.run(
            binding.agent, trigger_prompt(binding.trigger.type, data), session_id=session_id
        )
        result = turn.result
        is_json = result.value is not None
        answer = json.dumps(result.value, ensure_ascii=False, default=_plain) if is_json else result.text
        if result.requires_action:
            logger.warning(
                "%s (%s): the run stopped for tool approvals or tool outputs, which a triggered run "
                "cannot give; its answer so far is used",
                binding.agent,
                binding.trigger.type,
            )
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


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump(mode="json") if callable(dump) else str(value)

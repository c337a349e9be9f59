"""Agents as graph nodes: ``AgentExecutor`` runs an agent on what it receives and passes the answer on."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from agentdown.loop.events import AgentRunResult
from agentdown.messages import Message
from agentdown.workflows.context import WorkflowContext
from agentdown.workflows.errors import HandlerSignatureError
from agentdown.workflows.executor import Executor, HandlerSpec

__all__ = ["AgentExecutor", "AgentExecutorResponse", "is_agent"]


@dataclass(slots=True)
class AgentExecutorResponse:
    """What an agent node sends downstream (Agent Framework's shape).

    ``agent_response`` is the agent's result as it returned it (``.text`` is its answer);
    ``full_conversation`` the conversation so far, so that a next agent continues it.
    """

    executor_id: str
    agent_response: Any
    full_conversation: list[Message] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The agent's answer text."""
        return str(getattr(self.agent_response, "text", ""))


def is_agent(obj: Any) -> bool:
    """Whether ``obj`` can be a node as an agent: not an executor, with an async ``run`` and a name."""
    if isinstance(obj, Executor):
        return False
    run = getattr(obj, "run", None)
    return callable(run) and inspect.iscoroutinefunction(run) and isinstance(getattr(obj, "name", None), str)


class AgentExecutor(Executor):
    """Runs ``agent`` on each message: a ``str``, a ``Message``, a list of them, or an upstream agent's answer.

    Given another agent's :class:`AgentExecutorResponse`, it runs on that conversation
    (so a chain of agents shares one). It sends an :class:`AgentExecutorResponse` along
    its outgoing edges; with none, it yields the agent's result (an ``AgentRunResult``
    for :class:`agentdown.Agent`) as the workflow output.
    """

    def __init__(self, agent: Any, id: str | None = None) -> None:
        if not is_agent(agent):
            raise HandlerSignatureError(
                f"{agent!r} is not an agent: it needs a name and an async run() method"
            )
        super().__init__(id or agent.name)
        self.agent = agent
        """The wrapped agent."""
        inputs = (str, Message, list[Message], AgentExecutorResponse)
        self.handlers.append(
            HandlerSpec("run_agent", self._handle, inputs, (AgentExecutorResponse,), (AgentRunResult,))
        )

    async def _handle(self, message: Any, ctx: WorkflowContext[Any, Any]) -> None:
        conversation = _conversation(message)
        result = await self.agent.run(conversation)
        if ctx.is_terminal():
            await ctx.yield_output(result)
            return
        produced = list(getattr(result, "messages", []) or [])
        # Our Agent's result repeats its input; another agent's may hold only the new messages.
        starts_with_input = bool(conversation and produced) and produced[0] is conversation[0]
        full = produced if starts_with_input else [*conversation, *produced]
        await ctx.send_message(AgentExecutorResponse(self.id, result, full))


def _conversation(message: Any) -> list[Message]:
    if isinstance(message, str):
        return [Message.user(message)]
    if isinstance(message, Message):
        return [message]
    if isinstance(message, AgentExecutorResponse):
        return list(message.full_conversation)
    if isinstance(message, Sequence):
        return list(message)
    raise TypeError(f"an agent node cannot run on a {type(message).__name__}")

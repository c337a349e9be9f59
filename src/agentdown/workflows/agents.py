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
from agentdown.workflows.executor import Executor, HandlerSpec, ResponseHandlerSpec

__all__ = [
    "AgentActionRequest",
    "AgentActionResponse",
    "AgentExecutor",
    "AgentExecutorRequest",
    "AgentExecutorResponse",
    "is_agent",
]


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


@dataclass(slots=True)
class AgentExecutorRequest:
    """Messages for an agent node (Agent Framework's shape).

    With ``should_respond=False`` the node only keeps them: they open the conversation
    of its next run.
    """

    messages: list[Message]
    should_respond: bool = True


@dataclass(slots=True)
class AgentActionRequest:
    """An agent node's run paused: tool calls wait for approval or for their outputs.

    It reaches the caller as a ``request_info`` event; answer it with an
    :class:`AgentActionResponse` (``run(responses={request_id: AgentActionResponse(...)})``).
    """

    executor_id: str
    approval_requests: list[Any]
    """The calls awaiting a decision (``call_id``, ``name``, ``arguments``)."""
    pending_tool_calls: list[Any]
    """Calls of declaration-only tools, whose outputs the caller supplies."""
    state: dict[str, Any]
    """The agent's signed resume state (JSON), so any process can continue it."""
    conversation: list[Message] = field(default_factory=list)
    """The conversation the agent ran on."""


@dataclass(slots=True)
class AgentActionResponse:
    """The answer to an :class:`AgentActionRequest`: a decision per call id and/or tool outputs."""

    approvals: dict[str, bool] = field(default_factory=dict)
    tool_outputs: dict[str, Any] = field(default_factory=dict)


class AgentExecutor(Executor):
    """Runs ``agent`` on each message: a ``str``, a ``Message``, a list of them, or an upstream agent's answer.

    Given another agent's :class:`AgentExecutorResponse`, it runs on that conversation
    (so a chain of agents shares one). It sends an :class:`AgentExecutorResponse` along
    its outgoing edges; with none, it yields the agent's result (an ``AgentRunResult``
    for :class:`agentdown.Agent`) as the workflow output. When the agent's run needs
    approvals or tool outputs, the node asks with ``request_info`` (an
    :class:`AgentActionRequest`) and resumes the agent with the answer.
    """

    def __init__(self, agent: Any, id: str | None = None) -> None:
        if not is_agent(agent):
            raise HandlerSignatureError(
                f"{agent!r} is not an agent: it needs a name and an async run() method"
            )
        super().__init__(id or agent.name)
        self.agent = agent
        """The wrapped agent."""
        self._kept: list[Message] = []
        inputs = (str, Message, list[Message], AgentExecutorRequest, AgentExecutorResponse)
        outputs = (AgentExecutorResponse,)
        self.handlers.append(HandlerSpec("run_agent", self._handle, inputs, outputs, (AgentRunResult,)))
        self.response_handlers.append(
            ResponseHandlerSpec(
                "resume_agent",
                self._resume,
                (AgentActionRequest,),
                (AgentActionResponse,),
                outputs,
                (AgentRunResult,),
            )
        )

    async def _handle(self, message: Any, ctx: WorkflowContext[Any, Any]) -> None:
        if isinstance(message, AgentExecutorRequest) and not message.should_respond:
            self._kept.extend(message.messages)
            return
        conversation = [*self._kept, *_conversation(message)]
        self._kept = []
        await self._emit(await self.agent.run(conversation), conversation, ctx)

    async def on_checkpoint_save(self) -> dict[str, Any]:
        return {"kept": list(self._kept)} if self._kept else {}

    async def on_checkpoint_restore(self, state: dict[str, Any]) -> None:
        self._kept = list(state.get("kept", []))

    async def _resume(
        self, request: AgentActionRequest, response: AgentActionResponse, ctx: WorkflowContext[Any, Any]
    ) -> None:
        result = await self.agent.run(
            resume=request.state,
            approvals=dict(response.approvals) or None,
            tool_outputs=dict(response.tool_outputs) or None,
        )
        await self._emit(result, list(request.conversation), ctx)

    async def _emit(self, result: Any, conversation: list[Message], ctx: WorkflowContext[Any, Any]) -> None:
        if getattr(result, "requires_action", False) is True:
            request = AgentActionRequest(
                self.id,
                list(result.approval_requests),
                list(result.pending_tool_calls),
                dict(result.state or {}),
                conversation,
            )
            await ctx.request_info(request, AgentActionResponse)
            return
        if ctx.is_terminal():
            await ctx.yield_output(result)
            return
        produced = list(getattr(result, "messages", []) or [])
        # Our Agent's result repeats its input; another agent's (or a resumed run's) may not.
        known = {m.message_id for m in conversation}
        full = [*conversation, *(m for m in produced if getattr(m, "message_id", None) not in known)]
        await ctx.send_message(AgentExecutorResponse(self.id, result, full))


def _conversation(message: Any) -> list[Message]:
    if isinstance(message, str):
        return [Message.user(message)]
    if isinstance(message, Message):
        return [message]
    if isinstance(message, AgentExecutorResponse):
        return list(message.full_conversation)
    if isinstance(message, AgentExecutorRequest):
        return list(message.messages)
    if isinstance(message, Sequence):
        return list(message)
    raise TypeError(f"an agent node cannot run on a {type(message).__name__}")

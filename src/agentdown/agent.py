"""``Agent``: a model, instructions and tools, run by the loop in :mod:`agentdown.loop`."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from typing import Any, Literal

from agentdown.exceptions import ConfigurationError, ResumeError, ToolError, ToolsetUnavailableError
from agentdown.loop.config import FunctionInvocationConfiguration
from agentdown.loop.engine import RunSetup, run_events
from agentdown.loop.events import AgentRunResult, RunCompletedEvent, RunErrorEvent, RunEvent
from agentdown.loop.signing import state_key, verify_state
from agentdown.loop.state import RunState, check_pending
from agentdown.loop.structured import OutputSpec
from agentdown.loop.tracing import traced_run
from agentdown.messages import Message
from agentdown.models.base import ChatModel, ChatOptions, ToolDefinition
from agentdown.sessions import Session
from agentdown.sessions.truncation import TruncationStrategy, resolve_truncation
from agentdown.tools import FunctionInvocationContext, Tool, normalize_tools, tool_definition
from agentdown.tools.middleware import normalize_function_middleware
from agentdown.tools.protocol import APPROVAL_MODES, ApprovalMode
from agentdown.tools.toolset import Toolset, split_toolsets

__all__ = ["Agent", "AgentTool"]

Prompt = str | Message | Sequence[Message] | None
StructuredOutputMode = Literal["auto", "native", "prompt"]
STRUCTURED_OUTPUT_MODES: tuple[StructuredOutputMode, ...] = ("auto", "native", "prompt")


@dataclasses.dataclass(frozen=True, slots=True)
class _RunArgs:
    """The per-run arguments ``run`` and ``run_stream`` share."""

    session: Session | None = None
    function_invocation_kwargs: Mapping[str, Any] | None = None
    resume: Mapping[str, Any] | None = None
    approvals: Mapping[str, bool] | None = None
    tool_outputs: Mapping[str, Any] | None = None
    timeout: float | None = None
    options: ChatOptions | Mapping[str, Any] | None = None
    truncation: TruncationStrategy | Mapping[str, Any] | None = None


class Agent:
    """An agent: a model, instructions, tools and an optional structured response format.

    ``model`` may be a :class:`ChatModel`, a model name (provider from the
    environment) or ``None`` (provider and model from the environment); a missing
    configuration fails here, not at the first request.

    ``structured_output_mode`` says how a ``response_format`` is asked for:
    ``"auto"`` (default) sends the provider's native ``response_format`` (a JSON
    Schema, ``strict`` where the schema allows it) *and* the format instructions in
    the system prompt, so a model without native support (or the local model while
    tools are offered) still gets it; ``"native"`` only the ``response_format``;
    ``"prompt"`` only the instructions. Every mode validates the answer and retries.

    ``state_key`` signs the state of a paused run (default: ``AGENTDOWN_STATE_KEY``,
    else a key kept in the data dir; see :mod:`agentdown.loop.signing`).
    """

    def __init__(
        self,
        model: ChatModel | str | None = None,
        instructions: str | None = None,
        tools: Any = None,
        middleware: Sequence[object] | None = None,
        response_format: Any = None,
        name: str | None = None,
        description: str | None = None,
        options: ChatOptions | Mapping[str, Any] | None = None,
        *,
        function_invocation_configuration: FunctionInvocationConfiguration | Mapping[str, Any] | None = None,
        output_retries: int = 2,
        timeout: float | None = None,
        structured_output_mode: StructuredOutputMode = "auto",
        truncation: TruncationStrategy | Mapping[str, Any] | None = None,
        max_input_tokens: int | None = None,
        state_key: bytes | str | None = None,
    ) -> None:
        self.model = _resolve_model(model)
        self.name = name or "agent"
        self.description = description or ""
        self.instructions = instructions
        self.config = FunctionInvocationConfiguration.coerce(function_invocation_configuration)
        static, self.toolsets = split_toolsets(tools)
        self.tools: list[Tool] = normalize_tools(static)
        extra = normalize_tools(self.config.additional_tools)
        self._executable: dict[str, Tool] = {t.name: t for t in self.tools}
        for t in extra:
            if t.name in self._executable:
                raise ConfigurationError(f"additional tool {t.name!r} has the same name as an agent tool")
            self._executable[t.name] = t
        self._definitions = [tool_definition(t) for t in self.tools]
        self._definition_tokens = _definition_tokens(self._definitions)
        self.middleware = normalize_function_middleware(middleware)
        self.options = _coerce_options(options)
        if output_retries < 0:
            raise ConfigurationError(f"output_retries must be >= 0, got {output_retries}")
        self.output_retries = output_retries
        self.timeout = timeout
        self.truncation = resolve_truncation(truncation)
        if max_input_tokens is not None and max_input_tokens < 1:
            raise ConfigurationError(f"max_input_tokens must be >= 1, got {max_input_tokens}")
        self.max_input_tokens = max_input_tokens
        if structured_output_mode not in STRUCTURED_OUTPUT_MODES:
            raise ConfigurationError(
                f"structured_output_mode must be one of {STRUCTURED_OUTPUT_MODES}, got {structured_output_mode!r}"
            )
        self.structured_output_mode = structured_output_mode
        self.response_format = response_format
        """What the answer must match, as given (a pydantic model, a JSON Schema, ...); ``None``: free text."""
        self.output = OutputSpec(response_format) if response_format is not None else None
        format_instructions: str | None = None
        if self.output is not None:
            if structured_output_mode != "prompt" and self.options.response_format is None:
                self.options = dataclasses.replace(
                    self.options, response_format=self.output.response_format()
                )
            if structured_output_mode != "native":
                format_instructions = self.output.instructions()
        parts = [p for p in (instructions, format_instructions) if p]
        self.system_prompt = "\n\n".join(parts) or None
        self._state_key: bytes | None = state_key.encode() if isinstance(state_key, str) else state_key

    def state_key(self) -> bytes:
        """The key that signs and verifies this agent's paused-run states."""
        if self._state_key is None:
            self._state_key = state_key()
        return self._state_key

    def __repr__(self) -> str:
        return f"Agent(name={self.name!r}, model={self.model.model_name!r}, tools={[t.name for t in self.tools]})"

    async def available_tools(self) -> dict[str, Tool]:
        """Every tool a run of this agent can call now, by name (static ones and what toolsets list)."""
        tools, _ = await self._run_tools()
        return dict(tools)

    async def _run_tools(self) -> tuple[dict[str, Tool], list[ToolDefinition]]:
        """Static tools plus what each toolset lists now; a failing toolset fails this run only."""
        if not self.toolsets:
            return self._executable, self._definitions

        async def listed(toolset: Toolset) -> Sequence[Tool]:
            try:
                return await toolset.list_tools()
            except Exception as exc:
                raise ToolsetUnavailableError(f"toolset {toolset.name!r} is unavailable: {exc}") from exc

        groups = await asyncio.gather(*(listed(ts) for ts in self.toolsets))
        executable = dict(self._executable)
        definitions = list(self._definitions)
        for toolset, group in zip(self.toolsets, groups, strict=True):
            for t in normalize_tools(list(group)):
                if t.name in executable:
                    raise ConfigurationError(
                        f"toolset {toolset.name!r} lists a tool {t.name!r} whose name is already taken"
                    )
                executable[t.name] = t
                definitions.append(tool_definition(t))
        return executable, definitions

    async def _setup(self, args: _RunArgs, streaming: bool) -> RunSetup:
        limit = args.timeout if args.timeout is not None else self.timeout
        deadline = asyncio.get_running_loop().time() + limit if limit is not None else None
        tools, definitions = await self._run_tools()
        return RunSetup(
            model=self.model,
            system_prompt=self.system_prompt,
            tools=tools,
            definitions=definitions,
            middleware=self.middleware,
            config=self.config,
            options=self._options(args.options),
            output=self.output,
            output_retries=self.output_retries,
            session=args.session,
            function_invocation_kwargs=dict(args.function_invocation_kwargs or {}),
            deadline=deadline,
            streaming=streaming,
            author_name=self.name,
            truncation=resolve_truncation(self.truncation, args.truncation),
            max_input_tokens=self.max_input_tokens,
            reserved_tokens=self._definition_tokens
            if definitions is self._definitions
            else _definition_tokens(definitions),
            state_key=self.state_key,
        )

    def _options(self, options: ChatOptions | Mapping[str, Any] | None) -> ChatOptions:
        if options is None:
            return self.options
        coerced = _coerce_options(options)
        if coerced.response_format is None and self.options.response_format is not None:
            # Per-run options tune sampling; they do not switch native structured output off.
            coerced = dataclasses.replace(coerced, response_format=self.options.response_format)
        return coerced

    async def run(
        self,
        prompt: Prompt = None,
        *,
        session: Session | None = None,
        function_invocation_kwargs: Mapping[str, Any] | None = None,
        resume: Mapping[str, Any] | None = None,
        approvals: Mapping[str, bool] | None = None,
        tool_outputs: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        options: ChatOptions | Mapping[str, Any] | None = None,
        truncation: TruncationStrategy | Mapping[str, Any] | None = None,
    ) -> AgentRunResult[Any]:
        """Run one turn to completion (or until it needs approvals / tool outputs).

        Resume a ``requires_action`` result with ``resume=result.state`` plus
        ``approvals={call_id: bool}`` and/or ``tool_outputs={call_id: value}``.
        """
        args = _RunArgs(
            session, function_invocation_kwargs, resume, approvals, tool_outputs, timeout, options, truncation
        )
        events = await self._start(prompt, args, streaming=False)
        try:
            async for event in events:
                if isinstance(event, RunCompletedEvent):
                    return event.result
        finally:
            await events.aclose()
        raise AssertionError("the run loop ended without a result")  # pragma: no cover

    async def run_stream(
        self,
        prompt: Prompt = None,
        *,
        session: Session | None = None,
        function_invocation_kwargs: Mapping[str, Any] | None = None,
        resume: Mapping[str, Any] | None = None,
        approvals: Mapping[str, bool] | None = None,
        tool_outputs: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        options: ChatOptions | Mapping[str, Any] | None = None,
        truncation: TruncationStrategy | Mapping[str, Any] | None = None,
        stream_model: bool = True,
    ) -> AsyncIterator[RunEvent]:
        """Run one turn, yielding events as they happen.

        On failure a :class:`RunErrorEvent` is yielded and the exception is then raised.
        Closing the iterator early cancels the run; the session stays consistent.
        ``stream_model=False`` asks the model for whole replies (no :class:`TextDeltaEvent`;
        each reply arrives as its :class:`MessageCompletedEvent`), which costs less when
        nobody reads the tokens as they come.
        """
        events: AsyncGenerator[RunEvent, None] | None = None
        try:
            args = _RunArgs(
                session,
                function_invocation_kwargs,
                resume,
                approvals,
                tool_outputs,
                timeout,
                options,
                truncation,
            )
            events = await self._start(prompt, args, streaming=stream_model)
            async for event in events:
                yield event
        except Exception as exc:
            yield RunErrorEvent(exc, str(exc) or type(exc).__name__)
            raise
        finally:
            if events is not None:
                await events.aclose()

    async def _start(
        self, prompt: Prompt, args: _RunArgs, *, streaming: bool
    ) -> AsyncGenerator[RunEvent, None]:
        """Check the arguments, list the toolsets, and return the run loop's event generator."""
        state: RunState | None = None
        session = args.session
        if args.resume is not None:
            if prompt is not None:
                raise ValueError("pass either a prompt or resume=..., not both")
            verify_state(args.resume, self.state_key())
            state = RunState.from_dict(args.resume)
            if session is not None and state.session_id != session.id:
                raise ResumeError(
                    f"the run state belongs to session {state.session_id!r}, not {session.id!r}"
                )
            if session is None and state.session_id is not None:
                raise ResumeError(f"the run state belongs to session {state.session_id!r}; pass session=...")
            inputs: list[Message] = []
        else:
            if args.approvals or args.tool_outputs:
                raise ValueError("approvals and tool_outputs are only valid with resume=...")
            inputs = _inputs(prompt)
        setup = await self._setup(args, streaming)
        if state is not None:
            check_pending(state, setup.tools)
            state.apply_decisions(args.approvals, args.tool_outputs)
        return traced_run(run_events(setup, inputs, state), setup)

    def as_tool(
        self,
        name: str | None = None,
        description: str | None = None,
        arg_name: str = "task",
        arg_description: str | None = None,
        approval_mode: ApprovalMode = "never_require",
        propagate_session: bool = False,
    ) -> AgentTool:
        """This agent as a tool another agent can delegate to."""
        tool_name = name or re.sub(r"[^A-Za-z0-9_-]", "_", self.name)[:64]
        return AgentTool(
            self,
            name=tool_name,
            description=description if description is not None else self.description,
            arg_name=arg_name,
            arg_description=arg_description or f"The task for {self.name}.",
            approval_mode=approval_mode,
            propagate_session=propagate_session,
        )


class AgentTool:
    """A tool that runs an agent with the model's text as the prompt (agent-as-tool)."""

    kind = "agent"

    def __init__(
        self,
        agent: Agent,
        *,
        name: str,
        description: str,
        arg_name: str,
        arg_description: str,
        approval_mode: ApprovalMode,
        propagate_session: bool,
    ) -> None:
        if approval_mode not in APPROVAL_MODES:
            raise ConfigurationError(f"approval_mode must be one of {APPROVAL_MODES}, got {approval_mode!r}")
        self.agent = agent
        self.name = name
        self.description = description
        self.arg_name = arg_name
        self.approval_mode = approval_mode
        self.propagate_session = propagate_session
        self.additional_properties: dict[str, Any] = {}
        self._parameters = {
            "type": "object",
            "properties": {arg_name: {"type": "string", "description": arg_description}},
            "required": [arg_name],
        }

    @property
    def parameters(self) -> dict[str, Any]:
        return self._parameters

    async def invoke(self, arguments: dict[str, Any], context: FunctionInvocationContext) -> Any:
        prompt = arguments[self.arg_name]
        session = context.session if self.propagate_session and isinstance(context.session, Session) else None
        result = await self.agent.run(
            str(prompt), session=session, function_invocation_kwargs=context.function_invocation_kwargs
        )
        if result.requires_action:
            raise ToolError(f"the agent {self.name!r} stopped to wait for approvals or tool outputs")
        if result.value is not None:
            value = result.value
            return value.model_dump_json() if hasattr(value, "model_dump_json") else json.dumps(value)
        return result.text


def _resolve_model(model: ChatModel | str | None) -> ChatModel:
    if model is None or isinstance(model, str):
        from agentdown.models.provider import model_from_env

        return model_from_env(model=model)
    if not isinstance(model, ChatModel):
        raise ConfigurationError(
            f"model must be a ChatModel (complete/stream/model_name), a model name or None; got {model!r:.80}"
        )
    return model


def _definition_tokens(definitions: Sequence[ToolDefinition]) -> int:
    """A cheap estimate (characters / 4) of what the tool definitions cost in the request."""
    chars = sum(len(d.name) + len(d.description) + len(json.dumps(d.parameters)) for d in definitions)
    return chars // 4


def _coerce_options(options: ChatOptions | Mapping[str, Any] | None) -> ChatOptions:
    if options is None:
        return ChatOptions()
    if isinstance(options, ChatOptions):
        return options
    known = {f.name for f in dataclasses.fields(ChatOptions)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigurationError(f"unknown chat option(s) {unknown}; expected some of {sorted(known)}")
    return ChatOptions(**options)


def _inputs(prompt: Prompt) -> list[Message]:
    if prompt is None:
        raise ValueError("a prompt (text or messages) is required unless resuming a run")
    if isinstance(prompt, str):
        return [Message.user(prompt)]
    if isinstance(prompt, Message):
        return [prompt]
    messages = list(prompt)
    for m in messages:
        if not isinstance(m, Message):
            raise TypeError(f"prompt messages must be Message objects, got {type(m).__name__}")
    return messages

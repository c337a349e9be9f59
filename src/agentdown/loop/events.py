"""What a run produces: run steps, the final result, and the typed stream events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from agentdown.messages import Content, Message, Usage

T = TypeVar("T")

RunStatus = Literal["completed", "requires_action", "incomplete"]
StepType = Literal["message_creation", "tool_calls"]

__all__ = [
    "AgentRunResult",
    "ApprovalRequest",
    "MessageCompletedEvent",
    "ReasoningDeltaEvent",
    "RunCompletedEvent",
    "RunErrorEvent",
    "RunEvent",
    "RunStatus",
    "RunStep",
    "StepCompletedEvent",
    "TextDeltaEvent",
    "ToolCallEndEvent",
    "ToolCallRecord",
    "ToolCallStartEvent",
]


@dataclass(slots=True)
class ToolCallRecord:
    """One tool call inside a ``tool_calls`` run step."""

    call_id: str
    name: str
    arguments: dict[str, Any] | None
    output: str | None = None
    """What the model read back; ``None`` while pending (approval or declaration-only)."""
    is_error: bool = False
    started_at: float | None = None
    duration: float | None = None
    """Seconds."""

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ToolCallRecord:
        return cls(**raw)

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "name": self.name,
            "arguments": self.arguments,
            "output": self.output,
            "is_error": self.is_error,
            "started_at": self.started_at,
            "duration": self.duration,
        }


@dataclass(slots=True)
class RunStep:
    """One model call and what followed from it (the Azure AI Agents RunStep audit trail).

    A model call that answered in text is a ``message_creation`` step; one that asked
    for tools is a ``tool_calls`` step that also records each call's result and timing.
    """

    id: str
    type: StepType
    created_at: float
    """Unix seconds when the model call started."""
    model_duration: float
    """Seconds spent in the model call."""
    usage: Usage
    """Tokens of this step's model call."""
    completed_at: float | None = None
    status: Literal["completed", "in_progress", "cancelled", "failed"] = "completed"
    message_id: str | None = None
    tool_calls: list[ToolCallRecord] = field(default_factory=list)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RunStep:
        return cls(
            id=raw["id"],
            type=raw["type"],
            status=raw["status"],
            created_at=raw["created_at"],
            completed_at=raw["completed_at"],
            model_duration=raw["model_duration"],
            usage=Usage(**raw["usage"]),
            message_id=raw["message_id"],
            tool_calls=[ToolCallRecord.from_dict(c) for c in raw["tool_calls"]],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "status": self.status,
            "created_at": self.created_at,
            "completed_at": self.completed_at,
            "model_duration": self.model_duration,
            "usage": self.usage.to_dict(),
            "message_id": self.message_id,
            "tool_calls": [c.to_dict() for c in self.tool_calls],
        }


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A call to an ``always_require`` tool waiting for a human decision."""

    call_id: str
    name: str
    arguments: dict[str, Any] | None


@dataclass(slots=True)
class AgentRunResult(Generic[T]):
    """The outcome of ``Agent.run``."""

    status: RunStatus
    """``completed``; ``requires_action`` when approvals or tool outputs are awaited
    (resume with ``agent.run(resume=result.state, ...)``); ``incomplete`` when the run
    was ended early (unknown tool with ``terminate_on_unknown_calls``)."""
    messages: list[Message]
    """The messages this run added: the input, the model's replies, tool results."""
    steps: list[RunStep]
    usage: Usage
    value: T | None = None
    """The validated structured output when the agent has a response format."""
    approval_requests: list[ApprovalRequest] = field(default_factory=list)
    pending_tool_calls: list[Content] = field(default_factory=list)
    """Calls of declaration-only tools: the caller runs them and resumes with ``tool_outputs``."""
    state: dict[str, Any] | None = None
    """JSON-serialisable state to resume a ``requires_action`` run, in any process."""
    session_id: str | None = None

    @property
    def text(self) -> str:
        """The text of the last assistant message."""
        for message in reversed(self.messages):
            if message.role == "assistant" and message.text:
                return message.text
        return ""

    @property
    def requires_action(self) -> bool:
        return self.status == "requires_action"


@dataclass(frozen=True, slots=True)
class TextDeltaEvent:
    text: str
    type: Literal["text_delta"] = "text_delta"


@dataclass(frozen=True, slots=True)
class ReasoningDeltaEvent:
    text: str
    type: Literal["reasoning_delta"] = "reasoning_delta"


@dataclass(frozen=True, slots=True)
class ToolCallStartEvent:
    call_id: str
    name: str
    arguments: dict[str, Any] | None
    type: Literal["tool_call_start"] = "tool_call_start"


@dataclass(frozen=True, slots=True)
class ToolCallEndEvent:
    call_id: str
    name: str
    output: str
    """What the model reads back."""
    is_error: bool
    duration: float
    value: Any = None
    """The tool's raw return value (``None`` on error)."""
    type: Literal["tool_call_end"] = "tool_call_end"


@dataclass(frozen=True, slots=True)
class MessageCompletedEvent:
    """A whole message was added to the run (assistant reply or tool results)."""

    message: Message
    type: Literal["message_completed"] = "message_completed"


@dataclass(frozen=True, slots=True)
class StepCompletedEvent:
    step: RunStep
    type: Literal["step_completed"] = "step_completed"


@dataclass(frozen=True, slots=True)
class RunCompletedEvent:
    result: AgentRunResult[Any]
    type: Literal["run_completed"] = "run_completed"


@dataclass(frozen=True, slots=True)
class RunErrorEvent:
    """The run failed; the exception is re-raised after this event by ``run_stream``."""

    error: BaseException
    message: str
    type: Literal["error"] = "error"


RunEvent = (
    TextDeltaEvent
    | ReasoningDeltaEvent
    | ToolCallStartEvent
    | ToolCallEndEvent
    | MessageCompletedEvent
    | StepCompletedEvent
    | RunCompletedEvent
    | RunErrorEvent
)

"""The resumable state of a run that waits for approvals or tool outputs.

It is plain JSON so a run paused in one process can be resumed in another, and it
is signed (:mod:`agentdown.loop.signing`) so that a caller cannot edit it. Even with
a valid signature, a resume re-derives from the agent's own tools which calls of the
pending assistant message need a decision (:func:`check_pending`): the state is
evidence of what was asked, never the authority on what may run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentdown.exceptions import ResumeError
from agentdown.loop.events import RunStep
from agentdown.messages import Content, Message, Usage
from agentdown.tools import Tool, ToolUsage

__all__ = ["STATE_VERSION", "PendingDecisions", "RunState", "check_pending", "needs_decision"]

STATE_VERSION = 2


@dataclass(slots=True)
class PendingDecisions:
    """The caller's answers to a paused run."""

    approved: set[str] = field(default_factory=set)
    rejected: set[str] = field(default_factory=set)
    outputs: dict[str, Any] = field(default_factory=dict)
    """Results of declaration-only calls, by call id."""


def needs_decision(tool: Tool | None) -> str | None:
    """``"approval"`` or ``"output"`` when a call of ``tool`` must wait for the caller, else ``None``."""
    if tool is None:
        return None
    if getattr(tool, "declaration_only", False):
        return "output"
    if str(getattr(tool, "approval_mode", None) or "never_require") == "always_require":
        return "approval"
    return None


@dataclass(slots=True)
class RunState:
    """Counters of the loop and, while paused, the run so far."""

    iterations: int = 0
    function_calls: int = 0
    consecutive_errors: int = 0
    output_retries: int = 0
    tools_withdrawn: bool = False
    offered_tools: bool = False
    messages: list[Message] = field(default_factory=list)
    steps: list[RunStep] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    tool_usage: ToolUsage = field(default_factory=ToolUsage)
    """Per-tool call and failure counts of this run (what tool limits count)."""
    approval_ids: list[str] = field(default_factory=list)
    declaration_ids: list[str] = field(default_factory=list)
    session_id: str | None = None
    decisions: PendingDecisions | None = None
    value: Any = None
    """The validated structured output (never serialised)."""

    @property
    def pending_message(self) -> Message:
        """The assistant message whose calls wait for decisions."""
        if not self.messages or not self.messages[-1].tool_calls:
            raise ResumeError("the run state has no assistant message with pending tool calls")
        return self.messages[-1]

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "iterations": self.iterations,
            "function_calls": self.function_calls,
            "consecutive_errors": self.consecutive_errors,
            "output_retries": self.output_retries,
            "tools_withdrawn": self.tools_withdrawn,
            "messages": [m.to_dict() for m in self.messages],
            "steps": [s.to_dict() for s in self.steps],
            "usage": self.usage.to_dict(),
            "tool_usage": self.tool_usage.to_dict(),
            "approval_ids": self.approval_ids,
            "declaration_ids": self.declaration_ids,
            "session_id": self.session_id,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RunState:
        if raw.get("version") != STATE_VERSION:
            raise ResumeError(
                f"unsupported run state version {raw.get('version')!r}; expected {STATE_VERSION}"
            )
        try:
            return cls(
                iterations=int(raw["iterations"]),
                function_calls=int(raw["function_calls"]),
                consecutive_errors=int(raw["consecutive_errors"]),
                output_retries=int(raw["output_retries"]),
                tools_withdrawn=bool(raw["tools_withdrawn"]),
                offered_tools=True,
                messages=[Message.from_dict(m) for m in raw["messages"]],
                steps=[RunStep.from_dict(s) for s in raw["steps"]],
                usage=Usage(**raw["usage"]),
                tool_usage=ToolUsage.from_dict(raw.get("tool_usage")),
                approval_ids=[str(i) for i in raw["approval_ids"]],
                declaration_ids=[str(i) for i in raw["declaration_ids"]],
                session_id=raw.get("session_id"),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ResumeError(f"malformed run state: {exc!r}") from exc

    def apply_decisions(
        self, approvals: Mapping[str, bool] | None, tool_outputs: Mapping[str, Any] | None
    ) -> None:
        """Record the caller's answers; every pending call must get exactly the kind it needs."""
        approvals = dict(approvals or {})
        tool_outputs = dict(tool_outputs or {})
        for cid, ok in approvals.items():
            if not isinstance(ok, bool):
                raise ResumeError(f"the approval for call {cid!r} must be true or false, got {ok!r}")
        missing = [cid for cid in self.approval_ids if cid not in approvals]
        missing += [cid for cid in self.declaration_ids if cid not in tool_outputs]
        if missing:
            raise ResumeError(f"resume needs a decision for every pending call; missing: {missing}")
        unknown = sorted(
            (set(approvals) - set(self.approval_ids)) | (set(tool_outputs) - set(self.declaration_ids))
        )
        if unknown:
            raise ResumeError(f"resume got decisions for calls that are not pending: {unknown}")
        self.decisions = PendingDecisions(
            approved={cid for cid, ok in approvals.items() if ok},
            rejected={cid for cid, ok in approvals.items() if not ok},
            outputs=tool_outputs,
        )


def pending_calls(message: Message, tools: Mapping[str, Tool]) -> list[tuple[Content, str]]:
    """The calls of ``message`` that wait for the caller, with ``"approval"`` or ``"output"``."""
    out: list[tuple[Content, str]] = []
    for call in message.tool_calls:
        kind = needs_decision(tools.get(call.name or ""))
        if kind is not None:
            out.append((call, kind))
    return out


def check_pending(state: RunState, tools: Mapping[str, Tool]) -> None:
    """Refuse a resume whose pending calls differ from what the agent's tools require.

    Recomputed from ``tools`` (the agent's own, as listed for this run): every call of
    the pending message that needs approval must be among ``approval_ids``, every
    declaration-only call among ``declaration_ids``, and those lists may name nothing
    else. A mismatch means the state does not describe the run that paused.
    """
    message = state.pending_message
    ids = [c.call_id or "" for c in message.tool_calls]
    if len(set(ids)) != len(ids) or "" in ids:
        raise ResumeError("the pending message's tool calls need distinct, non-empty ids")
    required = pending_calls(message, tools)
    need_approval = {c.call_id or "" for c, kind in required if kind == "approval"}
    need_output = {c.call_id or "" for c, kind in required if kind == "output"}
    if need_approval != set(state.approval_ids) or need_output != set(state.declaration_ids):
        unexpected = sorted(
            (need_approval - set(state.approval_ids)) | (need_output - set(state.declaration_ids))
        )
        stray = sorted((set(state.approval_ids) - need_approval) | (set(state.declaration_ids) - need_output))
        detail = []
        if unexpected:
            detail.append(f"call(s) {unexpected} need a decision but were not pending when the run paused")
        if stray:
            detail.append(f"call(s) {stray} were listed as pending but need no decision")
        raise ResumeError("the run state does not match the agent's tools: " + "; ".join(detail))

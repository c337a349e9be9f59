"""The resumable state of a run that waits for approvals or tool outputs.

It is plain JSON so a run paused in one process can be resumed in another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentdown.loop.events import RunStep
from agentdown.messages import Message, Usage

__all__ = ["STATE_VERSION", "PendingDecisions", "RunState"]

STATE_VERSION = 1


@dataclass(slots=True)
class PendingDecisions:
    """The caller's answers to a paused run."""

    approved: set[str] = field(default_factory=set)
    rejected: set[str] = field(default_factory=set)
    outputs: dict[str, Any] = field(default_factory=dict)
    """Results of declaration-only calls, by call id."""


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
    approval_ids: list[str] = field(default_factory=list)
    declaration_ids: list[str] = field(default_factory=list)
    session_id: str | None = None
    decisions: PendingDecisions | None = None
    value: Any = None
    """The validated structured output (never serialised)."""

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
            "approval_ids": self.approval_ids,
            "declaration_ids": self.declaration_ids,
            "session_id": self.session_id,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> RunState:
        if raw.get("version") != STATE_VERSION:
            raise ValueError(
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
                approval_ids=list(raw["approval_ids"]),
                declaration_ids=list(raw["declaration_ids"]),
                session_id=raw.get("session_id"),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"malformed run state: {exc!r}") from exc

    def apply_decisions(
        self, approvals: Mapping[str, bool] | None, tool_outputs: Mapping[str, Any] | None
    ) -> None:
        """Record the caller's answers; every pending call must get one."""
        approvals = dict(approvals or {})
        tool_outputs = dict(tool_outputs or {})
        missing = [cid for cid in self.approval_ids if cid not in approvals]
        missing += [cid for cid in self.declaration_ids if cid not in tool_outputs]
        if missing:
            raise ValueError(f"resume needs a decision for every pending call; missing: {missing}")
        unknown = sorted(
            (set(approvals) - set(self.approval_ids)) | (set(tool_outputs) - set(self.declaration_ids))
        )
        if unknown:
            raise ValueError(f"resume got decisions for calls that are not pending: {unknown}")
        self.decisions = PendingDecisions(
            approved={cid for cid, ok in approvals.items() if ok},
            rejected={cid for cid, ok in approvals.items() if not ok},
            outputs=tool_outputs,
        )

"""The context handed to middleware and to tools that ask for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentdown.tools.protocol import Tool

__all__ = ["FunctionInvocationContext", "ToolUsage"]


@dataclass(slots=True)
class ToolUsage:
    """How often each tool ran, and failed, in one run (paused and resumed parts included).

    ``max_invocations`` / ``max_invocation_exceptions`` count here, so one user's run
    cannot use up or disable a tool for every other session of a server.
    """

    calls: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {"calls": dict(self.calls), "errors": dict(self.errors)}

    @classmethod
    def from_dict(cls, raw: Any) -> ToolUsage:
        if not raw:
            return cls()
        return cls(
            calls={str(k): int(v) for k, v in dict(raw.get("calls") or {}).items()},
            errors={str(k): int(v) for k, v in dict(raw.get("errors") or {}).items()},
        )


@dataclass(slots=True)
class FunctionInvocationContext:
    """Everything about one tool call.

    A tool function receives it by declaring a parameter annotated with this type;
    such a parameter never appears in the tool's JSON Schema. Middleware receives it
    as its first argument and may replace ``arguments`` before the call and
    ``result`` after it.
    """

    tool: Tool
    """The tool being called."""
    arguments: dict[str, Any]
    """The validated arguments."""
    call_id: str = ""
    """The model's id for this call."""
    session: Any = None
    """The session of the run, when the run has one."""
    function_invocation_kwargs: dict[str, Any] = field(default_factory=dict)
    """Run-level values passed to ``agent.run(..., function_invocation_kwargs=...)``."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """Per-call scratch space shared by the middleware chain and the tool."""
    result: Any = None
    """The tool's result, set after the call (middleware may replace it)."""
    exception: BaseException | None = None
    """The exception the call raised, if any."""
    usage: ToolUsage | None = None
    """The run's per-tool counters (``None`` outside a run)."""

    @property
    def kwargs(self) -> dict[str, Any]:
        """Agent Framework's name for :attr:`function_invocation_kwargs`."""
        return self.function_invocation_kwargs

"""The context handed to middleware and to tools that ask for it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentdown.tools.protocol import Tool

__all__ = ["FunctionInvocationContext"]


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

    @property
    def kwargs(self) -> dict[str, Any]:
        """Agent Framework's name for :attr:`function_invocation_kwargs`."""
        return self.function_invocation_kwargs

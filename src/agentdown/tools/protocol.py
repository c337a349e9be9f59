"""The structural ``Tool`` protocol: any object with these attributes is a tool."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from agentdown.tools.context import FunctionInvocationContext

ApprovalMode = Literal["never_require", "always_require"]
APPROVAL_MODES: tuple[ApprovalMode, ...] = ("never_require", "always_require")

TOOL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""Tool names every major provider accepts (OpenAI's rule)."""

__all__ = ["APPROVAL_MODES", "TOOL_NAME_PATTERN", "ApprovalMode", "Tool", "check_tool_name", "tool_attr"]


@runtime_checkable
class Tool(Protocol):
    """What the run loop needs from a tool. No base class is required.

    ``invoke`` may be ``async def`` or a plain ``def``; it receives the arguments
    (already validated against ``parameters``) and the invocation context.
    Optional attributes the runtime honours when present: ``approval_mode``
    (``"never_require"`` | ``"always_require"``), ``kind``, ``additional_properties``
    and ``declaration_only`` (the model may call it; the runtime reports the call).
    """

    name: str
    description: str

    @property
    def parameters(self) -> dict[str, Any]: ...

    def invoke(
        self, arguments: dict[str, Any], context: FunctionInvocationContext
    ) -> Awaitable[Any] | Any: ...


def tool_attr(tool: object, name: str, default: Any) -> Any:
    """An optional protocol attribute, with the protocol's default when absent."""
    return getattr(tool, name, default)


def check_tool_name(name: object, what: str) -> str:
    """Return ``name`` if it is a valid tool name, else raise ``ValueError`` naming ``what``."""
    if not isinstance(name, str) or TOOL_NAME_PATTERN.fullmatch(name) is None:
        raise ValueError(
            f"invalid tool name {name!r} for {what}: tool names must match {TOOL_NAME_PATTERN.pattern} "
            "(1-64 letters, digits, '_' or '-'); pass name=... to choose one"
        )
    return name

"""Test doubles for agents: scripted and function models, and a loopback model server.

Everything here runs offline, so agents can be unit-tested without a model provider.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agentdown.testing.scripted import (
    CallInfo,
    FunctionModel,
    ModelRequest,
    RecordedRequest,
    Reply,
    ReplyFunction,
    ScriptedModel,
    ScriptExhaustedError,
    ToolCalls,
    tool_call,
)

if TYPE_CHECKING:
    from agentdown.testing.fake_server import FakeModelServer, default_handler, example_arguments

__all__ = [
    "CallInfo",
    "FakeModelServer",
    "FunctionModel",
    "ModelRequest",
    "RecordedRequest",
    "Reply",
    "ReplyFunction",
    "ScriptExhaustedError",
    "ScriptedModel",
    "ToolCalls",
    "default_handler",
    "example_arguments",
    "tool_call",
]

_LAZY = {"FakeModelServer", "default_handler", "example_arguments"}


def __getattr__(name: str) -> Any:
    # The server pulls in aiohttp.web; loading it lazily keeps `import agentdown.testing`
    # light and lets `python -m agentdown.testing.fake_server` run without a double import.
    if name in _LAZY:
        from agentdown.testing import fake_server

        return getattr(fake_server, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

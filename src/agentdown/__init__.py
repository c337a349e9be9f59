"""agentdown: a runtime for AI agents written as Markdown.

The public API, nothing else. Names are imported on first use (PEP 562 ``__getattr__``):
``import agentdown`` costs a few milliseconds instead of loading aiohttp, pydantic and
the run loop, so a CLI command or a process that only needs part of the package starts
fast. ``from agentdown import Agent`` works as usual, and type checkers read the
imports under ``TYPE_CHECKING`` below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentdown.lazy import lazy_exports
from agentdown.version import __version__

if TYPE_CHECKING:
    from agentdown.agent import (
        Agent,
        AgentTool,
    )
    from agentdown.exceptions import (
        AgentdownError,
        ConfigurationError,
        ModelError,
        ModelHTTPError,
        ResumeError,
        RunTimeoutError,
        StructuredOutputError,
        ToolError,
    )
    from agentdown.loop.config import (
        FunctionInvocationConfiguration,
    )
    from agentdown.loop.events import (
        AgentRunResult,
        ApprovalRequest,
        MessageCompletedEvent,
        ReasoningDeltaEvent,
        RunCompletedEvent,
        RunErrorEvent,
        RunEvent,
        RunStep,
        StepCompletedEvent,
        TextDeltaEvent,
        ToolCallEndEvent,
        ToolCallRecord,
        ToolCallStartEvent,
    )
    from agentdown.loop.structured import (
        JsonSchema,
        ResponseExample,
    )
    from agentdown.messages import (
        Content,
        Message,
        Usage,
    )
    from agentdown.models.base import (
        ChatModel,
        ChatOptions,
        ChatResponse,
    )
    from agentdown.models.openai_compat import (
        OpenAIChatModel,
    )
    from agentdown.models.provider import (
        model_from_env,
    )
    from agentdown.runtime.queue_tools import (
        QueueTool,
    )
    from agentdown.sessions.session import (
        Session,
    )
    from agentdown.sessions.truncation import (
        DEFAULT_TRUNCATION,
        TokenCache,
        TokenCounter,
        TruncationStrategy,
        estimate_tokens,
        truncate,
    )
    from agentdown.tools import (
        SKIP_PARSING,
        FunctionInvocationContext,
        FunctionMiddleware,
        FunctionTool,
        MiddlewareTermination,
        Tool,
        function_middleware,
        normalize_tools,
        tool,
    )

_EXPORTS: dict[str, str] = {
    "Agent": "agentdown.agent",
    "AgentTool": "agentdown.agent",
    "AgentdownError": "agentdown.exceptions",
    "ConfigurationError": "agentdown.exceptions",
    "ModelError": "agentdown.exceptions",
    "ModelHTTPError": "agentdown.exceptions",
    "ResumeError": "agentdown.exceptions",
    "RunTimeoutError": "agentdown.exceptions",
    "StructuredOutputError": "agentdown.exceptions",
    "ToolError": "agentdown.exceptions",
    "FunctionInvocationConfiguration": "agentdown.loop.config",
    "AgentRunResult": "agentdown.loop.events",
    "ApprovalRequest": "agentdown.loop.events",
    "MessageCompletedEvent": "agentdown.loop.events",
    "ReasoningDeltaEvent": "agentdown.loop.events",
    "RunCompletedEvent": "agentdown.loop.events",
    "RunErrorEvent": "agentdown.loop.events",
    "RunEvent": "agentdown.loop.events",
    "RunStep": "agentdown.loop.events",
    "StepCompletedEvent": "agentdown.loop.events",
    "TextDeltaEvent": "agentdown.loop.events",
    "ToolCallEndEvent": "agentdown.loop.events",
    "ToolCallRecord": "agentdown.loop.events",
    "ToolCallStartEvent": "agentdown.loop.events",
    "JsonSchema": "agentdown.loop.structured",
    "ResponseExample": "agentdown.loop.structured",
    "Content": "agentdown.messages",
    "Message": "agentdown.messages",
    "Usage": "agentdown.messages",
    "ChatModel": "agentdown.models.base",
    "ChatOptions": "agentdown.models.base",
    "ChatResponse": "agentdown.models.base",
    "OpenAIChatModel": "agentdown.models.openai_compat",
    "model_from_env": "agentdown.models.provider",
    "QueueTool": "agentdown.runtime.queue_tools",
    "Session": "agentdown.sessions.session",
    "DEFAULT_TRUNCATION": "agentdown.sessions.truncation",
    "TokenCache": "agentdown.sessions.truncation",
    "TokenCounter": "agentdown.sessions.truncation",
    "TruncationStrategy": "agentdown.sessions.truncation",
    "estimate_tokens": "agentdown.sessions.truncation",
    "truncate": "agentdown.sessions.truncation",
    "SKIP_PARSING": "agentdown.tools",
    "FunctionInvocationContext": "agentdown.tools",
    "FunctionMiddleware": "agentdown.tools",
    "FunctionTool": "agentdown.tools",
    "MiddlewareTermination": "agentdown.tools",
    "Tool": "agentdown.tools",
    "function_middleware": "agentdown.tools",
    "normalize_tools": "agentdown.tools",
    "tool": "agentdown.tools",
}
"""Where each public name lives."""

__all__ = [
    "DEFAULT_TRUNCATION",
    "SKIP_PARSING",
    "Agent",
    "AgentRunResult",
    "AgentTool",
    "AgentdownError",
    "ApprovalRequest",
    "ChatModel",
    "ChatOptions",
    "ChatResponse",
    "ConfigurationError",
    "Content",
    "FunctionInvocationConfiguration",
    "FunctionInvocationContext",
    "FunctionMiddleware",
    "FunctionTool",
    "JsonSchema",
    "Message",
    "MessageCompletedEvent",
    "MiddlewareTermination",
    "ModelError",
    "ModelHTTPError",
    "OpenAIChatModel",
    "QueueTool",
    "ReasoningDeltaEvent",
    "ResponseExample",
    "ResumeError",
    "RunCompletedEvent",
    "RunErrorEvent",
    "RunEvent",
    "RunStep",
    "RunTimeoutError",
    "Session",
    "StepCompletedEvent",
    "StructuredOutputError",
    "TextDeltaEvent",
    "TokenCache",
    "TokenCounter",
    "Tool",
    "ToolCallEndEvent",
    "ToolCallRecord",
    "ToolCallStartEvent",
    "ToolError",
    "TruncationStrategy",
    "Usage",
    "__version__",
    "estimate_tokens",
    "function_middleware",
    "model_from_env",
    "normalize_tools",
    "tool",
    "truncate",
]


__getattr__ = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

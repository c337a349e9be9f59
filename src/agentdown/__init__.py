"""agentdown: a runtime for AI agents written as Markdown."""

from agentdown.agent import Agent, AgentTool
from agentdown.exceptions import (
    AgentdownError,
    ConfigurationError,
    ModelError,
    ModelHTTPError,
    RunTimeoutError,
    StructuredOutputError,
    ToolError,
)
from agentdown.loop.config import FunctionInvocationConfiguration
from agentdown.loop.events import AgentRunResult, ApprovalRequest, RunStep, ToolCallRecord
from agentdown.loop.structured import JsonSchema, ResponseExample
from agentdown.messages import Content, Message, Usage
from agentdown.models.base import ChatModel, ChatOptions, ChatResponse
from agentdown.sessions import Session
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
from agentdown.version import __version__

__all__ = [
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
    "MiddlewareTermination",
    "ModelError",
    "ModelHTTPError",
    "ResponseExample",
    "RunStep",
    "RunTimeoutError",
    "Session",
    "StructuredOutputError",
    "Tool",
    "ToolCallRecord",
    "ToolError",
    "Usage",
    "__version__",
    "function_middleware",
    "normalize_tools",
    "tool",
]

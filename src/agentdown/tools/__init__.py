"""Tools: the ``Tool`` protocol, ``FunctionTool``/``@tool``, middleware and invocation."""

from agentdown.exceptions import ToolError
from agentdown.tools.arguments import ToolArgumentsError
from agentdown.tools.context import FunctionInvocationContext, ToolUsage
from agentdown.tools.function import FunctionTool, tool
from agentdown.tools.invocation import ToolCallOutcome, invoke_tool_call, validate_tool_arguments
from agentdown.tools.middleware import (
    CallNext,
    FunctionMiddleware,
    MiddlewareTermination,
    function_middleware,
    normalize_function_middleware,
)
from agentdown.tools.normalize import normalize_tools, tool_definition
from agentdown.tools.protocol import ApprovalMode, Tool
from agentdown.tools.results import SKIP_PARSING, ResultParser, parse_tool_result

__all__ = [
    "SKIP_PARSING",
    "ApprovalMode",
    "CallNext",
    "FunctionInvocationContext",
    "FunctionMiddleware",
    "FunctionTool",
    "MiddlewareTermination",
    "ResultParser",
    "Tool",
    "ToolArgumentsError",
    "ToolCallOutcome",
    "ToolError",
    "ToolUsage",
    "function_middleware",
    "invoke_tool_call",
    "normalize_function_middleware",
    "normalize_tools",
    "parse_tool_result",
    "tool",
    "tool_definition",
    "validate_tool_arguments",
]

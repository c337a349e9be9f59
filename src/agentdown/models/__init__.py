"""Chat models: the ``ChatModel`` protocol, the OpenAI-compatible client and provider setup."""

from agentdown.models.base import (
    ChatModel,
    ChatOptions,
    ChatResponse,
    ModelStreamEvent,
    ReasoningDelta,
    TextDelta,
    ToolCallDelta,
    ToolDefinition,
)
from agentdown.models.openai_compat import ModelTimeoutError, OpenAIChatModel, TokenProvider
from agentdown.models.provider import ProviderContext, ProviderFactory, model_from_env, register_provider
from agentdown.models.retry import RetryPolicy

__all__ = [
    "ChatModel",
    "ChatOptions",
    "ChatResponse",
    "ModelStreamEvent",
    "ModelTimeoutError",
    "OpenAIChatModel",
    "ProviderContext",
    "ProviderFactory",
    "ReasoningDelta",
    "RetryPolicy",
    "TextDelta",
    "TokenProvider",
    "ToolCallDelta",
    "ToolDefinition",
    "model_from_env",
    "register_provider",
]

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
from agentdown.models.embeddings import Embedder, OpenAIEmbedder, embedder_from_env
from agentdown.models.openai_compat import ModelTimeoutError, OpenAIChatModel, TokenProvider
from agentdown.models.provider import ProviderContext, ProviderFactory, model_from_env, register_provider
from agentdown.models.retry import RetryPolicy

__all__ = [
    "ChatModel",
    "ChatOptions",
    "ChatResponse",
    "Embedder",
    "ModelStreamEvent",
    "ModelTimeoutError",
    "OpenAIChatModel",
    "OpenAIEmbedder",
    "ProviderContext",
    "ProviderFactory",
    "ReasoningDelta",
    "RetryPolicy",
    "TextDelta",
    "TokenProvider",
    "ToolCallDelta",
    "ToolDefinition",
    "embedder_from_env",
    "model_from_env",
    "register_provider",
]

"""agentdown: a runtime for AI agents written as Markdown."""

from agentdown.messages import Content, Message, Usage

__version__ = "0.1.0"

__all__ = ["Content", "Message", "Usage", "__version__"]

"""Every error agentdown raises on purpose derives from :class:`AgentdownError`."""

from __future__ import annotations


class AgentdownError(Exception):
    """Base class of agentdown's own errors."""


class ConfigurationError(AgentdownError, ValueError):
    """A missing or contradictory configuration, found when an agent or app is built.

    The message names the setting (argument, environment variable or file:line) and
    what was expected.
    """


class ModelError(AgentdownError):
    """The model provider failed to produce a usable response."""


class ModelHTTPError(ModelError):
    """The provider answered with an HTTP error that retries did not cure."""

    def __init__(self, status: int, body: str, url: str = "") -> None:
        self.status = status
        self.body = body
        self.url = url
        snippet = body if len(body) <= 500 else body[:500] + "..."
        super().__init__(f"model request to {url or 'provider'} failed with HTTP {status}: {snippet}")


class ModelTimeoutError(ModelError, TimeoutError):
    """The model did not answer (or stopped streaming) within the configured timeout."""


class ToolError(AgentdownError):
    """Raised by a tool to report a failure; the model reads the message as the tool result.

    Unlike other exceptions, the message is shown to the model even when detailed
    errors are turned off, so write it for the model.
    """


class ToolsetUnavailableError(AgentdownError):
    """A toolset (e.g. an MCP server) could not list its tools; runs of agents using it fail."""


class UnexpectedModelBehavior(AgentdownError):
    """The model did something the run loop cannot continue from (e.g. no reply at all)."""


class StructuredOutputError(AgentdownError):
    """The final answer did not validate against the response format after every retry.

    ``raw_text`` holds the model's last answer, ``errors`` the last validation error.
    """

    def __init__(self, message: str, raw_text: str, errors: str) -> None:
        super().__init__(message)
        self.raw_text = raw_text
        self.errors = errors


class RunTimeoutError(AgentdownError):
    """A run exceeded its timeout. The session keeps a consistent history."""


class ResumeError(AgentdownError, ValueError):
    """A paused run cannot be resumed as asked.

    The state is not one this process handed out (its signature does not verify),
    belongs to another session, or the decisions do not match the calls that were
    pending: every call that needs approval or an output must get exactly one, and a
    call that was not pending when the run paused is refused. Nothing ran.
    """

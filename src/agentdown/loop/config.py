"""Limits and switches of the tool-calling loop (Agent Framework's names and defaults)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from agentdown.exceptions import ConfigurationError

__all__ = ["FunctionInvocationConfiguration"]


@dataclass(slots=True)
class FunctionInvocationConfiguration:
    """How the run loop calls tools.

    When a limit trips, the loop makes one final model call without tools so the
    model can still answer in words.
    """

    enabled: bool = True
    """Call tools at all. When false the model is not offered any tool."""
    max_iterations: int = 40
    """Model calls that may request tools in one run."""
    max_function_calls: int | None = None
    """Tool invocations in one run; ``None`` is unlimited."""
    max_consecutive_errors_per_request: int = 3
    """Consecutive model turns whose tool calls all failed before tools are withdrawn."""
    terminate_on_unknown_calls: bool = False
    """End the run when the model calls a tool that does not exist (else it is told so)."""
    include_detailed_errors: bool = False
    """Show the model exception types and messages from failing tools."""
    additional_tools: list[Any] = field(default_factory=list)
    """Tools that may be executed when called but are not advertised to the model."""

    def __post_init__(self) -> None:
        if self.max_iterations < 1:
            raise ConfigurationError(f"max_iterations must be >= 1, got {self.max_iterations}")
        if self.max_function_calls is not None and self.max_function_calls < 0:
            raise ConfigurationError(
                f"max_function_calls must be >= 0 or None, got {self.max_function_calls}"
            )
        if self.max_consecutive_errors_per_request < 1:
            raise ConfigurationError(
                "max_consecutive_errors_per_request must be >= 1, "
                f"got {self.max_consecutive_errors_per_request}"
            )

    @classmethod
    def coerce(
        cls, value: FunctionInvocationConfiguration | Mapping[str, Any] | None
    ) -> FunctionInvocationConfiguration:
        """Accept an instance, a mapping of its fields, or ``None`` (the defaults)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, Mapping):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise ConfigurationError(
                    f"unknown function invocation setting(s) {unknown}; expected some of {sorted(known)}"
                )
            return cls(**value)
        raise ConfigurationError(
            f"function_invocation_configuration must be a FunctionInvocationConfiguration or a mapping, "
            f"got {type(value).__name__}"
        )

"""A tool the main agent calls in the tests."""

from agentdown import tool


@tool
def clock() -> str:
    """The current time."""
    return "12:00"

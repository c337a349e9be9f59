"""An in-memory conversation: the history a run reads and extends."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from agentdown.messages import Message, new_id

SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

__all__ = ["SESSION_ID_PATTERN", "Session", "validate_session_id"]


def validate_session_id(session_id: str) -> str:
    """Return ``session_id`` or raise ``ValueError`` saying what a session id may contain."""
    if not isinstance(session_id, str) or not SESSION_ID_PATTERN.match(session_id):
        raise ValueError(
            f"invalid session id {session_id!r}: expected 1-128 characters from A-Z a-z 0-9 . _ -"
        )
    return session_id


@dataclass(slots=True)
class Session:
    """A conversation's history. A run appends its messages only when it ends.

    Runs read ``messages`` at their start and extend it once at their end, so a
    failed or cancelled run never leaves half a tool exchange behind.
    """

    id: str = field(default_factory=lambda: new_id("sess"))
    messages: list[Message] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_session_id(self.id)

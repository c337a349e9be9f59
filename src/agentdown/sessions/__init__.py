"""Conversation sessions."""

from agentdown.sessions.session import SESSION_ID_PATTERN, Session, validate_session_id

__all__ = ["SESSION_ID_PATTERN", "Session", "validate_session_id"]

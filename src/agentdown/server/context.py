"""What every route needs: the catalog, the runner, the settings, the authorizer."""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.requests import HTTPConnection

from agentdown.app.catalog import AgentCatalog
from agentdown.app.spec import AgentSpec
from agentdown.messages import new_id
from agentdown.runtime import Runner
from agentdown.server.auth import Authorizer
from agentdown.server.errors import ApiError
from agentdown.server.settings import ServerSettings

__all__ = ["SESSION_HEADER", "SESSION_ID", "ServerContext", "session_id_of"]

SESSION_HEADER = "x-ms-session-id"
SESSION_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


@dataclass(frozen=True, slots=True)
class ServerContext:
    catalog: AgentCatalog
    runner: Runner
    settings: ServerSettings
    authorizer: Authorizer

    def spec(self, slug: str, feature: str) -> AgentSpec:
        """The agent ``slug`` if it has ``feature`` enabled (``chat_api``, ``debug_chat_ui``, ``mcp``); else 404."""
        spec = self.catalog.specs.get(slug)
        if spec is None or not getattr(spec.builtin_endpoints, feature):
            names = {"chat_api": "the chat API", "debug_chat_ui": "a chat page", "mcp": "MCP"}
            raise ApiError(
                404, f"no agent '{slug}' with {names.get(feature, feature)} here", "agent_not_found"
            )
        return spec


def session_id_of(conn: HTTPConnection, *, new: bool) -> str | None:
    """The ``x-ms-session-id`` header, validated; a fresh id (``new``) or ``None`` when absent."""
    raw = conn.headers.get(SESSION_HEADER)
    if raw is None or not raw.strip():
        return new_id("sess") if new else None
    value = raw.strip()
    if not SESSION_ID.match(value):
        raise ApiError(
            400,
            f"invalid {SESSION_HEADER} header: expected 1-128 characters from A-Z a-z 0-9 . _ -",
            "invalid_session_id",
        )
    return value

"""Conversation sessions: the in-memory :class:`Session`, durable stores and truncation.

Stores: :class:`SqliteSessionStore` (the default), :class:`JsonlSessionStore` and
``AzureBlobSessionStore`` (imported on first use: it needs the ``azure`` extra).
:func:`default_store` picks one from the environment (see :mod:`agentdown.sessions.config`);
:func:`open_session` / :func:`load_session` + :func:`save_turn` connect a store to
``Agent.run`` (see :mod:`agentdown.sessions.stored`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agentdown.lazy import lazy_exports
from agentdown.sessions.config import (
    StoreSettings,
    data_dir,
    default_store,
    open_store,
    store_from_env,
    store_settings,
)
from agentdown.sessions.session import SESSION_ID_PATTERN, Session, validate_session_id
from agentdown.sessions.store import (
    History,
    SessionConflictError,
    SessionInfo,
    SessionStore,
    SessionStoreError,
    Turn,
    validate_agent_name,
)
from agentdown.sessions.stored import StoredSession, append_with_retry, load_session, open_session, save_turn
from agentdown.sessions.truncation import (
    DEFAULT_MAX_INPUT_TOKENS,
    DEFAULT_TRUNCATION,
    TokenCounter,
    TruncationStrategy,
    estimate_tokens,
    resolve_truncation,
    truncate,
)

if TYPE_CHECKING:
    from agentdown.sessions.azure_blob import AzureBlobSessionStore
    from agentdown.sessions.jsonl import JsonlSessionStore
    from agentdown.sessions.sqlite import SqliteSessionStore

__all__ = [
    "DEFAULT_MAX_INPUT_TOKENS",
    "DEFAULT_TRUNCATION",
    "SESSION_ID_PATTERN",
    "AzureBlobSessionStore",
    "History",
    "JsonlSessionStore",
    "Session",
    "SessionConflictError",
    "SessionInfo",
    "SessionStore",
    "SessionStoreError",
    "SqliteSessionStore",
    "StoreSettings",
    "StoredSession",
    "TokenCounter",
    "TruncationStrategy",
    "Turn",
    "append_with_retry",
    "data_dir",
    "default_store",
    "estimate_tokens",
    "load_session",
    "open_session",
    "open_store",
    "resolve_truncation",
    "save_turn",
    "store_from_env",
    "store_settings",
    "truncate",
    "validate_agent_name",
    "validate_session_id",
]


_LAZY = {
    "AzureBlobSessionStore": "agentdown.sessions.azure_blob",
    "JsonlSessionStore": "agentdown.sessions.jsonl",
    "SqliteSessionStore": "agentdown.sessions.sqlite",
}


# Stores load on first use: `import agentdown` should not pay for sqlite3 or the Azure SDK
# (an optional extra that takes a while to import).
__getattr__ = lazy_exports(__name__, _LAZY)

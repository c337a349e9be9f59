"""Which session store an app uses: agentdown's, or the Azure Functions agents runtime's blobs.

``agentdown serve``, ``agentdown worker`` and ``create_function_app()`` all choose with
:func:`select_store`, so a folder moved over from that runtime reads and writes the same
session blobs wherever it runs. The rule (first match wins):

1. ``AGENTDOWN_SESSION_FORMAT=functions`` selects the other runtime's format, ``=agentdown`` never;
2. ``AZURE_FUNCTIONS_AGENTS_SESSION_CONTAINER`` or any other ``AZURE_FUNCTIONS_AGENTS_*``
   setting (an app moved over from that runtime) selects it;
3. otherwise the store :func:`agentdown.sessions.store_from_env` picks.

This module imports no storage SDK: :mod:`.functions_blob` (Azure Blob) is imported
only when its format is chosen, which keeps it off ``serve``'s and a cold start's path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from agentdown.sessions.config import store_from_env
from agentdown.sessions.store import SessionStore

__all__ = ["select_store", "uses_functions_format"]


def uses_functions_format(environ: Mapping[str, str]) -> bool:
    """Whether the settings ask for the other runtime's session format (rules 1 and 2 above)."""
    chosen = environ.get("AGENTDOWN_SESSION_FORMAT", "").strip().lower()
    if chosen in ("functions", "agentdown"):
        return chosen == "functions"
    if chosen:
        raise ValueError(f"AGENTDOWN_SESSION_FORMAT: expected functions or agentdown, got {chosen!r}")
    return any(
        name.startswith("AZURE_FUNCTIONS_AGENTS_") and value.strip() for name, value in environ.items()
    )


def select_store(environ: Mapping[str, str] | None = None) -> SessionStore:
    """The app's session store (see the module docstring for the rule)."""
    env = os.environ if environ is None else environ
    if not uses_functions_format(env):
        return store_from_env(env)
    from agentdown.sessions.functions_blob import functions_store

    return functions_store(env)

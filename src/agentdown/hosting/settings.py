"""What a hosted app reads from the Functions environment: its root, trust, the session store.

App root, first match wins: the ``app_root`` argument, ``AZURE_FUNCTIONS_AGENTS_APP_ROOT``,
``AGENTDOWN_APP_ROOT``, ``AzureWebJobsScriptRoot`` (set by the Functions host), else the
current directory (the worker's, which is the script root).

``X-MS-CLIENT-PRINCIPAL`` (``http_auth: entra``) is trusted only with positive evidence
that App Service Authentication sits in front: ``WEBSITE_AUTH_ENABLED=True`` (set by the
platform), ``AZURE_FUNCTIONS_AGENTS_ENTRA_EASY_AUTH=true`` or
``AGENTDOWN_TRUST_CLIENT_PRINCIPAL=true``; otherwise entra agents answer 401.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["APP_ROOT_SETTINGS", "app_root", "max_dequeue_count", "trusts_client_principal"]

APP_ROOT_SETTINGS = ("AZURE_FUNCTIONS_AGENTS_APP_ROOT", "AGENTDOWN_APP_ROOT", "AzureWebJobsScriptRoot")
_TRUE = ("1", "true", "yes", "on")
_TRUST_SETTINGS = (
    "WEBSITE_AUTH_ENABLED",
    "AZURE_FUNCTIONS_AGENTS_ENTRA_EASY_AUTH",
    "AGENTDOWN_TRUST_CLIENT_PRINCIPAL",
)


def app_root(given: str | os.PathLike[str] | None, environ: Mapping[str, str]) -> Path:
    """The app folder (see the module docstring); not checked here, the loader says what is wrong."""
    if given is not None:
        return Path(given).expanduser()
    for name in APP_ROOT_SETTINGS:
        value = environ.get(name, "").strip()
        if value:
            return Path(value).expanduser()
    return Path.cwd()


def trusts_client_principal(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name, "").strip().lower() in _TRUE for name in _TRUST_SETTINGS)


DEFAULT_MAX_DEQUEUE_COUNT = 5
"""The queue extension's ``maxDequeueCount`` when host.json does not set it."""


def max_dequeue_count(root: Path) -> int:
    """``extensions.queues.maxDequeueCount`` of the app's host.json (deliveries before the poison queue)."""
    try:
        host = json.loads((root / "host.json").read_text(encoding="utf-8-sig"))
        value = host["extensions"]["queues"]["maxDequeueCount"]
    except (OSError, ValueError, KeyError, TypeError):
        return DEFAULT_MAX_DEQUEUE_COUNT
    return (
        value
        if isinstance(value, int) and not isinstance(value, bool) and value > 0
        else DEFAULT_MAX_DEQUEUE_COUNT
    )

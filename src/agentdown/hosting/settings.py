"""What a hosted app reads from the Functions environment: its root, trust, the session store.

App root, first match wins: the ``app_root`` argument, ``AZURE_FUNCTIONS_AGENTS_APP_ROOT``,
``AGENTDOWN_APP_ROOT``, ``AzureWebJobsScriptRoot`` (set by the Functions host), else the
current directory (the worker's, which is the script root).

``X-MS-CLIENT-PRINCIPAL`` (``http_auth: entra``) is trusted only with positive evidence
that App Service Authentication sits in front: ``WEBSITE_AUTH_ENABLED=True`` (set by the
platform), ``AZURE_FUNCTIONS_AGENTS_ENTRA_EASY_AUTH=true`` or
``AGENTDOWN_TRUST_CLIENT_PRINCIPAL=true``; otherwise entra agents answer 401.

HTTP streaming (:mod:`.http_v2`) is on when the worker will serve it: the
``azurefunctions-extensions-http-fastapi`` package is installed and the worker indexes at
start-up (``PYTHON_ENABLE_INIT_INDEXING=1``, the default from Python 3.13), or the app's own
code imported the extension already (the worker then hands every HTTP function its types).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "APP_ROOT_SETTINGS",
    "HTTP_EXTENSION",
    "app_root",
    "http_streaming",
    "max_dequeue_count",
    "trusts_client_principal",
]

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


HTTP_EXTENSION = "azurefunctions.extensions.http.fastapi"
"""The worker's HTTP streams extension; importing it switches every HTTP function of the app."""


def http_streaming(environ: Mapping[str, str]) -> bool:
    """Whether the HTTP functions take the extension's FastAPI types (see the module docstring).

    The worker's switch is app-wide and all-or-nothing: once the extension is imported while
    indexing, it accepts only FastAPI-typed HTTP functions. Without init indexing (Python 3.12
    and earlier) it would wait for requests its proxy never receives, so then the functions
    stay on ``func.HttpRequest`` and the event stream is answered whole.
    """
    if HTTP_EXTENSION in sys.modules:
        return True
    flag = environ.get("PYTHON_ENABLE_INIT_INDEXING", "").strip().lower()
    if flag in ("0", "false"):
        return False
    if flag not in ("1", "true") and sys.version_info < (3, 13):
        return False
    try:
        return importlib.util.find_spec(HTTP_EXTENSION) is not None
    except ModuleNotFoundError:  # the azurefunctions namespace itself is missing
        return False

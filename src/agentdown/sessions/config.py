"""Choosing the session store from the environment.

Precedence (first match wins; empty values count as unset):

1. ``AGENTDOWN_SESSION_STORE`` = ``sqlite`` | ``jsonl`` | ``azure_blob`` names the store.
   For ``azure_blob`` the account comes from step 2, else step 3, else it is an error.
2. ``AGENTDOWN_SESSION_CONNECTION``: a storage connection string,
   ``UseDevelopmentStorage=true`` (Azurite) or a blob account URL
   (``https://<account>.blob.core.windows.net``, signed in with DefaultAzureCredential)
   -> ``azure_blob``.
3. ``AzureWebJobsStorage`` (same forms as 2), or its identity-based forms
   ``AzureWebJobsStorage__blobServiceUri`` / ``AzureWebJobsStorage__accountName``
   (with ``AzureWebJobsStorage__clientId`` for a user-assigned managed identity)
   -> ``azure_blob``.
4. Otherwise ``sqlite``.

Locations: ``AGENTDOWN_SESSION_PATH`` (the SQLite file, or the JSONL directory), else
``<data dir>/sessions.db`` / ``<data dir>/sessions/``. The data dir is
``AGENTDOWN_DATA_DIR``, else ``%LOCALAPPDATA%\\agentdown`` on Windows, else
``$XDG_DATA_HOME/agentdown``, else ``~/.local/share/agentdown``. Blob layout:
``AGENTDOWN_SESSION_CONTAINER`` (default ``agentdown-sessions``) and
``AGENTDOWN_SESSION_PREFIX`` (default ``sessions``).

Memory: each store keeps the turns it decoded (its turn cache) up to
``AGENTDOWN_TURN_CACHE_BYTES`` (default 32 MiB, estimated; ``0`` turns it off, and every
load decodes what it reads again).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agentdown.exceptions import ConfigurationError
from agentdown.sessions.store import SessionStore
from agentdown.sessions.turncache import DEFAULT_TURN_CACHE_BYTES

__all__ = [
    "AZURITE_ACCOUNT_KEY",
    "StoreKind",
    "StoreSettings",
    "azurite_connection_string",
    "data_dir",
    "default_store",
    "open_store",
    "store_from_env",
    "store_settings",
]

StoreKind = Literal["sqlite", "jsonl", "azure_blob"]
_KINDS: tuple[StoreKind, ...] = ("sqlite", "jsonl", "azure_blob")

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_ACCOUNT_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
"""Azurite's well-known development key (public, not a secret)."""


def azurite_connection_string(blob_endpoint: str = "http://127.0.0.1:10000") -> str:
    """The connection string of Azurite's development account at ``blob_endpoint``."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_ACCOUNT_KEY};"
        f"BlobEndpoint={blob_endpoint.rstrip('/')}/{AZURITE_ACCOUNT};"
    )


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """The resolved choice of session store; :func:`open_store` builds it."""

    kind: StoreKind
    """Which store."""
    source: str
    """The setting that decided it, for messages (e.g. ``AzureWebJobsStorage``)."""
    path: Path | None = None
    """SQLite database file or JSONL directory."""
    connection_string: str | None = None
    """Azure Storage connection string (blob, key or SAS based)."""
    account_url: str | None = None
    """Blob service URL signed in with DefaultAzureCredential (when no connection string)."""
    managed_identity_client_id: str | None = None
    """Client id of a user-assigned managed identity for DefaultAzureCredential."""
    container: str = "agentdown-sessions"
    """Blob container of the sessions."""
    prefix: str = "sessions"
    """Blob name prefix inside the container."""
    turn_cache_bytes: int = DEFAULT_TURN_CACHE_BYTES
    """What the store's cache of decoded turns may hold (``AGENTDOWN_TURN_CACHE_BYTES``; 0: no cache)."""

    def describe(self) -> str:
        where = self.path or self.account_url or _redact(self.connection_string or "")
        return f"{self.kind} ({where}; chosen by {self.source})"


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where agentdown keeps local state (see the module docstring)."""
    env = os.environ if environ is None else environ
    explicit = _get(env, "AGENTDOWN_DATA_DIR")
    if explicit:
        return Path(explicit).expanduser()
    if sys.platform == "win32" and _get(env, "LOCALAPPDATA"):
        return Path(str(_get(env, "LOCALAPPDATA"))) / "agentdown"
    xdg = _get(env, "XDG_DATA_HOME")
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "agentdown"
    return Path.home() / ".local" / "share" / "agentdown"


def store_settings(environ: Mapping[str, str] | None = None) -> StoreSettings:
    """Resolve the store from ``environ`` (default ``os.environ``) without opening anything."""
    env = os.environ if environ is None else environ
    container = _get(env, "AGENTDOWN_SESSION_CONTAINER") or "agentdown-sessions"
    prefix = _get(env, "AGENTDOWN_SESSION_PREFIX") or "sessions"
    path = _get(env, "AGENTDOWN_SESSION_PATH")
    chosen = _get(env, "AGENTDOWN_SESSION_STORE")
    cache = _turn_cache_bytes(env)
    if chosen is not None and chosen not in _KINDS:
        raise ConfigurationError(
            f"AGENTDOWN_SESSION_STORE: expected one of {', '.join(_KINDS)}, got {chosen!r}"
        )
    blob = _blob_account(env)
    if chosen == "sqlite" or (chosen is None and blob is None):
        source = "AGENTDOWN_SESSION_STORE" if chosen else "default"
        db = Path(path).expanduser() if path else data_dir(env) / "sessions.db"
        return StoreSettings(kind="sqlite", source=source, path=db, turn_cache_bytes=cache)
    if chosen == "jsonl":
        directory = Path(path).expanduser() if path else data_dir(env) / "sessions"
        return StoreSettings(
            kind="jsonl", source="AGENTDOWN_SESSION_STORE", path=directory, turn_cache_bytes=cache
        )
    if blob is None:
        raise ConfigurationError(
            "AGENTDOWN_SESSION_STORE=azure_blob needs a storage account: set AGENTDOWN_SESSION_CONNECTION "
            "(connection string, UseDevelopmentStorage=true or https://<account>.blob.core.windows.net) "
            "or AzureWebJobsStorage"
        )
    source, connection_string, account_url, client_id = blob
    return StoreSettings(
        kind="azure_blob",
        source=f"AGENTDOWN_SESSION_STORE and {source}" if chosen else source,
        connection_string=connection_string,
        account_url=account_url,
        managed_identity_client_id=client_id,
        container=container,
        prefix=prefix,
        turn_cache_bytes=cache,
    )


def _turn_cache_bytes(env: Mapping[str, str]) -> int:
    raw = _get(env, "AGENTDOWN_TURN_CACHE_BYTES")
    if raw is None:
        return DEFAULT_TURN_CACHE_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigurationError(
            f"AGENTDOWN_TURN_CACHE_BYTES must be a whole number of bytes (0 turns the cache off), got {raw!r}"
        )
    return value


def _blob_account(env: Mapping[str, str]) -> tuple[str, str | None, str | None, str | None] | None:
    """``(setting, connection_string, account_url, client_id)`` of the configured account, if any."""
    for name in ("AGENTDOWN_SESSION_CONNECTION", "AzureWebJobsStorage"):
        value = _get(env, name)
        if value is not None:
            connection_string, account_url = _parse_connection(name, value)
            return name, connection_string, account_url, None
    client_id = _get(env, "AzureWebJobsStorage__clientId")
    uri = _get(env, "AzureWebJobsStorage__blobServiceUri")
    if uri is not None:
        _parse_connection("AzureWebJobsStorage__blobServiceUri", uri)
        return "AzureWebJobsStorage__blobServiceUri", None, uri, client_id
    account = _get(env, "AzureWebJobsStorage__accountName")
    if account is not None:
        return "AzureWebJobsStorage__accountName", None, f"https://{account}.blob.core.windows.net", client_id
    return None


def _parse_connection(name: str, value: str) -> tuple[str | None, str | None]:
    if value.lower().startswith(("https://", "http://")):
        return None, value
    parts = dict(p.split("=", 1) for p in value.split(";") if "=" in p)
    keys = {k.strip().lower(): v.strip() for k, v in parts.items()}
    if keys.get("usedevelopmentstorage", "").lower() == "true":
        proxy = keys.get("developmentstorageproxyuri")
        return azurite_connection_string(
            f"{proxy.rstrip('/')}:10000" if proxy else "http://127.0.0.1:10000"
        ), None
    if "accountname" in keys or "blobendpoint" in keys:
        return value, None
    raise ConfigurationError(
        f"{name}: expected a storage connection string (with AccountName= or BlobEndpoint=), "
        "UseDevelopmentStorage=true or a blob service URL, got a value without them"
    )


def open_store(settings: StoreSettings) -> SessionStore:
    """Build the store ``settings`` describe (imports the Azure SDK only for ``azure_blob``)."""
    if settings.kind == "sqlite":
        from agentdown.sessions.sqlite import SqliteSessionStore

        return SqliteSessionStore(settings.path or "sessions.db", turn_cache_bytes=settings.turn_cache_bytes)
    if settings.kind == "jsonl":
        from agentdown.sessions.jsonl import JsonlSessionStore

        return JsonlSessionStore(settings.path or "sessions", turn_cache_bytes=settings.turn_cache_bytes)
    try:
        from agentdown.sessions.azure_blob import AzureBlobSessionStore
    except ImportError as exc:
        raise ConfigurationError(
            f"the azure_blob session store (chosen by {settings.source}) needs the azure extra: "
            f"pip install 'agentdown[azure]' ({exc})"
        ) from exc
    return AzureBlobSessionStore(
        connection_string=settings.connection_string,
        account_url=settings.account_url if settings.connection_string is None else None,
        managed_identity_client_id=settings.managed_identity_client_id,
        container=settings.container,
        prefix=settings.prefix,
        turn_cache_bytes=settings.turn_cache_bytes,
    )


def store_from_env(environ: Mapping[str, str] | None = None) -> SessionStore:
    """The store the environment selects (see the module docstring for the precedence)."""
    return open_store(store_settings(environ))


def default_store() -> SessionStore:
    """``store_from_env()`` with the process environment."""
    return store_from_env()


def _redact(connection_string: str) -> str:
    parts = [p for p in connection_string.split(";") if p]
    kept = [p for p in parts if not p.lower().startswith(("accountkey=", "sharedaccesssignature="))]
    return ";".join(kept)

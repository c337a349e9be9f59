"""Which storage a trigger's ``connection`` setting names: an Azure Storage account, or the embedded one.

A trigger's ``connection`` (default ``AzureWebJobsStorage``) is the *name* of a
setting, as in Azure Functions. For a name ``S`` the environment is read like this
(first match wins; empty values count as unset):

1. ``S``, else ``AzureWebJobsS`` (Functions accepts the name without that prefix):
   a connection string, ``UseDevelopmentStorage=true`` (Azurite on its default ports),
   or a service URL (``https://<account>.blob.core.windows.net`` or ``.queue.``; the
   other service's URL is derived) signed in with ``DefaultAzureCredential``;
2. the identity-based forms ``S__queueServiceUri``, ``S__blobServiceUri`` (or
   ``S__serviceUri``), ``S__accountName``, with ``S__clientId`` for a user-assigned
   managed identity;
3. otherwise the embedded storage of this machine: queues in ``<data dir>/queues.db``,
   blob containers as folders under ``<data dir>/blobs/`` (``AGENTDOWN_BLOBS_DIR``
   moves them), where the data dir is the sessions' (``AGENTDOWN_DATA_DIR``, ...).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agentdown.exceptions import ConfigurationError
from agentdown.runtime.queues.base import QueueService
from agentdown.sessions.config import data_dir

__all__ = ["DEFAULT_CONNECTION", "StorageAccount", "open_queue_service", "resolve_account"]

DEFAULT_CONNECTION = "AzureWebJobsStorage"
_PREFIX = "AzureWebJobs"


@dataclass(frozen=True, slots=True)
class StorageAccount:
    """Where one connection setting points; build clients with :func:`open_queue_service` etc."""

    setting: str
    """The connection setting's name as the trigger gives it (``AzureWebJobsStorage``)."""
    source: str
    """The environment variable that decided it; ``""`` when none is set (embedded)."""
    kind: Literal["embedded", "azure"]
    data_dir: Path | None = None
    """Embedded: the folder holding ``queues.db`` and the receipts."""
    blobs_dir: Path | None = None
    """Embedded: the folder whose sub-folders are the blob containers."""
    connection_string: str | None = None
    """Azure: a connection string (account key, SAS or ``UseDevelopmentStorage=true``)."""
    queue_url: str | None = None
    """Azure without a connection string: the queue service URL (identity-based)."""
    blob_url: str | None = None
    """Azure without a connection string: the blob service URL (identity-based)."""
    client_id: str | None = None
    """Client id of a user-assigned managed identity for ``DefaultAzureCredential``."""

    @property
    def is_azure(self) -> bool:
        return self.kind == "azure"

    def describe(self) -> str:
        """Where the storage is, for logs and ``agentdown worker`` (never a secret)."""
        if self.kind == "embedded":
            return f"embedded ({self.data_dir})"
        if self.connection_string is not None:
            return f"Azure Storage ({_account_of(self.connection_string)}; from {self.source})"
        return f"Azure Storage ({self.queue_url or self.blob_url}; identity; from {self.source})"

    def require_queue_url(self) -> str:
        if self.queue_url is None:
            raise ConfigurationError(
                f"{self.source}: an identity-based connection needs the queue service too: "
                f"set {self.setting}__queueServiceUri or {self.setting}__accountName"
            )
        return self.queue_url

    def require_blob_url(self) -> str:
        if self.blob_url is None:
            raise ConfigurationError(
                f"{self.source}: an identity-based connection needs the blob service too: "
                f"set {self.setting}__blobServiceUri or {self.setting}__accountName"
            )
        return self.blob_url


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value or None


def resolve_account(setting: str, environ: Mapping[str, str] | None = None) -> StorageAccount:
    """The storage the setting named ``setting`` selects (see the module docstring); reads no network."""
    env = os.environ if environ is None else environ
    name = setting.strip() or DEFAULT_CONNECTION
    names = [name] if name.startswith(_PREFIX) else [name, _PREFIX + name]
    for candidate in names:
        value = _get(env, candidate)
        if value is not None:
            return _from_value(name, candidate, value)
    for candidate in names:
        identity = _identity(name, candidate, env)
        if identity is not None:
            return identity
    root = data_dir(env)
    blobs = _get(env, "AGENTDOWN_BLOBS_DIR")
    return StorageAccount(
        setting=name,
        source="",
        kind="embedded",
        data_dir=root,
        blobs_dir=Path(blobs).expanduser() if blobs else root / "blobs",
    )


def _from_value(setting: str, source: str, value: str) -> StorageAccount:
    if value.lower().startswith(("https://", "http://")):
        queue_url, blob_url = _service_urls(source, value)
        return StorageAccount(setting, source, "azure", queue_url=queue_url, blob_url=blob_url)
    parts = {
        k.strip().lower(): v.strip() for k, _, v in (p.partition("=") for p in value.split(";")) if k.strip()
    }
    development = parts.get("usedevelopmentstorage", "").lower() == "true"
    if not development and not ({"accountname", "queueendpoint", "blobendpoint"} & parts.keys()):
        raise ConfigurationError(
            f"{source}: expected a storage connection string (with AccountName=, QueueEndpoint= or "
            "BlobEndpoint=), UseDevelopmentStorage=true or a service URL; got a value without them"
        )
    return StorageAccount(setting, source, "azure", connection_string=value)


def _service_urls(source: str, url: str) -> tuple[str | None, str | None]:
    base = url.rstrip("/")
    for service, other in ((".queue.", ".blob."), (".blob.", ".queue.")):
        if service in base:
            derived = base.replace(service, other, 1)
            return (base, derived) if service == ".queue." else (derived, base)
    raise ConfigurationError(
        f"{source}: expected a service URL such as https://<account>.queue.core.windows.net "
        f"or https://<account>.blob.core.windows.net, got {url!r}"
    )


def _identity(setting: str, prefix: str, env: Mapping[str, str]) -> StorageAccount | None:
    queue_url = _get(env, f"{prefix}__queueServiceUri")
    blob_url = _get(env, f"{prefix}__blobServiceUri") or _get(env, f"{prefix}__serviceUri")
    account = _get(env, f"{prefix}__accountName")
    if account is not None:
        queue_url = queue_url or f"https://{account}.queue.core.windows.net"
        blob_url = blob_url or f"https://{account}.blob.core.windows.net"
    if queue_url is None and blob_url is None:
        return None
    for name, url in ((f"{prefix}__queueServiceUri", queue_url), (f"{prefix}__blobServiceUri", blob_url)):
        if url is not None and not url.lower().startswith(("https://", "http://")):
            raise ConfigurationError(f"{name}: expected an https:// service URL, got {url!r}")
    return StorageAccount(
        setting,
        f"{prefix}__*",
        "azure",
        queue_url=queue_url,
        blob_url=blob_url,
        client_id=_get(env, f"{prefix}__clientId"),
    )


def open_queue_service(
    account: StorageAccount, *, encoding: Literal["base64", "none"] = "base64"
) -> QueueService:
    """The queues of ``account``; ``encoding`` is how the Azure backend writes message text."""
    if account.kind == "embedded":
        from agentdown.runtime.queues.sqlite import SqliteQueueService

        assert account.data_dir is not None
        return SqliteQueueService(account.data_dir / "queues.db")
    try:
        from agentdown.runtime.queues.azure import AzureQueueService
    except ImportError as exc:  # pragma: no cover - the azure extra is a dev dependency
        raise ConfigurationError(
            f"{account.source} selects Azure Storage queues, which need the azure extra: "
            f"pip install 'agentdown[azure]' ({exc})"
        ) from exc
    return AzureQueueService(account, encoding=encoding)


def _account_of(connection_string: str) -> str:
    parts = {
        k.strip().lower(): v.strip()
        for k, _, v in (p.partition("=") for p in connection_string.split(";"))
        if k.strip()
    }
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        return "Azurite development storage"
    return parts.get("queueendpoint") or parts.get("blobendpoint") or parts.get("accountname") or "account"

"""Which credentials reach an Agents API ``queue_service_endpoint``: a configured connection, else Entra.

An ``azure_function`` tool names its queues by URL
(``https://<account>.queue.core.windows.net``). The configured connections are
searched for one whose queue service is that URL: ``AzureWebJobsStorage`` and every
other setting holding a connection string, or an ``X__queueServiceUri``. The first
match is used with its own credentials (an account key, SAS, or its managed identity
``X__clientId``); with none, the URL is used with ``DefaultAzureCredential``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from agentdown.exceptions import ConfigurationError
from agentdown.runtime.queues.config import DEFAULT_CONNECTION, StorageAccount, resolve_account

__all__ = ["account_for_endpoint", "queue_endpoint_of"]

_AZURITE_QUEUE = "http://127.0.0.1:10001/devstoreaccount1"


def _normal(url: str) -> str:
    parts = urlsplit(url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def queue_endpoint_of(account: StorageAccount) -> str | None:
    """The queue service URL ``account`` reaches (``None``: embedded)."""
    if account.kind == "embedded":
        return None
    if account.connection_string is None:
        return account.queue_url
    parts = {
        k.strip().lower(): v.strip()
        for k, _, v in (p.partition("=") for p in account.connection_string.split(";"))
        if k.strip()
    }
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        return _AZURITE_QUEUE
    if "queueendpoint" in parts:
        return parts["queueendpoint"]
    name = parts.get("accountname")
    if not name:
        return None
    protocol = parts.get("defaultendpointsprotocol", "https")
    return f"{protocol}://{name}.queue.{parts.get('endpointsuffix', 'core.windows.net')}"


def _candidates(env: Mapping[str, str]) -> list[str]:
    names = [DEFAULT_CONNECTION]
    for key, value in env.items():
        if key.endswith("__queueServiceUri"):
            names.append(key.removesuffix("__queueServiceUri"))
        elif ("AccountName=" in value or "QueueEndpoint=" in value) and "__" not in key:
            names.append(key)
    return list(dict.fromkeys(names))


def account_for_endpoint(endpoint: str, environ: Mapping[str, str] | None = None) -> StorageAccount:
    """The configured account whose queue service is ``endpoint``, else ``endpoint`` with Entra ID."""
    env = os.environ if environ is None else environ
    if not endpoint.lower().startswith(("https://", "http://")):
        raise ConfigurationError(f"queue_service_endpoint: expected an https:// URL, got {endpoint!r}")
    wanted = _normal(endpoint)
    for name in _candidates(env):
        try:
            account = resolve_account(name, env)
        except ConfigurationError:
            continue  # a broken unrelated setting is reported where it is used
        found = queue_endpoint_of(account)
        if found is not None and _normal(found) == wanted:
            return account
    return StorageAccount(
        setting=endpoint, source=f"queue_service_endpoint {endpoint}", kind="azure", queue_url=endpoint
    )

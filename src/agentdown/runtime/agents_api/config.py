"""Choosing the Agents-API record store from the environment.

Settings (empty values count as unset):

* ``AGENTDOWN_AGENTS_STORE`` = ``sqlite`` | ``azure``: the store, explicitly. ``azure``
  needs the connection below to resolve to an Azure Storage account (Azurite counts).
* ``AGENTDOWN_AGENTS_CONNECTION``: the *name* of the connection setting to use, as a
  trigger's ``connection`` is (default ``AzureWebJobsStorage``); its forms are those of
  :func:`agentdown.runtime.queues.config.resolve_account`, plus
  ``<setting>__tableServiceUri`` for an identity-based table service.
* Without ``AGENTDOWN_AGENTS_STORE``: ``azure`` when that connection is an Azure
  account, else SQLite. Records follow the rest of the app's storage, so a scaled-out
  deployment sharing an account shares its runs too.
* SQLite: ``AGENTDOWN_AGENTS_PATH``, else ``<data dir>/agents.db``.
* Azure: ``AGENTDOWN_AGENTS_TABLE`` (default ``agentdownagents``) and
  ``AGENTDOWN_AGENTS_CONTAINER`` (default ``agentdown-agents``, for large bodies).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from agentdown.exceptions import ConfigurationError
from agentdown.runtime.agents_api.store import AgentsStore
from agentdown.runtime.queues.config import DEFAULT_CONNECTION, StorageAccount, resolve_account
from agentdown.sessions.config import data_dir

__all__ = ["AgentsStoreSettings", "agents_store_settings", "open_agents_store"]

StoreKind = Literal["sqlite", "azure"]
_KINDS: tuple[StoreKind, ...] = ("sqlite", "azure")
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")
_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True, slots=True)
class AgentsStoreSettings:
    """The resolved choice of store; :func:`open_agents_store` builds it."""

    kind: StoreKind
    source: str
    """What decided it, for messages (``AGENTDOWN_AGENTS_STORE``, ``AzureWebJobsStorage``, ``default``)."""
    path: Path | None = None
    """SQLite: the database file."""
    account: StorageAccount | None = None
    """Azure: the storage account."""
    table: str = "agentdownagents"
    container: str = "agentdown-agents"
    table_url: str | None = None
    """Azure, identity-based: ``<setting>__tableServiceUri`` when given."""

    def describe(self) -> str:
        """Where the records are (never a secret), and what chose it."""
        if self.kind == "sqlite":
            return f"sqlite ({self.path}; chosen by {self.source})"
        assert self.account is not None
        where = self.table_url or self.account.describe()
        return f"azure (table {self.table}, container {self.container} in {where}; chosen by {self.source})"


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def agents_store_settings(environ: Mapping[str, str] | None = None) -> AgentsStoreSettings:
    """Resolve the store from ``environ`` (default ``os.environ``) without opening anything."""
    env = os.environ if environ is None else environ
    chosen = _get(env, "AGENTDOWN_AGENTS_STORE")
    if chosen is not None and chosen.lower() not in _KINDS:
        raise ConfigurationError(f"AGENTDOWN_AGENTS_STORE={chosen!r}: expected one of {', '.join(_KINDS)}")
    kind = chosen.lower() if chosen is not None else None
    if kind == "sqlite":
        return _sqlite(env, "AGENTDOWN_AGENTS_STORE")
    setting = _get(env, "AGENTDOWN_AGENTS_CONNECTION") or DEFAULT_CONNECTION
    account = resolve_account(setting, env)
    if not account.is_azure:
        if kind == "azure":
            raise ConfigurationError(
                f"AGENTDOWN_AGENTS_STORE=azure needs an Azure Storage connection, but {setting} is not set: "
                "set it to a connection string, UseDevelopmentStorage=true or a service URL, "
                "or name another setting in AGENTDOWN_AGENTS_CONNECTION"
            )
        return _sqlite(env, "default (no Azure Storage connection)")
    table = _get(env, "AGENTDOWN_AGENTS_TABLE") or "agentdownagents"
    if not _TABLE_NAME.match(table):
        raise ConfigurationError(
            f"AGENTDOWN_AGENTS_TABLE={table!r}: a table name is 3-63 letters and digits, starting with a letter"
        )
    container = _get(env, "AGENTDOWN_AGENTS_CONTAINER") or "agentdown-agents"
    if not _CONTAINER_NAME.match(container):
        raise ConfigurationError(
            f"AGENTDOWN_AGENTS_CONTAINER={container!r}: a container name is 3-63 lowercase letters, "
            "digits and single hyphens, starting and ending with a letter or digit"
        )
    table_url = None
    if account.connection_string is None:
        for prefix in (setting, "AzureWebJobs" + setting):
            table_url = table_url or _get(env, f"{prefix}__tableServiceUri")
        if table_url is not None and not table_url.lower().startswith(("https://", "http://")):
            raise ConfigurationError(
                f"{setting}__tableServiceUri: expected an https:// URL, got {table_url!r}"
            )
    source = "AGENTDOWN_AGENTS_STORE" if kind == "azure" else account.source
    return AgentsStoreSettings(
        "azure", source, account=account, table=table, container=container, table_url=table_url
    )


def _sqlite(env: Mapping[str, str], source: str) -> AgentsStoreSettings:
    path = _get(env, "AGENTDOWN_AGENTS_PATH")
    return AgentsStoreSettings(
        "sqlite", source, path=Path(path).expanduser() if path else data_dir(env) / "agents.db"
    )


def open_agents_store(environ: Mapping[str, str] | None = None) -> AgentsStore:
    """The store the environment selects (see the module docstring); opens nothing on the network yet."""
    settings = agents_store_settings(environ)
    if settings.kind == "sqlite":
        from agentdown.runtime.agents_api.sqlite_store import SqliteAgentsStore

        assert settings.path is not None
        return SqliteAgentsStore(settings.path)
    assert settings.account is not None
    try:
        from agentdown.runtime.agents_api.table_store import TableAgentsStore
    except ImportError as exc:  # pragma: no cover - the azure extra is a dev dependency
        raise ConfigurationError(
            f"{settings.source} selects the Azure Tables agents store, which needs the azure extra: "
            f"pip install 'agentdown[azure]' ({exc})"
        ) from exc
    return TableAgentsStore(
        settings.account, table=settings.table, container=settings.container, table_url=settings.table_url
    )

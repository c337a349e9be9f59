"""Where the Table store puts a record: its keys, and which table service an account has.

Pure functions, no ``azure`` import, so the layout is testable (and documented,
``docs/agents-api-storage.md``) without the SDK:

* PartitionKey ``<kind>|<parent>``: a thread's messages, a run's steps, all
  assistants are each one partition, so a page is one query.
* RowKey: for ids made by :func:`~.ids.new_record_id`, the 21 hex digits of
  :func:`~.ids.order_key` with each digit inverted (``f - d``), ``|``, the id. The
  table's ascending order is then newest first. Ids of other shapes get ``~`` + the
  escaped id, which sorts after every generated id (``~`` is above the hex digits).
* Escaping: the characters Tables forbids in keys (``/ \\ # ?``, control characters)
  and our own markers (``! | ~``, and ``'`` for OData) become ``!xx`` (``!uxxxx``
  for lone surrogates): injective, so two records never share a key. An escaped key
  beyond 900 bytes (keys hold 1 KiB) keeps 200 characters and a SHA-256 of the whole.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit, urlunsplit

from agentdown.exceptions import ConfigurationError
from agentdown.runtime.agents_api.ids import order_key
from agentdown.runtime.queues.config import StorageAccount
from agentdown.sessions.config import AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY

__all__ = ["Credential", "connection_parts", "partition_key", "row_key", "table_endpoint"]

Credential = tuple[str, str, str] | None
"""``("key", account, key)``, ``("sas", token, "")``, or ``None`` for DefaultAzureCredential."""

_ESCAPED = frozenset("/\\#?!~|'")
_MAX_KEY_BYTES = 900
_HEX = "0123456789abcdef"
_INVERT = str.maketrans(_HEX, _HEX[::-1])
AZURITE_TABLE_PORT = 10002


def _escape(text: str) -> str:
    out: list[str] = []
    for ch in text:
        cp = ord(ch)
        if ch in _ESCAPED or cp < 0x20 or 0x7F <= cp <= 0x9F:
            out.append(f"!{cp:02x}")
        elif 0xD800 <= cp <= 0xDFFF or cp in (0xFFFE, 0xFFFF):
            out.append(f"!u{cp:04x}")
        else:
            out.append(ch)
    return "".join(out)


def _fit(escaped: str) -> str:
    # ``~`` never survives escaping, so a shortened key cannot equal an escaped one.
    if len(escaped.encode("utf-16-le")) <= _MAX_KEY_BYTES:
        return escaped
    return f"{escaped[:200]}~{hashlib.sha256(escaped.encode('utf-8')).hexdigest()}"


def partition_key(kind: str, parent: str) -> str:
    """The PartitionKey of ``kind`` under ``parent``."""
    return _fit(f"{_escape(kind)}|{_escape(parent)}")


def row_key(record_id: str) -> str:
    """The RowKey of ``record_id``: ascending RowKeys are descending creation order."""
    key = order_key(record_id)
    if len(key) == 21 and all(c in _HEX for c in key):
        return _fit(f"{key.translate(_INVERT)}|{_escape(record_id)}")
    return "~" + _fit(_escape(record_id))


def connection_parts(connection_string: str) -> dict[str, str]:
    """A connection string's settings, names lower-cased."""
    return {
        k.strip().lower(): v.strip()
        for k, _, v in (p.partition("=") for p in connection_string.split(";"))
        if k.strip()
    }


def _table_url_from(url: str, source: str) -> str:
    """The table service next to a blob or queue service URL."""
    parts = urlsplit(url.rstrip("/"))
    host = parts.hostname or ""
    for service in (".blob.", ".queue."):
        if service in host:
            return urlunsplit(parts._replace(netloc=parts.netloc.replace(service, ".table.", 1)))
    if parts.path.strip("/"):  # path-style, as the emulator serves: http://host:port/<account>
        return urlunsplit(parts._replace(netloc=f"{host}:{AZURITE_TABLE_PORT}"))
    raise ConfigurationError(
        f"{source}: cannot tell the table service from {url!r}; "
        "give TableEndpoint= in the connection string (or <setting>__tableServiceUri)"
    )


def table_endpoint(account: StorageAccount) -> tuple[str, Credential]:
    """The table service URL of ``account`` and how to sign in to it.

    A connection string's ``TableEndpoint``, else the blob/queue endpoint's sibling
    (``.table.`` for Azure, port 10002 for Azurite), else ``<account>.table.<suffix>``;
    identity-based accounts derive it from their queue or blob URL.
    """
    if account.connection_string is None:
        url = account.queue_url or account.blob_url
        if url is None:
            raise ConfigurationError(
                f"{account.source}: no storage service URL to derive the table service from"
            )
        return _table_url_from(url, account.source), None
    parts = connection_parts(account.connection_string)
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        url = f"http://127.0.0.1:{AZURITE_TABLE_PORT}/{AZURITE_ACCOUNT}"
        return url, ("key", AZURITE_ACCOUNT, AZURITE_ACCOUNT_KEY)
    name = parts.get("accountname")
    if parts.get("tableendpoint"):
        url = parts["tableendpoint"]
    elif parts.get("blobendpoint") or parts.get("queueendpoint"):
        url = _table_url_from(parts.get("blobendpoint") or parts["queueendpoint"], account.source)
    elif name:
        protocol = parts.get("defaultendpointsprotocol", "https")
        url = f"{protocol}://{name}.table.{parts.get('endpointsuffix', 'core.windows.net')}"
    else:
        raise ConfigurationError(f"{account.source}: the connection string names no account")
    if name and parts.get("accountkey"):
        return url, ("key", name, parts["accountkey"])
    if parts.get("sharedaccesssignature"):
        return url, ("sas", parts["sharedaccesssignature"], "")
    raise ConfigurationError(
        f"{account.source}: the table service needs AccountName= with AccountKey=, or SharedAccessSignature="
    )

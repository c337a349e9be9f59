"""What a vector store's files come from: uploaded files (``file_ids``) or Azure blobs (``data_sources``).

A ``uri_asset`` data source is read through the storage account the Agents API is
configured with (the account of its record store, ``AGENTDOWN_AGENTS_CONNECTION``):
the URI must be a blob of that account (``https://<account>.blob.core.windows.net/
<container>/<blob>``, or Azurite's path-style ``http://127.0.0.1:10000/devstoreaccount1/
<container>/<blob>``); its query string (a SAS) is ignored, as the account's own
credentials are used. Any other URI is refused: the server never fetches what a caller
points it at. ``id_asset`` sources name Azure ML data assets, which cannot be read here.

A blob becomes a file of its own when it is ingested (a ``file`` record with a new
id, its bytes copied into the files storage), so file search results and citations
point to a file the caller can read like any upload.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from agentdown.runtime.agents_api.errors import bad_request
from agentdown.runtime.agents_api.files import FileService
from agentdown.runtime.agents_api.files_blobs import AzureFileBytes
from agentdown.runtime.agents_api.vector_stores_schemas import DataSourceIn

__all__ = ["BlobSource", "Source", "blob_source", "file_sources"]

_CONTAINER = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")


@dataclass(frozen=True, slots=True)
class BlobSource:
    container: str
    blob: str
    uri: str


@dataclass(frozen=True, slots=True)
class Source:
    """One file to add to a store: an uploaded file (``blob`` ``None``) or a blob to import first."""

    file_id: str
    filename: str
    blob: BlobSource | None = None


async def file_sources(files: FileService, owner: str, file_ids: Sequence[str], field: str) -> list[Source]:
    """The caller's files ``file_ids`` (a 404 naming ``field[i]`` for one it cannot see)."""
    sources: list[Source] = []
    seen: set[str] = set()
    for i, file_id in enumerate(file_ids):
        record = await files.require(file_id, owner, param=f"{field}[{i}]")
        if file_id not in seen:
            seen.add(file_id)
            sources.append(Source(file_id, str(record.body.get("filename") or file_id)))
    return sources


def blob_source(files: FileService, source: DataSourceIn, field: str) -> Source:
    """A new file to import from the blob ``source`` names, if it is one of the configured account's."""
    if source.type != "uri_asset":
        raise bad_request(
            f"{field}.type: 'id_asset' names an Azure ML data asset, which agentdown cannot read; "
            "upload the file, or give the URI of a blob in the configured storage account ('uri_asset')",
            f"{field}.type",
        )
    backend = files.storage
    if not isinstance(backend, AzureFileBytes):
        raise bad_request(
            f"{field}.uri: blob data sources need the Agents API to use an Azure Storage account "
            "(AzureWebJobsStorage or AGENTDOWN_AGENTS_CONNECTION); none is configured: upload the file instead",
            f"{field}.uri",
        )
    base = urlsplit(backend.service_url)
    uri = urlsplit(source.uri)
    base_path = base.path.rstrip("/")
    if (
        (uri.scheme.lower(), uri.netloc.lower()) != (base.scheme.lower(), base.netloc.lower())
        or not uri.path.startswith(base_path + "/")
        or uri.fragment
    ):
        raise bad_request(
            f"{field}.uri: {source.uri.split('?')[0]!r} is not a blob of the configured storage account "
            f"({base.scheme}://{base.netloc}{base_path}/<container>/<blob>); other URIs are not fetched",
            f"{field}.uri",
        )
    container, _, name = uri.path[len(base_path) + 1 :].partition("/")
    container, name = unquote(container), unquote(name)
    if not _CONTAINER.match(container) or not name or len(name) > 1024:
        raise bad_request(
            f"{field}.uri: expected <container>/<blob> after the account's URL, got {uri.path!r}",
            f"{field}.uri",
        )
    filename = name.rsplit("/", 1)[-1] or name
    plain = f"{base.scheme}://{base.netloc}{uri.path}"
    return Source(files.new_id(), filename, BlobSource(container, name, plain))

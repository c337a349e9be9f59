"""Routes of vector stores, their files and their file batches.

``/vector_stores`` (create, list), ``/vector_stores/{v}`` (get, modify, delete),
``/vector_stores/{v}/files`` (add one, list with ``filter``), ``.../files/{f}`` (get,
remove), ``/vector_stores/{v}/file_batches`` (create), ``.../{b}`` (get), ``.../{b}/cancel``,
``.../{b}/files`` (list). A store belongs to the caller that created it when the
caller is a known principal (another caller's store is a 404, like one that does
not exist), and so do the files it is given. Every request is checked whole before
anything is written: a bad chunking strategy, a file the caller cannot see or a
blob of another account is a 400/404 naming the field.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from agentdown.runtime.agents_api.context import AgentsApi
from agentdown.runtime.agents_api.errors import ApiProblem, bad_request, not_found
from agentdown.runtime.agents_api.schemas import DeletionStatus, dump
from agentdown.runtime.agents_api.store import AgentsStoreError, Record, public
from agentdown.runtime.agents_api.vector_stores import FILE_KIND, STORE_KIND, expiry_due
from agentdown.runtime.agents_api.vector_stores_files import StoreFiles, check_chunking
from agentdown.runtime.agents_api.vector_stores_schemas import (
    MAX_FILES_PER_REQUEST,
    BatchCreate,
    DataSourceIn,
    StoreFileCreate,
    VectorStoreCreate,
    VectorStoreUpdate,
)
from agentdown.runtime.agents_api.vector_stores_sources import Source, blob_source, file_sources
from agentdown.server.agents_api.http import agents_endpoint, caller_of, ok, read_model
from agentdown.server.agents_api.paging import list_query, store_page
from agentdown.server.context import ServerContext

__all__ = ["vector_store_routes"]

_FILTERS = ("in_progress", "completed", "failed", "cancelled")


def _status_filter(request: Request) -> dict[str, Any]:
    value = request.query_params.get("filter")
    if not value:
        return {}
    if value not in _FILTERS:
        raise bad_request(f"filter: expected one of {', '.join(_FILTERS)}, got {value!r}", "filter")
    return {"status": value}


def vector_store_routes(ctx: ServerContext, api: AgentsApi) -> list[Route]:
    limit = ctx.settings.max_body_bytes

    def stores_and_files() -> tuple[Any, StoreFiles]:
        stores = api.vector_stores()
        return stores, StoreFiles(api, stores)

    async def sources(
        owner: str,
        file_ids: list[str] | None,
        data_sources: list[DataSourceIn] | None,
        ids_field: str,
        ds_field: str,
    ) -> list[Source]:
        files = api.files()
        found = await file_sources(files, owner, file_ids or [], ids_field)
        found += [blob_source(files, s, f"{ds_field}[{i}]") for i, s in enumerate(data_sources or [])]
        if len(found) > MAX_FILES_PER_REQUEST:
            raise bad_request(f"{ids_field}: at most {MAX_FILES_PER_REQUEST} files per request", ids_field)
        return found

    async def ingest_ready() -> None:
        """The ingestion queue, open before anything is written (a 503 when it cannot be)."""
        try:
            await api.ensure_ingest()
        except (ApiProblem, AgentsStoreError):
            raise
        except Exception as exc:
            raise ApiProblem(503, f"files cannot be ingested here: {exc}", "ingest_unavailable") from exc

    async def owned(request: Request, *, active: bool = False) -> tuple[str, Record]:
        owner = caller_of(request, ctx.authorizer).owner
        stores = api.vector_stores()
        store_id = request.path_params["vector_store_id"]
        if active:
            return owner, await stores.require_active(store_id, owner)
        return owner, await stores.require(store_id, owner)

    @agents_endpoint
    async def create(request: Request) -> Response:
        owner = caller_of(request, ctx.authorizer).owner
        body = await read_model(request, VectorStoreCreate, limit)
        chunking = check_chunking(body.chunking_strategy, "chunking_strategy")
        data_sources = body.configuration.data_sources if body.configuration else None
        found = await sources(owner, body.file_ids, data_sources, "file_ids", "configuration.data_sources")
        if found:
            await ingest_ready()
        stores, store_files = stores_and_files()
        new = stores.new_body(owner, body.name, body.expires_after, body.metadata, body.chunking_strategy)
        record = await api.store.create(STORE_KIND, "", new["id"], new)
        await store_files.add(record, found, chunking)
        return ok(await stores.view(await stores.require(record.id, owner)))

    @agents_endpoint
    async def list_stores(request: Request) -> Response:
        owner = caller_of(request, ctx.authorizer).owner
        page = await store_page(api.store, STORE_KIND, "", list_query(request), {"_owner": owner})
        for item in page["data"]:
            if expiry_due(item):
                item["status"] = "expired"  # the sweep writes it; the list already says it
        return ok(page)

    @agents_endpoint
    async def get(request: Request) -> Response:
        _, record = await owned(request)
        return ok(await api.vector_stores().view(record))

    @agents_endpoint
    async def modify(request: Request) -> Response:
        _, record = await owned(request)
        changes = await read_model(request, VectorStoreUpdate, limit)
        return ok(await api.vector_stores().modify(record, changes))

    @agents_endpoint
    async def delete(request: Request) -> Response:
        _, record = await owned(request)
        if not await api.vector_stores().delete(record):
            raise not_found("vector store", record.id)
        return ok(dump(DeletionStatus(id=record.id, object="vector_store.deleted")))

    @agents_endpoint
    async def add_file(request: Request) -> Response:
        owner, record = await owned(request, active=True)
        body = await read_model(request, StoreFileCreate, limit)
        if (body.file_id is None) == (body.data_source is None):
            raise bad_request("file_id: give either file_id or data_source (exactly one)", "file_id")
        raw = body.chunking_strategy if body.chunking_strategy is not None else record.body.get("_chunking")
        chunking = check_chunking(raw, "chunking_strategy")
        files = api.files()
        if body.file_id is not None:
            file = await files.require(body.file_id, owner, param="file_id")
            found = [Source(file.id, str(file.body.get("filename") or file.id))]
        else:
            assert body.data_source is not None
            found = [blob_source(files, body.data_source, "data_source")]
        await ingest_ready()
        _, store_files = stores_and_files()
        added = await store_files.add(record, found, chunking)
        return ok(added[0])

    @agents_endpoint
    async def list_files(request: Request) -> Response:
        _, record = await owned(request)
        return ok(
            await store_page(api.store, FILE_KIND, record.id, list_query(request), _status_filter(request))
        )

    @agents_endpoint
    async def get_file(request: Request) -> Response:
        _, record = await owned(request)
        _, store_files = stores_and_files()
        file = await store_files.require(record.id, request.path_params["file_id"])
        return ok(public(file.body))

    @agents_endpoint
    async def delete_file(request: Request) -> Response:
        _, record = await owned(request)
        _, store_files = stores_and_files()
        file_id = request.path_params["file_id"]
        if not await store_files.delete(record.id, file_id):
            raise not_found("vector store file", file_id)
        return ok(dump(DeletionStatus(id=file_id, object="vector_store.file.deleted")))

    @agents_endpoint
    async def create_batch(request: Request) -> Response:
        owner, record = await owned(request, active=True)
        body = await read_model(request, BatchCreate, limit)
        if not body.file_ids and not body.data_sources:
            raise bad_request(
                "file_ids: a batch needs at least one file (file_ids or data_sources)", "file_ids"
            )
        raw = body.chunking_strategy if body.chunking_strategy is not None else record.body.get("_chunking")
        chunking = check_chunking(raw, "chunking_strategy")
        found = await sources(owner, body.file_ids, body.data_sources, "file_ids", "data_sources")
        await ingest_ready()
        _, store_files = stores_and_files()
        return ok(await store_files.create_batch(record, found, chunking))

    async def owned_batch(request: Request) -> tuple[Record, StoreFiles, Record]:
        """The caller's store, its files, and the batch the path names (404 for another's)."""
        _, record = await owned(request)
        _, store_files = stores_and_files()
        return (
            record,
            store_files,
            await store_files.require_batch(record.id, request.path_params["batch_id"]),
        )

    @agents_endpoint
    async def get_batch(request: Request) -> Response:
        _, store_files, batch = await owned_batch(request)
        return ok(await store_files.batch_view(batch))

    @agents_endpoint
    async def cancel_batch(request: Request) -> Response:
        _, store_files, batch = await owned_batch(request)
        return ok(await store_files.cancel_batch(batch))

    @agents_endpoint
    async def list_batch_files(request: Request) -> Response:
        record, _, batch = await owned_batch(request)
        where = {"_batch_id": batch.id, **_status_filter(request)}
        return ok(await store_page(api.store, FILE_KIND, record.id, list_query(request), where))

    base = "/vector_stores/{vector_store_id}"
    return [
        Route("/vector_stores", create, methods=["POST"]),
        Route("/vector_stores", list_stores, methods=["GET"]),
        Route(base, get, methods=["GET"]),
        Route(base, modify, methods=["POST"]),
        Route(base, delete, methods=["DELETE"]),
        Route(f"{base}/files", add_file, methods=["POST"]),
        Route(f"{base}/files", list_files, methods=["GET"]),
        Route(f"{base}/files/{{file_id}}", get_file, methods=["GET"]),
        Route(f"{base}/files/{{file_id}}", delete_file, methods=["DELETE"]),
        Route(f"{base}/file_batches", create_batch, methods=["POST"]),
        Route(f"{base}/file_batches/{{batch_id}}", get_batch, methods=["GET"]),
        Route(f"{base}/file_batches/{{batch_id}}/cancel", cancel_batch, methods=["POST"]),
        Route(f"{base}/file_batches/{{batch_id}}/files", list_batch_files, methods=["GET"]),
    ]

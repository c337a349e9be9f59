"""Files and vector stores on Azure Storage (a real Azurite): blob-backed files, blob data sources.

With ``AzureWebJobsStorage`` naming the account, the records are in Azure Tables,
the file bytes are blobs ``files/<id>`` of container ``agentdown-files``, the
ingestion jobs are on an Azure Storage queue, and a ``uri_asset`` data source is a
blob of that same account, read with the account's credentials.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from azure.ai.agents import models as m
from azure.core.exceptions import HttpResponseError
from azure.storage.blob.aio import BlobServiceClient
from filekit import served_api, sync, upload

from agentdown.client import agents_client
from azurite_peer import Azurite

POLL = 0.1


async def test_blob_backed_files_and_blob_data_sources(tmp_path: Path, azurite: Azurite) -> None:
    env = {"AzureWebJobsStorage": azurite.connection_string, "AGENTDOWN_INGEST_QUEUE": "ingest-azurite-test"}
    async with BlobServiceClient.from_connection_string(azurite.connection_string) as blobs:
        docs = blobs.get_container_client("docs")
        await docs.create_container()
        await docs.upload_blob("guides/tulips.md", b"# Tulips\nPlant tulip bulbs in autumn.\n")
        await docs.upload_blob("image.bin", b"\x00\x01binary")
        async with served_api(tmp_path, **env) as live:
            client = agents_client(live.url)
            text = "Roses need water weekly. " * 1000
            uploaded = await sync(upload, client, "roses.txt", text)
            assert uploaded.status == "processed" and uploaded.bytes == len(text)
            stored = await (
                await blobs.get_container_client("agentdown-files").download_blob(f"files/{uploaded.id}")
            ).readall()
            assert stored == text.encode(), "the bytes are a blob of the account"
            assert not (live.data / "files").exists(), "nothing was written to the data dir"
            content = b"".join(await sync(lambda: list(client.files.get_content(uploaded.id))))
            assert content == text.encode()

            base = f"{azurite.blob_endpoint}/devstoreaccount1/docs"
            sources = [
                m.VectorStoreDataSource(
                    asset_identifier=f"{base}/guides/tulips.md?sv=ignored", asset_type="uri_asset"
                ),
                m.VectorStoreDataSource(asset_identifier=f"{base}/image.bin", asset_type="uri_asset"),
                m.VectorStoreDataSource(asset_identifier=f"{base}/missing.md", asset_type="uri_asset"),
            ]
            store = await sync(
                client.vector_stores.create_and_poll,
                file_ids=[uploaded.id],
                data_sources=sources,
                polling_interval=POLL,
                timeout=60,
            )
            counts = store.file_counts
            assert (store.status, counts.total, counts.completed, counts.failed) == ("completed", 4, 2, 2)
            files = {f.id: f for f in await sync(lambda: list(client.vector_store_files.list(store.id)))}
            completed = [f for f in files.values() if f.status == "completed" and f.id != uploaded.id]
            assert len(completed) == 1
            imported = await sync(client.files.get, completed[0].id)
            assert imported.filename == "tulips.md" and imported.purpose == "assistants"
            assert b"".join(await sync(lambda: list(client.files.get_content(imported.id)))).startswith(
                b"# Tulips"
            )
            errors = sorted(f.last_error.message for f in files.values() if f.status == "failed")
            assert any("missing.md" in e and "does not exist" in e for e in errors), errors
            hits = await live.api.search_stores([store.id], "tulip bulbs autumn", 3, 0.0)
            assert hits and hits[0].file_id == imported.id

            with pytest.raises(
                HttpResponseError, match="not a blob of the configured storage account"
            ) as other:
                await sync(
                    client.vector_stores.create,
                    store_configuration=m.VectorStoreConfiguration(
                        data_sources=[
                            m.VectorStoreDataSource(
                                asset_identifier="https://someoneelse.blob.core.windows.net/docs/a.md",
                                asset_type="uri_asset",
                            )
                        ]
                    ),
                )
            assert other.value.status_code == 400
            await sync(client.vector_stores.delete, store.id)
            await sync(client.files.delete, uploaded.id)
            names = [b.name async for b in blobs.get_container_client("agentdown-files").list_blobs()]
            assert f"files/{uploaded.id}" not in names
            client.close()

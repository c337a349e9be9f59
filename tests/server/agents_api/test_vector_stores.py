"""Vector stores, their files and file batches through the real azure-ai-agents SDK.

``create_and_poll`` over uploaded files (ingested by the server's ingestion jobs on
the embedded queue), a file that cannot be parsed failing alone, chunking limits
refused with the field named, expiry (the stores' clock moved forward), batches
(create, cancel, list with ``filter``), store files removed, forged ids, and
``AgentsApi.search_stores`` refreshing ``last_active_at``.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from azure.ai.agents import models as m
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from filekit import KNOWLEDGE, served_api, sync, upload

from agentdown.client import agents_client
from agentdown.runtime.agents_api import vector_stores as vs_module
from agentdown.runtime.agents_api.errors import ApiProblem

POLL = 0.1


async def test_create_and_poll_with_a_failing_file_among_good_ones(tmp_path: Path) -> None:
    async with served_api(tmp_path) as live:
        client = agents_client(live.url)
        good = await sync(upload, client, "tulips.md", "# Tulips\nThe launch code is tulip.\n")
        other = await sync(upload, client, "roses.txt", "Roses are red and need water weekly.\n")
        bad = await sync(upload, client, "blob.bin", b"\x00\x01\x02 not a document")
        store = await sync(
            client.vector_stores.create_and_poll,
            file_ids=[good.id, other.id, bad.id],
            name="garden",
            metadata={"team": "green"},
            polling_interval=POLL,
            timeout=60,
        )
        assert store.id.startswith("vs_") and store.object == "vector_store"
        assert (store.name, store.status, store.metadata) == ("garden", "completed", {"team": "green"})
        counts = store.file_counts
        assert (counts.total, counts.completed, counts.failed, counts.in_progress, counts.cancelled) == (
            3,
            2,
            1,
            0,
            0,
        )
        assert store.usage_bytes > 0
        files = await sync(lambda: list(client.vector_store_files.list(store.id)))
        assert {f.id for f in files} == {good.id, other.id, bad.id}
        failed = await sync(client.vector_store_files.get, store.id, bad.id)
        assert failed.status == "failed" and failed.object == "vector_store.file"
        assert failed.last_error.code in ("unsupported_file", "invalid_file")
        assert failed.last_error.message
        assert failed.vector_store_id == store.id
        done = await sync(client.vector_store_files.get, store.id, good.id)
        assert done.status == "completed" and done.usage_bytes > 0 and done.chunking_strategy.type == "static"
        only_failed = await sync(lambda: list(client.vector_store_files.list(store.id, filter="failed")))
        assert [f.id for f in only_failed] == [bad.id]
        assert sum(f.usage_bytes for f in files) == store.usage_bytes

        hits = await live.api.search_stores([store.id], "launch code tulip", 5, 0.0)
        assert hits and hits[0].file_id == good.id

        # A file added on its own, then removed from the store (the file itself stays).
        extra = await sync(upload, client, "extra.md", "Extra notes about tulip bulbs.")
        added = await sync(
            client.vector_store_files.create_and_poll, store.id, file_id=extra.id, polling_interval=POLL
        )
        assert added.status == "completed"
        assert (await sync(client.vector_stores.get, store.id)).file_counts.total == 4
        await sync(client.vector_store_files.delete, store.id, extra.id)
        with pytest.raises(ResourceNotFoundError):
            await sync(client.vector_store_files.get, store.id, extra.id)
        after = await sync(client.vector_stores.get, store.id)
        assert (after.file_counts.total, after.file_counts.completed) == (3, 2)
        assert all(
            h.file_id != extra.id for h in await live.api.search_stores([store.id], "tulip bulbs", 5, 0.0)
        )
        assert (await sync(client.files.get, extra.id)).id == extra.id

        renamed = await sync(client.vector_stores.modify, store.id, name="garden 2", metadata={"v": "2"})
        assert (renamed.name, renamed.metadata) == ("garden 2", {"v": "2"})
        assert [s.id for s in await sync(lambda: list(client.vector_stores.list()))] == [store.id]
        await sync(client.vector_stores.delete, store.id)
        with pytest.raises(ResourceNotFoundError):
            await sync(client.vector_stores.get, store.id)
        with pytest.raises(ApiProblem) as gone:
            await live.api.search_stores([store.id], "tulip", 5, 0.0)
        assert gone.value.status == 404
        client.close()


async def test_aio_create_and_poll(tmp_path: Path) -> None:
    async with served_api(tmp_path) as live, agents_client(live.url, aio=True) as client:
        file = await client.files.upload_and_poll(
            file=b"async tulips", purpose="assistants", filename="a.txt"
        )
        store = await client.vector_stores.create_and_poll(
            file_ids=[file.id], polling_interval=POLL, timeout=60
        )
        assert (store.status, store.file_counts.completed) == ("completed", 1)
        batch = await client.vector_store_file_batches.create_and_poll(
            store.id, file_ids=[file.id], polling_interval=POLL, timeout=60
        )
        assert batch.status == "completed" and batch.file_counts.completed == 1


@pytest.mark.parametrize(
    ("strategy", "field"),
    [
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 99, "chunk_overlap_tokens": 0}},
            "max_chunk_size_tokens",
        ),
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 4097, "chunk_overlap_tokens": 0}},
            "max_chunk_size_tokens",
        ),
        (
            {"type": "static", "static": {"max_chunk_size_tokens": 400, "chunk_overlap_tokens": 201}},
            "chunk_overlap_tokens",
        ),
        ({"type": "fancy"}, "type"),
    ],
)
async def test_chunking_limits_are_refused(tmp_path: Path, strategy: dict[str, object], field: str) -> None:
    async with served_api(tmp_path) as live:
        client = agents_client(live.url)
        file = await sync(upload, client, "a.txt", "text")
        with pytest.raises(HttpResponseError) as refused:
            await sync(client.vector_stores.create, file_ids=[file.id], chunking_strategy=strategy)
        assert refused.value.status_code == 400
        assert "chunking_strategy" in str(refused.value) and field in str(refused.value)
        assert list(await sync(lambda: list(client.vector_stores.list()))) == [], "nothing was created"
        store = await sync(client.vector_stores.create, name="empty")
        assert store.status == "completed" and store.file_counts.total == 0
        with pytest.raises(HttpResponseError, match="chunking_strategy"):
            await sync(
                client.vector_store_files.create, store.id, file_id=file.id, chunking_strategy=strategy
            )
        with pytest.raises(HttpResponseError, match="chunking_strategy"):
            await sync(
                client.vector_store_file_batches.create,
                store.id,
                file_ids=[file.id],
                chunking_strategy=strategy,
            )
        ok = {"type": "static", "static": {"max_chunk_size_tokens": 400, "chunk_overlap_tokens": 200}}
        added = await sync(
            client.vector_store_files.create_and_poll,
            store.id,
            file_id=file.id,
            chunking_strategy=ok,
            polling_interval=POLL,
        )
        assert added.chunking_strategy.static.max_chunk_size_tokens == 400
        assert added.chunking_strategy.static.chunk_overlap_tokens == 200
        client.close()


async def test_expiry_after_last_activity(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [time.time()]
    monkeypatch.setattr(vs_module, "clock", lambda: clock[0])
    day = vs_module.DAY_SECONDS
    async with served_api(tmp_path) as live:
        client = agents_client(live.url)
        file = await sync(upload, client, "a.txt", "tulips bloom in spring")
        policy = m.VectorStoreExpirationPolicy(anchor="last_active_at", days=2)
        store = await sync(
            client.vector_stores.create_and_poll,
            file_ids=[file.id],
            expires_after=policy,
            polling_interval=POLL,
        )
        created_active = int(store.last_active_at.timestamp())
        assert int(store.expires_at.timestamp()) == created_active + 2 * day
        assert store.expires_after.days == 2 and store.expires_after.anchor == "last_active_at"

        clock[0] += 1.5 * day  # a search moves last_active_at, and expires_at with it
        await live.api.search_stores([store.id], "tulips", 5, 0.0)
        touched = await sync(client.vector_stores.get, store.id)
        assert int(touched.last_active_at.timestamp()) == int(clock[0])
        assert int(touched.expires_at.timestamp()) == int(clock[0]) + 2 * day

        clock[0] += 1.5 * day  # 3 days after creation, 1.5 after the search: still alive
        assert (await sync(client.vector_stores.get, store.id)).status == "completed"
        other = await sync(client.vector_stores.create, name="forever")
        clock[0] += 1 * day  # past expires_at
        assert await live.api.vector_stores().sweep() == 1
        expired = await sync(client.vector_stores.get, store.id)
        assert expired.status == "expired"
        assert {s.id: s.status for s in await sync(lambda: list(client.vector_stores.list()))} == {
            store.id: "expired",
            other.id: "completed",
        }
        with pytest.raises(ApiProblem) as refused:
            await live.api.search_stores([store.id], "tulips", 5, 0.0)
        assert refused.value.code == "vector_store_expired"
        with pytest.raises(HttpResponseError, match="has expired"):
            await sync(client.vector_store_files.create, store.id, file_id=file.id)
        # Extending the policy does not bring an expired store back (as in the service).
        changed = await sync(
            client.vector_stores.modify,
            store.id,
            expires_after=m.VectorStoreExpirationPolicy(anchor="last_active_at", days=30),
        )
        assert changed.status == "expired"
        await sync(client.vector_stores.delete, store.id)
        client.close()


async def test_batches_create_cancel_and_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_ingest = KNOWLEDGE.ingest_file

    async def slow_ingest(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.3)  # so that the batch is still running when it is cancelled
        return await real_ingest(*args, **kwargs)

    monkeypatch.setattr(KNOWLEDGE, "ingest_file", slow_ingest)
    async with served_api(tmp_path, AGENTDOWN_INGEST_CONCURRENCY="1") as live:
        client = agents_client(live.url)
        files = [
            await sync(upload, client, f"doc{i}.txt", f"document {i} about tulips " * 50) for i in range(12)
        ]
        store = await sync(client.vector_stores.create, name="batches")
        first = await sync(
            client.vector_store_file_batches.create_and_poll,
            store.id,
            file_ids=[f.id for f in files[:2]],
            polling_interval=POLL,
            timeout=60,
        )
        assert first.id.startswith("vsfb_") and first.object == "vector_store.files_batch"
        assert (first.status, first.file_counts.completed, first.file_counts.total) == ("completed", 2, 2)

        batch = await sync(
            client.vector_store_file_batches.create, store.id, file_ids=[f.id for f in files[2:]]
        )
        assert batch.status == "in_progress" and batch.file_counts.total == 10
        assert (await sync(client.vector_stores.get, store.id)).status == "in_progress"
        cancelled = await sync(client.vector_store_file_batches.cancel, store.id, batch.id)
        assert cancelled.status == "cancelled"
        assert cancelled.file_counts.cancelled >= 1
        for _ in range(200):
            view = await sync(client.vector_store_file_batches.get, store.id, batch.id)
            if view.file_counts.in_progress == 0:
                break
            await asyncio.sleep(POLL)
        counts = view.file_counts
        assert counts.cancelled + counts.completed == 10 and counts.cancelled >= 1
        listed = await sync(lambda: list(client.vector_store_file_batches.list_files(store.id, batch.id)))
        assert {f.id for f in listed} == {f.id for f in files[2:]}
        gone = await sync(
            lambda: list(client.vector_store_file_batches.list_files(store.id, batch.id, filter="cancelled"))
        )
        assert len(gone) == counts.cancelled and all(f.status == "cancelled" for f in gone)
        for _ in range(100):
            whole = await sync(client.vector_stores.get, store.id)
            if whole.status == "completed":
                break
            await asyncio.sleep(POLL)
        assert whole.status == "completed"
        assert (whole.file_counts.total, whole.file_counts.cancelled) == (12, counts.cancelled)
        await asyncio.sleep(0.5)  # an ingestion that was running when cancelled has ended by now
        hits = await live.api.search_stores([store.id], "tulips", 50, 0.0)
        assert {h.file_id for h in hits}.isdisjoint({f.id for f in gone}), "cancelled files are not searched"

        # A cancelled file given again is ingested again.
        again = await sync(
            client.vector_store_files.create_and_poll, store.id, file_id=gone[0].id, polling_interval=POLL
        )
        assert again.status == "completed"
        with pytest.raises(HttpResponseError, match="at least one file"):
            await sync(client.vector_store_file_batches.create, store.id, file_ids=[])
        client.close()


async def test_forged_and_foreign_ids_are_404(tmp_path: Path) -> None:
    async with served_api(tmp_path) as live:
        client = agents_client(live.url)
        file = await sync(upload, client, "a.txt", "text")
        store = await sync(client.vector_stores.create_and_poll, file_ids=[file.id], polling_interval=POLL)
        with pytest.raises(ResourceNotFoundError, match=r"file_ids\[1\]|no file"):
            await sync(client.vector_stores.create, file_ids=[file.id, "assistant_0641c2f5a9b1c3f0e91a2b7"])
        with pytest.raises(ResourceNotFoundError):
            await sync(client.vector_stores.create, file_ids=[store.id])
        base = f"{live.url}/api/projects/p/vector_stores"
        forged = [
            "thread_0641c2f5a9b1c3f0e91a2b7",
            file.id,
            "..%2F..%2Fagents.db",
            "vs_" + "0" * 21,
            "vs_..%2F..%2Fx",
        ]
        async with aiohttp.ClientSession() as session:
            for bad in forged:
                for method, path in (
                    ("GET", f"{base}/{bad}"),
                    ("DELETE", f"{base}/{bad}"),
                    ("GET", f"{base}/{bad}/files"),
                    ("GET", f"{base}/{store.id}/files/{bad}"),
                    ("DELETE", f"{base}/{store.id}/files/{bad}"),
                    ("GET", f"{base}/{store.id}/file_batches/{bad}"),
                    ("POST", f"{base}/{store.id}/file_batches/{bad}/cancel"),
                    ("GET", f"{base}/{store.id}/file_batches/{bad}/files"),
                ):
                    if bad == file.id and "/files/" in path:
                        continue  # that one is a real store file
                    async with session.request(method, path) as response:
                        assert response.status == 404, (method, path, await response.text())
            async with session.post(
                base,
                json={
                    "configuration": {
                        "data_sources": [{"uri": "https://evil.example/x", "type": "uri_asset"}]
                    }
                },
            ) as response:
                body = await response.json()
                assert (
                    response.status == 400 and "configuration.data_sources[0].uri" in body["error"]["message"]
                )
            async with session.post(
                base, json={"configuration": {"data_sources": [{"uri": "x", "type": "id_asset"}]}}
            ) as response:
                assert response.status == 400 and "id_asset" in (await response.json())["error"]["message"]
            async with session.get(f"{base}/{store.id}/files?filter=weird") as response:
                assert response.status == 400 and "filter" in (await response.json())["error"]["message"]
        client.close()


async def test_a_file_whose_job_was_lost_is_queued_again(tmp_path: Path) -> None:
    from agentdown.runtime.agents_api.vector_stores import FILE_KIND, STORE_KIND, move_counts

    async with served_api(tmp_path) as live:
        client = agents_client(live.url)
        file = await sync(upload, client, "a.txt", "tulips again")
        store = await sync(client.vector_stores.create, name="orphans")
        # The file's record as a route writes it, but its job never reached the queue.
        body = {
            "id": file.id,
            "object": "vector_store.file",
            "usage_bytes": 0,
            "created_at": 0,
            "vector_store_id": store.id,
            "status": "in_progress",
            "chunking_strategy": KNOWLEDGE.Chunking.from_api(None).to_api(),
            "_queued_at": 0.0,
            "_filename": "a.txt",
        }
        await move_counts(live.api.store, store.id, [(None, "in_progress", 0)])
        await live.api.store.create(FILE_KIND, store.id, file.id, body)
        assert (await live.api.store.get(STORE_KIND, "", store.id)).body["status"] == "in_progress"
        ingest = await live.api.ensure_ingest()
        assert await ingest.requeue_orphans() == 1
        assert await ingest.requeue_orphans() == 0, "a file queued again is not queued twice"
        for _ in range(100):
            polled = await sync(client.vector_stores.get, store.id)
            if polled.status == "completed":
                break
            await asyncio.sleep(POLL)
        assert (polled.status, polled.file_counts.completed) == ("completed", 1)
        client.close()


async def test_files_and_stores_belong_to_their_principal(tmp_path: Path) -> None:
    import base64
    import json

    from agentdown.server import ServerSettings

    def principal(oid: str) -> dict[str, str]:
        claims = [{"typ": "oid", "val": oid}, {"typ": "tid", "val": "t1"}]
        raw = json.dumps({"auth_typ": "aad", "claims": claims}).encode()
        return {"x-ms-client-principal": base64.b64encode(raw).decode()}

    alice, bob = principal("alice"), principal("bob")
    settings = ServerSettings(port=0, trust_client_principal=True)
    async with served_api(tmp_path, settings=settings) as live, aiohttp.ClientSession() as http:
        api = f"{live.url}/api/projects/p"
        form = aiohttp.FormData()
        form.add_field("purpose", "assistants")
        form.add_field("file", b"alice's secret tulips", filename="secret.txt")
        async with http.post(f"{api}/files", data=form, headers=alice) as response:
            file = await response.json()
        async with http.post(
            f"{api}/vector_stores", json={"file_ids": [file["id"]]}, headers=alice
        ) as response:
            store = await response.json()
        assert "_owner" not in file and "_owner" not in store
        for method, url, body in [
            ("GET", f"{api}/files/{file['id']}", None),
            ("GET", f"{api}/files/{file['id']}/content", None),
            ("DELETE", f"{api}/files/{file['id']}", None),
            ("POST", f"{api}/vector_stores", {"file_ids": [file["id"]]}),
            ("GET", f"{api}/vector_stores/{store['id']}", None),
            ("POST", f"{api}/vector_stores/{store['id']}", {"name": "stolen"}),
            ("DELETE", f"{api}/vector_stores/{store['id']}", None),
            ("GET", f"{api}/vector_stores/{store['id']}/files", None),
            ("POST", f"{api}/vector_stores/{store['id']}/files", {"file_id": file["id"]}),
            ("POST", f"{api}/vector_stores/{store['id']}/file_batches", {"file_ids": [file["id"]]}),
        ]:
            async with http.request(method, url, json=body, headers=bob) as response:
                answer = await response.json()
                assert (response.status, answer["error"]["code"]) == (404, "not_found"), (method, url, answer)
        async with http.get(f"{api}/files", headers=bob) as response:
            assert (await response.json())["data"] == []
        async with http.get(f"{api}/vector_stores", headers=bob) as response:
            assert (await response.json())["data"] == []
        async with http.get(f"{api}/files/{file['id']}", headers=alice) as response:
            assert response.status == 200

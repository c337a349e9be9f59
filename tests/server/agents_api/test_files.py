"""Files through the real azure-ai-agents SDK (sync and aio) against a live server.

Upload (multipart, streamed to storage), list by purpose, get, content, delete; the
size limit (413 from ``AGENTDOWN_MAX_FILE_BYTES``, while the 4 MiB cap of the other
routes still holds); a 50 MB upload whose server-side memory stays bounded; forged
ids and hostile file names.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import resource
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from serverkit import HELPER, Live, live_server, write_app

from agentdown.client import agents_client

T = TypeVar("T")


async def sync(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(fn, *args, **kwargs)


@contextlib.asynccontextmanager
async def served(tmp_path: Path, **environ: str) -> AsyncIterator[Live]:
    app = write_app(tmp_path, {"helper.agent.md": HELPER})
    env = {"AGENTDOWN_DATA_DIR": str(tmp_path / "data"), **environ}
    async with live_server(app, environ=env) as live:
        yield live


async def test_upload_list_get_content_delete(tmp_path: Path) -> None:
    async with served(tmp_path) as live:
        client = agents_client(live.url)
        source = tmp_path / "notes.md"
        source.write_text("# Notes\nThe launch code is tulip.\n")
        uploaded = await sync(client.files.upload_and_poll, file_path=str(source), purpose="assistants")
        assert uploaded.id.startswith("assistant")
        assert (uploaded.filename, uploaded.bytes, uploaded.status, uploaded.purpose) == (
            "notes.md",
            len(source.read_bytes()),
            "processed",
            "assistants",
        )
        assert uploaded.created_at.year >= 2024
        picture = await sync(
            client.files.upload, file=b"\x89PNG\r\n", purpose="vision", filename="../../etc/passwd"
        )
        assert picture.filename == "../../etc/passwd", "a file name is display text, kept as given"
        assert not (tmp_path / "etc").exists()

        assert (await sync(client.files.get, uploaded.id)).as_dict() == uploaded.as_dict()
        listed = await sync(client.files.list)
        assert [f.id for f in listed.data] == [picture.id, uploaded.id], "newest first"
        assert [f.id for f in (await sync(client.files.list, purpose="vision")).data] == [picture.id]
        content = b"".join(await sync(lambda: list(client.files.get_content(uploaded.id))))
        assert content == source.read_bytes()
        assert b"".join(await sync(lambda: list(client.files.get_content(picture.id)))) == b"\x89PNG\r\n"
        target = tmp_path / "saved"
        await sync(client.files.save, uploaded.id, "copy.md", target)
        assert (target / "copy.md").read_bytes() == source.read_bytes()

        await sync(client.files.delete, uploaded.id)
        with pytest.raises(ResourceNotFoundError):
            await sync(client.files.get, uploaded.id)
        with pytest.raises(ResourceNotFoundError):
            await sync(lambda: list(client.files.get_content(uploaded.id)))
        with pytest.raises(ResourceNotFoundError):
            await sync(client.files.delete, uploaded.id)
        assert [f.id for f in (await sync(client.files.list)).data] == [picture.id]
        stored = list((tmp_path / "data" / "files" / "files").iterdir())
        assert [p.name for p in stored] == [picture.id], "the bytes went with the record"
        client.close()


async def test_aio_upload_and_content(tmp_path: Path) -> None:
    async with served(tmp_path) as live, agents_client(live.url, aio=True) as client:
        uploaded = await client.files.upload_and_poll(
            file=io.BytesIO(b"hello async"), purpose="assistants", filename="hello.txt"
        )
        assert (uploaded.status, uploaded.bytes, uploaded.filename) == ("processed", 11, "hello.txt")
        chunks = [c async for c in await client.files.get_content(uploaded.id)]
        assert b"".join(chunks) == b"hello async"
        assert [f.id for f in (await client.files.list()).data] == [uploaded.id]
        await client.files.delete(uploaded.id)
        with pytest.raises(ResourceNotFoundError):
            await client.files.get(uploaded.id)


async def test_bad_uploads_are_refused_precisely(tmp_path: Path) -> None:
    async with served(tmp_path, AGENTDOWN_MAX_FILE_BYTES="1000") as live:
        client = agents_client(live.url)
        with pytest.raises(HttpResponseError, match="file too large: the limit is 1000 bytes") as big:
            await sync(client.files.upload, file=b"x" * 1001, purpose="assistants", filename="big.txt")
        assert big.value.status_code == 413
        assert (
            await sync(client.files.upload, file=b"x" * 1000, purpose="assistants", filename="ok.txt")
        ).bytes == 1000
        with pytest.raises(HttpResponseError, match="purpose: expected one of assistants") as purpose:
            await sync(client.files.upload, file=b"x", purpose="fine-tune", filename="a.txt")
        assert purpose.value.status_code == 400
        url = f"{live.url}/api/projects/p/files"
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json={"purpose": "assistants"}) as response:
                assert response.status == 400
                assert "multipart/form-data" in (await response.json())["error"]["message"]
            form = aiohttp.FormData()
            form.add_field("purpose", "assistants")
            async with session.post(url, data=form()) as response:
                assert response.status == 400
            form = aiohttp.FormData()
            form.add_field("purpose", "assistants")
            form.add_field("file", b"abc", filename="a.txt")
            form.add_field("file", b"abc", filename="b.txt")
            async with session.post(url, data=form) as response:
                assert response.status == 400
                assert "more than one file part" in (await response.json())["error"]["message"]
            # A declared length over the limit is refused before the body is read.
            headers = {"content-type": "multipart/form-data; boundary=x", "content-length": str(10**9)}
            async with session.post(url, data=b"--x--", headers=headers) as response:
                assert response.status == 413
            # A list filter given but empty or unknown is refused, not taken as "every purpose".
            for purpose_query in ("", "fine-tune"):
                async with session.get(url, params={"purpose": purpose_query}) as response:
                    assert response.status == 400, purpose_query
                    assert (await response.json())["error"]["param"] == "purpose"
        assert len((await sync(client.files.list)).data) == 1, "nothing of a refused upload was kept"
        leftovers = [p.name for p in (tmp_path / "data" / "files" / "files").iterdir()]
        assert len(leftovers) == 1 and not any(n.startswith(".partial") for n in leftovers)
        client.close()


async def test_the_body_cap_still_holds_on_the_other_routes(tmp_path: Path) -> None:
    async with served(tmp_path) as live:
        client = agents_client(live.url)
        five_mib = b"a" * (5 * 1024 * 1024)
        uploaded = await sync(client.files.upload, file=five_mib, purpose="assistants", filename="five.txt")
        assert uploaded.bytes == len(five_mib), "uploads are not bound by the 4 MiB cap"
        with pytest.raises(HttpResponseError, match="request body too large") as refused:
            await sync(
                client.threads.create,
                metadata={"k": "v"},
                messages=[{"role": "user", "content": "a" * (5 * 1024 * 1024)}],
            )
        assert refused.value.status_code == 413
        with pytest.raises(HttpResponseError) as store_refused:
            await sync(
                client.vector_stores.create,
                name="x" * 100,
                metadata={"a": "b" * 100},
                file_ids=["y" * 100] * 50000,
            )
        assert store_refused.value.status_code == 413
        client.close()


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def test_a_50_mb_upload_is_streamed(tmp_path: Path) -> None:
    size = 50 * 1024 * 1024
    source = tmp_path / "big.txt"
    with source.open("wb") as f:
        for _ in range(50):
            f.write(b"0123456789abcdef" * 65536)
    async with served(tmp_path) as live:
        peak = 0.0
        done = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, _rss_mib())
                await asyncio.sleep(0.005)

        async def chunks() -> AsyncIterator[bytes]:
            with source.open("rb") as f:
                while chunk := f.read(256 * 1024):
                    yield chunk
                    await asyncio.sleep(0)

        before = _rss_mib()
        sampler = asyncio.create_task(sample())
        # aiohttp streams the part from the generator: the client side holds no copy either.
        form = aiohttp.FormData()
        form.add_field("purpose", "assistants")
        form.add_field("file", chunks(), filename="big.txt", content_type="text/plain")
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{live.url}/api/projects/p/files", data=form) as response,
        ):
            body = await response.json()
        done.set()
        await sampler
        assert response.status == 200, body
        assert body["bytes"] == size
        growth = peak - before
        assert growth < 30, f"the server grew by {growth:.0f} MiB for a 50 MiB upload"
        stored = tmp_path / "data" / "files" / "files" / body["id"]
        assert stored.stat().st_size == size


@pytest.mark.parametrize(
    "forged",
    [
        "asst_0641c2f5a9b1c3f0e91a2b7",
        "thread_0641c2f5a9b1c3f0e91a2b7",
        "assistant_0000000000000000000000",
        "..%2F..%2Fetc%2Fpasswd",
        "files%2F..%2Fagents.db",
        "%00",
        "a" * 300,
    ],
)
async def test_forged_file_ids_are_404(tmp_path: Path, forged: str) -> None:
    async with served(tmp_path) as live:
        url = f"{live.url}/api/projects/p/files/{forged}"
        async with aiohttp.ClientSession() as session:
            for method, suffix in (("GET", ""), ("GET", "/content"), ("DELETE", "")):
                async with session.request(method, url + suffix) as response:
                    assert response.status == 404, (method, suffix, await response.text())
                    assert (await response.json())["error"]["code"] == "not_found"

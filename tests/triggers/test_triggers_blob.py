"""blob_trigger through TriggerHost: a watched folder (embedded) and an Azure container (Azurite)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from _triggers_apps import agent_file, eventually, make_app, prompt_type, trigger_data, unique

from agentdown.app import load_app
from agentdown.app.spec import BlobTrigger
from agentdown.messages import Message
from agentdown.runtime import Runner
from agentdown.runtime.queues import open_queue_service, resolve_account
from agentdown.runtime.triggers import OutputBinding, TriggerBinding, TriggerHost
from agentdown.runtime.triggers.blobstore import open_blob_container
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import CallInfo, FunctionModel


def blob_app(tmp_path: Path, path: str) -> Path:
    return make_app(tmp_path, {"worker": agent_file(f"  type: blob_trigger\n  args:\n    path: {path}\n")})


class Calls:
    def __init__(self, fail: bool = False) -> None:
        self.data: list[dict[str, Any]] = []
        self.fail = fail

    def __call__(self, messages: list[Message], info: CallInfo) -> str:
        assert prompt_type(messages) == "blob_trigger"
        data = trigger_data(messages)
        self.data.append(data)
        if self.fail:
            raise RuntimeError("cannot read this")
        return f"summary of {data['blob_name']}"

    def names(self) -> list[str]:
        return [d["blob_name"] for d in self.data]


def host_for(app: Path, calls: Calls, tmp_path: Path, environ: dict[str, str], **kwargs: Any) -> TriggerHost:
    runner = Runner(load_app(app, model=FunctionModel(calls)), SqliteSessionStore(tmp_path / "s.db"))
    return TriggerHost(runner, environ=environ, **kwargs)


async def put(environ: dict[str, str], container: str, name: str, data: bytes) -> None:
    blobs = open_blob_container(resolve_account("AzureWebJobsStorage", environ), container)
    try:
        await blobs.start()
        await blobs.write(name, data, "text/plain")
    finally:
        await blobs.aclose()


async def test_each_blob_is_processed_once_and_receipts_survive_a_restart(
    tmp_path: Path, environ: dict[str, str], backend: str
) -> None:
    container = unique("uploads")
    app = blob_app(tmp_path, f"{container}/in/{{name}}.txt")
    calls = Calls()
    await put(environ, container, "in/report.txt", b"Quarterly numbers: up.")
    await put(environ, container, "in/sub/notes.txt", b"nested")
    await put(environ, container, "other/ignored.txt", b"not matching the path")
    host = host_for(app, calls, tmp_path, environ)
    assert container in host.triggers[0].storage
    async with host:
        await eventually(lambda: len(calls.data) == 2)
        await asyncio.sleep(1.0)  # several more scans: nothing runs twice
    assert sorted(calls.names()) == ["in/report.txt", "in/sub/notes.txt"]
    report = next(d for d in calls.data if d["blob_name"] == "in/report.txt")
    assert report["name"] == f"{container}/in/report.txt" and report["container"] == container
    assert report["content"] == "Quarterly numbers: up." and report["content_truncated"] is False
    assert report["length"] == 22 and report["path_bindings"] == {"name": "report"}
    assert report["blob_properties"]["ETag"] and report["uri"]
    if backend == "embedded":
        assert report["uri"].startswith("file://")
    # A new host (a restart, or another worker) finds the receipts and skips both ...
    again = Calls()
    async with host_for(app, again, tmp_path, environ):
        await asyncio.sleep(0.8)
        assert again.data == []
        # ... but a changed blob is new content: it runs once more.
        await put(environ, container, "in/report.txt", b"Quarterly numbers: down.")
        await eventually(lambda: len(again.data) == 1)
    assert again.data[0]["content"] == "Quarterly numbers: down."


async def test_a_failing_blob_is_retried_then_reported_as_poison(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    container = unique("broken")
    calls = Calls(fail=True)
    await put(environ, container, "bad.bin", b"\x00\x01\x02")
    host = host_for(
        blob_app(tmp_path, f"{container}/{{name}}"),
        calls,
        tmp_path,
        {**environ, "AGENTDOWN_QUEUE_MAX_DEQUEUE_COUNT": "2"},
    )
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    poison = service.queue("webjobs-blobtrigger-poison")
    try:
        async with host:

            async def reported() -> list[Any]:
                return await poison.receive(32, 30)

            found: list[Any] = []

            async def check() -> bool:
                found.extend(m for m in await reported() if container in m.text)
                return bool(found)

            await eventually(check)
            await asyncio.sleep(0.5)
        assert len(calls.data) == 2 and "content" not in calls.data[0]  # binary: no content
        body = json.loads(found[0].body)
        assert body["ContainerName"] == container and body["BlobName"] == "bad.bin"
        assert body["FunctionId"] == "worker" and body["Type"] == "BlobTrigger"
    finally:
        await service.aclose()


async def test_two_hosts_share_the_work_without_duplicates(tmp_path: Path, environ: dict[str, str]) -> None:
    container = unique("shared")
    app = blob_app(tmp_path, f"{container}/{{name}}")
    for i in range(8):
        await put(environ, container, f"doc{i}.txt", f"document {i}".encode())
    calls = [Calls(), Calls()]
    hosts = [host_for(app, c, tmp_path, environ) for c in calls]
    for host in hosts:
        await host.start()
    try:
        await eventually(lambda: sum(len(c.data) for c in calls) == 8)
        await asyncio.sleep(0.8)
    finally:
        for host in hosts:
            await host.stop()
    names = [n for c in calls for n in c.names()]
    assert sorted(names) == sorted(f"doc{i}.txt" for i in range(8))


async def test_blob_output_binding(tmp_path: Path, environ: dict[str, str]) -> None:
    inbox, results = unique("inbox"), unique("results")
    calls = Calls()
    app = blob_app(tmp_path, f"{inbox}/{{name}}")
    binding = TriggerBinding(
        "worker",
        BlobTrigger(path=f"{inbox}/{{name}}"),
        output=OutputBinding("blob_output", path=f"{results}/{{name}}.summary.md"),
    )
    await put(environ, inbox, "letter.txt", b"Dear team")
    async with host_for(app, calls, tmp_path, environ, bindings=[binding]):
        await eventually(lambda: len(calls.data) == 1)
        target = open_blob_container(resolve_account("AzureWebJobsStorage", environ), results)
        try:

            async def written() -> bool:
                return [b.name for b in await target.scan("")] == ["letter.txt.summary.md"]

            await eventually(written)
            assert await target.read("letter.txt.summary.md", 1000) == b"summary of letter.txt"
        finally:
            await target.aclose()

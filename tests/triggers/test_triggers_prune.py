"""Trigger state stays the size of what exists: receipts of blobs gone and status of timers gone are pruned.

Both backends: the embedded ``triggers.db`` and blobs in the hosts container (Azurite).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from _triggers_apps import agent_file, eventually, make_app, unique

from agentdown.app import load_app
from agentdown.messages import Message
from agentdown.runtime import Runner
from agentdown.runtime.queues import resolve_account
from agentdown.runtime.triggers import TriggerHost
from agentdown.runtime.triggers.blob import BlobListener
from agentdown.runtime.triggers.blobstore import open_blob_container
from agentdown.runtime.triggers.state import StateStore, open_state_store
from agentdown.sessions import SqliteSessionStore
from agentdown.testing import CallInfo, FunctionModel


@pytest.fixture
async def state(environ: dict[str, str]) -> AsyncIterator[StateStore]:
    """The store the hosts of ``environ`` keep their trigger state in."""
    store = open_state_store(
        resolve_account("AzureWebJobsStorage", environ), environ["AGENTDOWN_HOSTS_CONTAINER"]
    )
    await store.start()
    try:
        yield store
    finally:
        await store.aclose()


def host_for(app: Path, tmp_path: Path, environ: dict[str, str], calls: list[str]) -> TriggerHost:
    def model(messages: list[Message], info: CallInfo) -> str:
        calls.append(next(m.text for m in messages if m.role == "user"))
        return "ok"

    runner = Runner(load_app(app, model=FunctionModel(model)), SqliteSessionStore(tmp_path / "s.db"))
    return TriggerHost(runner, environ=environ)


async def put(environ: dict[str, str], container: str, name: str, data: bytes) -> None:
    blobs = open_blob_container(resolve_account("AzureWebJobsStorage", environ), container)
    try:
        await blobs.start()
        await blobs.write(name, data, "text/plain")
    finally:
        await blobs.aclose()


async def remove(environ: dict[str, str], backend: str, container: str, name: str) -> None:
    if backend == "embedded":
        (Path(environ["AGENTDOWN_DATA_DIR"]) / "blobs" / container / name).unlink()
        return
    from azure.storage.blob.aio import ContainerClient

    client = ContainerClient.from_connection_string(environ["AzureWebJobsStorage"], container)
    async with client:
        await client.delete_blob(name)


async def receipts(state: StateStore, container: str) -> list[tuple[str, str]]:
    """``(blob name, status)`` of every receipt of ``container``."""
    prefix = f"blobreceipts/worker/{container}/"
    found = []
    for key in await state.keys(prefix):
        record = await state.get(key)
        assert record is not None
        found.append((key[len(prefix) :].rpartition("/")[0], str(record.data["status"])))
    return found


async def test_receipts_of_deleted_and_changed_blobs_are_pruned(
    tmp_path: Path,
    environ: dict[str, str],
    backend: str,
    state: StateStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(BlobListener, "prune_interval", 0.0)  # every scan
    container = unique("uploads")
    app = make_app(
        tmp_path, {"worker": agent_file(f"  type: blob_trigger\n  args:\n    path: {container}/{{name}}\n")}
    )
    for name in ("keep.txt", "gone.txt", "changed.txt"):
        await put(environ, container, name, f"first {name}".encode())
    # A claim still leased by a worker running a blob deleted meanwhile: its owner settles it, not the pruner.
    held = f"blobreceipts/worker/{container}/running.txt/0x1"
    assert (
        await state.create(held, {"status": "processing", "attempts": 1, "until": time.time() + 600})
        is not None
    )
    calls: list[str] = []
    async with host_for(app, tmp_path, environ, calls):
        await eventually(lambda: len(calls) == 3)
        assert len(await receipts(state, container)) == 4
        await remove(environ, backend, container, "gone.txt")
        await put(environ, container, "changed.txt", b"second version")
        await eventually(lambda: len(calls) == 4)
        expected = [("changed.txt", "done"), ("keep.txt", "done"), ("running.txt", "processing")]

        async def pruned() -> bool:
            return sorted(await receipts(state, container)) == expected

        await eventually(pruned)
    assert sorted(await receipts(state, container)) == expected


def timer_status(next_occurrence: datetime | None, last: datetime) -> dict[str, Any]:
    return {
        "Last": last.isoformat(),
        "Next": next_occurrence.isoformat() if next_occurrence is not None else None,
        "LastUpdated": last.isoformat(),
    }


async def test_status_of_timers_nobody_runs_is_pruned_at_start(
    tmp_path: Path, environ: dict[str, str], state: StateStore
) -> None:
    now = datetime.now(UTC)
    records = {
        # Renamed or removed agents: their next occurrence passed long ago, nobody ran it.
        "timers/renamed/status": timer_status(now - timedelta(days=8), now - timedelta(days=9)),
        "timers/ended/status": timer_status(None, now - timedelta(days=30)),
        # A timer whose workers were down for a day only: its catch-up run must survive.
        "timers/paused/status": timer_status(now - timedelta(days=1), now - timedelta(days=2)),
        "timers/monthly/status": timer_status(now + timedelta(days=20), now - timedelta(days=10)),
        "timers/foreign/status": {"written": "by someone else"},
    }
    for key, data in records.items():
        assert await state.create(key, data) is not None
    app = make_app(
        tmp_path, {"worker": agent_file("  type: timer_trigger\n  args:\n    schedule: '* * * * * *'\n")}
    )
    calls: list[str] = []
    async with host_for(app, tmp_path, environ, calls):
        await eventually(lambda: len(calls) >= 1, timeout=5)
    keys = await state.keys("timers/")
    assert keys == [
        "timers/foreign/status",
        "timers/monthly/status",
        "timers/paused/status",
        "timers/worker/status",
    ]


async def test_state_store_keys_and_conditional_delete(state: StateStore) -> None:
    first = await state.create("a/x*[1]/e1", {"n": 1})
    assert first is not None and await state.create("a/y/e1", {"n": 2}) is not None
    assert await state.create("b/z", {"n": 3}) is not None
    assert await state.keys("a/x*") == ["a/x*[1]/e1"]  # wildcards in keys are plain characters
    assert await state.keys("a/") == ["a/x*[1]/e1", "a/y/e1"]
    changed = await state.replace("a/x*[1]/e1", {"n": 4}, first.version)
    assert changed is not None
    assert await state.delete("a/x*[1]/e1", first.version) is False  # changed since it was read
    assert await state.delete("a/x*[1]/e1", changed.version) is True
    assert await state.delete("a/x*[1]/e1", changed.version) is False  # already gone
    assert await state.keys("a/") == ["a/y/e1"]

"""Every checkpoint storage keeps the same promises: what was saved loads, in order, and nothing else does."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agentdown.messages import Message
from agentdown.workflows.checkpoint import (
    CheckpointEncodingError,
    CheckpointFormatError,
    CheckpointNotFoundError,
    CheckpointStorage,
    FileCheckpointStorage,
    InMemoryCheckpointStorage,
    WorkflowCheckpoint,
)
from agentdown.workflows.checkpoint.sqlite import SqliteCheckpointStorage
from azurite_peer import Azurite

KINDS = ["memory", "file", "sqlite", "azure_blob"]


@dataclass
class Draft:
    text: str
    revisions: tuple[int, ...]


@pytest.fixture(params=KINDS)
async def storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CheckpointStorage]:
    kind = request.param
    instance: Any
    if kind == "memory":
        instance = InMemoryCheckpointStorage()
    elif kind == "file":
        instance = FileCheckpointStorage(tmp_path / "checkpoints")
    elif kind == "sqlite":
        instance = SqliteCheckpointStorage(tmp_path / "checkpoints.db")
    else:
        from agentdown.workflows.checkpoint.azure_blob import AzureBlobCheckpointStorage

        server: Azurite = request.getfixturevalue("azurite")
        # A container per test: Azurite is shared by the whole run.
        container = f"cp-{uuid.uuid4().hex[:20]}"
        instance = AzureBlobCheckpointStorage(connection_string=server.connection_string, container=container)
    try:
        yield instance
    finally:
        if hasattr(instance, "aclose"):
            await instance.aclose()


def checkpoint(workflow: str = "review", **fields: Any) -> WorkflowCheckpoint:
    return WorkflowCheckpoint(workflow_name=workflow, graph_signature="sig-1", **fields)


def stamp(second: int) -> str:
    return dt.datetime(2026, 12, 2, 7, 0, second, tzinfo=dt.UTC).isoformat()


async def test_a_saved_checkpoint_loads_with_every_field_and_type(storage: CheckpointStorage) -> None:
    original = checkpoint(
        previous_checkpoint_id="before",
        iteration=3,
        messages=[{"source_id": "a", "target_id": None, "data": Draft("x", (1, 2))}],
        state={"messages": [Message.user("hello")], "seen": {"a", "b"}, "raw": b"\x00"},
        pending_requests={"req-1": {"data": {"question": "ok?"}, "response_type": "builtins:str"}},
        executor_states={"writer": {"count": 2}},
        status="IDLE_WITH_PENDING_REQUESTS",
        metadata={"superstep": 3},
    )
    assert await storage.save(original) == original.checkpoint_id
    assert await storage.load(original.checkpoint_id) == original


async def test_loads_are_independent_copies(storage: CheckpointStorage) -> None:
    cp = checkpoint(state={"items": [1]})
    await storage.save(cp)
    cp.state["items"].append(2)  # the run goes on mutating its state
    first = await storage.load(cp.checkpoint_id)
    first.state["items"].append(3)
    assert (await storage.load(cp.checkpoint_id)).state == {"items": [1]}


async def test_an_unstorable_value_fails_at_save_and_stores_nothing(storage: CheckpointStorage) -> None:
    cp = checkpoint(state={"report": {"items": [0, 1, 2, object()]}})
    with pytest.raises(CheckpointEncodingError, match=r"\$\.state\.report\.items\[3\]"):
        await storage.save(cp)
    assert await storage.list_checkpoints() == []
    with pytest.raises(CheckpointNotFoundError):
        await storage.load(cp.checkpoint_id)


async def test_listing_is_oldest_first_and_filters_by_workflow(storage: CheckpointStorage) -> None:
    # Saved out of order: the timestamp, not the save order, decides.
    late = checkpoint(timestamp=stamp(30))
    early = checkpoint(timestamp=stamp(10))
    other = checkpoint("other", timestamp=stamp(20))
    for cp in (late, early, other):
        await storage.save(cp)
    assert [cp.checkpoint_id for cp in await storage.list_checkpoints("review")] == [
        early.checkpoint_id,
        late.checkpoint_id,
    ]
    assert [cp.checkpoint_id for cp in await storage.list_checkpoints()] == [
        early.checkpoint_id,
        other.checkpoint_id,
        late.checkpoint_id,
    ]
    assert await storage.list_checkpoints("nobody") == []


async def test_timestamps_compare_as_times_not_as_text(storage: CheckpointStorage) -> None:
    # isoformat() drops a zero microsecond part, and offsets differ: as text these sort wrongly.
    first = checkpoint(timestamp="2026-12-02T08:00:00+01:00")  # 07:00 UTC
    second = checkpoint(timestamp="2026-12-02T07:30:00.000001+00:00")
    await storage.save(second)
    await storage.save(first)
    assert [cp.checkpoint_id for cp in await storage.list_checkpoints("review")] == [
        first.checkpoint_id,
        second.checkpoint_id,
    ]


async def test_checkpoints_taken_in_one_clock_tick_keep_their_save_order(storage: CheckpointStorage) -> None:
    same = stamp(5)
    chain = [checkpoint(timestamp=same, iteration=i) for i in range(5)]
    for cp in chain:
        await storage.save(cp)  # faster than file mtimes or blob listing times can tell apart
    assert [cp.iteration for cp in await storage.list_checkpoints("review")] == [0, 1, 2, 3, 4]
    latest = await storage.get_latest("review")
    assert latest is not None and latest.iteration == 4


async def test_get_latest_is_the_newest_of_that_workflow(storage: CheckpointStorage) -> None:
    assert await storage.get_latest("review") is None
    await storage.save(checkpoint(timestamp=stamp(1), iteration=1))
    newest = checkpoint(timestamp=stamp(2), iteration=2)
    await storage.save(newest)
    await storage.save(checkpoint("other", timestamp=stamp(3)))
    assert await storage.get_latest("review") == newest


async def test_saving_an_id_again_replaces_the_checkpoint(storage: CheckpointStorage) -> None:
    cp = checkpoint(state={"v": 1})
    await storage.save(cp)
    cp.state["v"] = 2
    await storage.save(cp)
    assert (await storage.load(cp.checkpoint_id)).state == {"v": 2}
    assert len(await storage.list_checkpoints("review")) == 1


async def test_a_resaved_checkpoint_sorts_as_saved_last_among_equal_timestamps(
    storage: CheckpointStorage,
) -> None:
    first, second = checkpoint(timestamp=stamp(9)), checkpoint(timestamp=stamp(9))
    await storage.save(first)
    await storage.save(second)
    await storage.save(first)
    assert [cp.checkpoint_id for cp in await storage.list_checkpoints("review")] == [
        second.checkpoint_id,
        first.checkpoint_id,
    ]
    assert (await storage.get_latest("review")) == first


async def test_delete_says_whether_there_was_one(storage: CheckpointStorage) -> None:
    cp = checkpoint()
    await storage.save(cp)
    assert await storage.delete(cp.checkpoint_id) is True
    assert await storage.delete(cp.checkpoint_id) is False
    with pytest.raises(CheckpointNotFoundError):
        await storage.load(cp.checkpoint_id)
    assert await storage.get_latest("review") is None


async def test_an_unknown_id_is_not_found(storage: CheckpointStorage) -> None:
    with pytest.raises(CheckpointNotFoundError):
        await storage.load("never-saved")


FORGED_IDS = [
    "../../etc/passwd",
    "..",
    ".",
    "a/b",
    "a\\b",
    "",
    "x" * 129,
    "id with space",
    "nul\x00byte",
    "é",
]


@pytest.mark.parametrize("forged", FORGED_IDS)
async def test_forged_ids_are_refused_everywhere(storage: CheckpointStorage, forged: str) -> None:
    with pytest.raises(ValueError, match="checkpoint id"):
        await storage.save(checkpoint(checkpoint_id=forged))
    with pytest.raises(CheckpointNotFoundError):
        await storage.load(forged)
    assert await storage.delete(forged) is False


async def test_workflow_names_cannot_reach_each_other(storage: CheckpointStorage) -> None:
    # Names that would be path segments, or prefixes of one another, in a blob or file layout.
    names = ["a", "a/b", "../a", "..", "a b", "a%2Fb"]
    for name in names:
        await storage.save(checkpoint(name))
    for name in names:
        assert [cp.workflow_name for cp in await storage.list_checkpoints(name)] == [name]


async def test_concurrent_saves_all_land(storage: CheckpointStorage) -> None:
    chain = [checkpoint(iteration=i) for i in range(20)]
    await asyncio.gather(*(storage.save(cp) for cp in chain))
    assert sorted(cp.iteration for cp in await storage.list_checkpoints("review")) == list(range(20))


async def test_invalid_plain_fields_are_refused_at_save(storage: CheckpointStorage) -> None:
    for bad in (checkpoint(timestamp="yesterday"), checkpoint(iteration=-1), checkpoint(workflow="")):
        with pytest.raises(CheckpointEncodingError):
            await storage.save(bad)


# --- the file storage on disk ----------------------------------------------------------


async def test_file_storage_writes_one_json_file_per_checkpoint_and_nothing_outside(tmp_path: Path) -> None:
    directory = tmp_path / "cps"
    storage = FileCheckpointStorage(directory)
    cp = checkpoint()
    await storage.save(cp)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [f"{cp.checkpoint_id}.json"]
    document = json.loads((directory / f"{cp.checkpoint_id}.json").read_text())
    assert document["format"] == 1 and document["workflow_name"] == "review"


async def test_file_storage_does_not_follow_a_traversal_id_to_read_outside(tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    valid = checkpoint()
    storage = FileCheckpointStorage(tmp_path / "cps")
    await storage.save(valid)
    secret.write_bytes((tmp_path / "cps" / f"{valid.checkpoint_id}.json").read_bytes())
    with pytest.raises(CheckpointNotFoundError):
        await storage.load("../secret")
    assert await storage.delete("../secret") is False
    assert secret.exists()


async def test_a_document_copied_under_another_id_is_refused(tmp_path: Path) -> None:
    storage = FileCheckpointStorage(tmp_path)
    real = checkpoint()
    await storage.save(real)
    (tmp_path / "impostor.json").write_bytes((tmp_path / f"{real.checkpoint_id}.json").read_bytes())
    with pytest.raises(CheckpointFormatError, match="checkpoint_id"):
        await storage.load("impostor")


async def test_a_tampered_file_fails_loudly_naming_the_file(tmp_path: Path) -> None:
    storage = FileCheckpointStorage(tmp_path)
    cp = checkpoint()
    await storage.save(cp)
    path = tmp_path / f"{cp.checkpoint_id}.json"
    document = json.loads(path.read_text())
    document["state"] = {"x": {"$type": "os:system", "value": "echo pwned"}}
    path.write_text(json.dumps(document))
    with pytest.raises(CheckpointFormatError) as err:
        await storage.load(cp.checkpoint_id)
    assert str(path) in str(err.value) and "os:system" in str(err.value)
    with pytest.raises(CheckpointFormatError):
        await storage.list_checkpoints()


async def test_a_failed_write_leaves_the_previous_checkpoint_and_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = FileCheckpointStorage(tmp_path)
    cp = checkpoint(state={"v": 1})
    await storage.save(cp)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("agentdown.workflows.checkpoint.storage.os.replace", broken_replace)
    cp.state["v"] = 2
    with pytest.raises(OSError, match="disk full"):
        await storage.save(cp)
    monkeypatch.undo()
    assert (await storage.load(cp.checkpoint_id)).state == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == [f"{cp.checkpoint_id}.json"]


async def test_file_storage_survives_a_new_instance(tmp_path: Path) -> None:
    cp = checkpoint(state={"draft": Draft("x", (1,))})
    await FileCheckpointStorage(tmp_path).save(cp)
    assert await FileCheckpointStorage(tmp_path).load(cp.checkpoint_id) == cp


async def test_sqlite_storage_survives_a_new_instance(tmp_path: Path) -> None:
    cp = checkpoint(state={"draft": Draft("x", (1,))})
    first = SqliteCheckpointStorage(tmp_path / "db.sqlite")
    await first.save(cp)
    await first.aclose()
    second = SqliteCheckpointStorage(tmp_path / "db.sqlite")
    try:
        assert await second.load(cp.checkpoint_id) == cp
        assert await second.get_latest("review") == cp
    finally:
        await second.aclose()


def test_every_storage_satisfies_the_protocol(tmp_path: Path) -> None:
    from agentdown.workflows.checkpoint.azure_blob import AzureBlobCheckpointStorage

    assert isinstance(InMemoryCheckpointStorage(), CheckpointStorage)
    assert isinstance(FileCheckpointStorage(tmp_path), CheckpointStorage)
    assert isinstance(SqliteCheckpointStorage(tmp_path / "x.db"), CheckpointStorage)
    assert isinstance(
        AzureBlobCheckpointStorage(connection_string="UseDevelopmentStorage=true"), CheckpointStorage
    )

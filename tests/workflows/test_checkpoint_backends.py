"""What the durable checkpoint storages add: other processes see the checkpoints, and damage is reported."""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from azure.storage.blob.aio import ContainerClient

from agentdown.messages import Message
from agentdown.sessions.sqlite import SqliteSessionStore
from agentdown.workflows.checkpoint import (
    CheckpointFormatError,
    CheckpointNotFoundError,
    CheckpointStorageError,
    WorkflowCheckpoint,
)
from agentdown.workflows.checkpoint.azure_blob import AzureBlobCheckpointStorage
from agentdown.workflows.checkpoint.sqlite import SqliteCheckpointStorage
from azurite_peer import Azurite


def checkpoint(workflow: str = "review", **fields: object) -> WorkflowCheckpoint:
    return WorkflowCheckpoint(workflow_name=workflow, graph_signature="sig", **fields)  # type: ignore[arg-type]


# --- SQLite ---------------------------------------------------------------------------


async def test_two_sqlite_storages_on_one_file_see_each_others_checkpoints(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    writer, reader = SqliteCheckpointStorage(path), SqliteCheckpointStorage(path)
    try:
        cp = checkpoint(state={"k": (1, 2)})
        await writer.save(cp)
        assert await reader.load(cp.checkpoint_id) == cp
        assert await reader.delete(cp.checkpoint_id) is True
        with pytest.raises(CheckpointNotFoundError):
            await writer.load(cp.checkpoint_id)
    finally:
        await writer.aclose()
        await reader.aclose()


async def test_sqlite_checkpoints_can_share_the_session_database(tmp_path: Path) -> None:
    path = tmp_path / "agentdown.db"
    sessions, checkpoints = SqliteSessionStore(path), SqliteCheckpointStorage(path)
    cp = checkpoint()
    try:
        await sessions.append("main", "s1", [Message.user("hi")], expected_version=None)
        await checkpoints.save(cp)
    finally:
        await sessions.aclose()
        await checkpoints.aclose()
    # Opened again (each schema is stamped in the file in turn): both still there.
    sessions, checkpoints = SqliteSessionStore(path), SqliteCheckpointStorage(path)
    try:
        assert (await sessions.load("main", "s1")).messages[0].text == "hi"
        assert await checkpoints.get_latest("review") == cp
    finally:
        await sessions.aclose()
        await checkpoints.aclose()


async def test_a_tampered_sqlite_row_is_a_format_error_naming_the_database(tmp_path: Path) -> None:
    path = tmp_path / "cps.db"
    storage = SqliteCheckpointStorage(path)
    try:
        cp = checkpoint()
        await storage.save(cp)
        doc = json.loads(checkpoint_json(path, cp.checkpoint_id))
        doc["state"] = {"x": {"$type": "subprocess:Popen", "value": {"args": ["id"]}}}
        with sqlite3.connect(path) as conn:
            conn.execute(
                "UPDATE agentdown_workflow_checkpoints SET document = ? WHERE checkpoint_id = ?",
                (json.dumps(doc).encode(), cp.checkpoint_id),
            )
        with pytest.raises(CheckpointFormatError, match=r"cps\.db.*subprocess:Popen"):
            await storage.load(cp.checkpoint_id)
    finally:
        await storage.aclose()


def checkpoint_json(path: Path, checkpoint_id: str) -> bytes:
    with sqlite3.connect(path) as conn:
        row = conn.execute(
            "SELECT document FROM agentdown_workflow_checkpoints WHERE checkpoint_id = ?", (checkpoint_id,)
        ).fetchone()
    return bytes(row[0])


async def test_a_sqlite_failure_is_a_storage_error_naming_the_file(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the folder should be")
    storage = SqliteCheckpointStorage(blocker / "cps.db")
    try:
        with pytest.raises(CheckpointStorageError, match="not-a-dir"):
            await storage.save(checkpoint())
    finally:
        await storage.aclose()


# --- Azure blobs (a real Azurite) -----------------------------------------------------


@pytest.fixture
def container_name() -> str:
    return f"cp-{uuid.uuid4().hex[:20]}"


@pytest.fixture
async def blobs(azurite: Azurite, container_name: str) -> AsyncIterator[AzureBlobCheckpointStorage]:
    storage = AzureBlobCheckpointStorage(
        connection_string=azurite.connection_string, container=container_name
    )
    try:
        yield storage
    finally:
        await storage.aclose()


@pytest.fixture
async def raw_container(azurite: Azurite, container_name: str) -> AsyncIterator[ContainerClient]:
    client = ContainerClient.from_connection_string(azurite.connection_string, container_name)
    try:
        yield client
    finally:
        await client.close()


async def test_blobs_are_laid_out_by_workflow_with_the_timestamp_in_metadata(
    blobs: AzureBlobCheckpointStorage, raw_container: ContainerClient
) -> None:
    cp = checkpoint("daily report", timestamp="2026-12-02T07:00:00+00:00")
    await blobs.save(cp)
    listed = [b async for b in raw_container.list_blobs(include=["metadata"])]
    assert [b.name for b in listed] == [f"checkpoints/daily%20report/{cp.checkpoint_id}.json"]
    assert listed[0].metadata["checkpoint_timestamp"] == "2026-12-02T07:00:00.000000Z"
    assert listed[0].content_settings.content_type == "application/json"


async def test_another_process_loads_by_id_alone(
    azurite: Azurite, blobs: AzureBlobCheckpointStorage, container_name: str
) -> None:
    cp = checkpoint("nightly", state={"rows": [1, 2]})
    await blobs.save(cp)
    other = AzureBlobCheckpointStorage(connection_string=azurite.connection_string, container=container_name)
    try:
        assert await other.load(cp.checkpoint_id) == cp  # knows nothing yet: finds it by listing
        assert await other.get_latest("nightly") == cp
        assert await other.delete(cp.checkpoint_id) is True
    finally:
        await other.aclose()
    # This object still remembers where the blob was; it must not serve a stale copy.
    with pytest.raises(CheckpointNotFoundError):
        await blobs.load(cp.checkpoint_id)
    assert await blobs.delete(cp.checkpoint_id) is False


async def test_a_tampered_blob_is_a_format_error_naming_the_blob(
    blobs: AzureBlobCheckpointStorage, raw_container: ContainerClient
) -> None:
    cp = checkpoint()
    await blobs.save(cp)
    name = blobs.blob_name("review", cp.checkpoint_id)
    doc = json.loads(await (await raw_container.download_blob(name)).readall())
    doc["state"] = {"x": {"$type": "builtins:eval", "value": "__import__('os').system('id')"}}
    await raw_container.upload_blob(name, json.dumps(doc).encode(), overwrite=True)
    with pytest.raises(CheckpointFormatError, match=rf"{cp.checkpoint_id}\.json.*builtins:eval"):
        await blobs.load(cp.checkpoint_id)


async def test_a_blob_copied_under_another_id_is_refused(
    blobs: AzureBlobCheckpointStorage, raw_container: ContainerClient
) -> None:
    cp = checkpoint()
    await blobs.save(cp)
    data = await (await raw_container.download_blob(blobs.blob_name("review", cp.checkpoint_id))).readall()
    await raw_container.upload_blob("checkpoints/review/impostor.json", data)
    with pytest.raises(CheckpointFormatError, match="checkpoint_id"):
        await blobs.load("impostor")


async def test_foreign_blobs_in_the_container_are_ignored(
    blobs: AzureBlobCheckpointStorage, raw_container: ContainerClient
) -> None:
    cp = checkpoint()
    await blobs.save(cp)
    for name in (
        "checkpoints/readme.txt",
        "checkpoints/review/notes.txt",
        "elsewhere/review/x.json",
        "checkpoints/a/b/c.json",
    ):
        await raw_container.upload_blob(name, b"{}")
    assert [c.checkpoint_id for c in await blobs.list_checkpoints()] == [cp.checkpoint_id]


async def test_a_deleted_container_is_created_again_on_save(
    blobs: AzureBlobCheckpointStorage, raw_container: ContainerClient
) -> None:
    await blobs.save(checkpoint())
    await raw_container.delete_container()
    assert await blobs.list_checkpoints() == []
    cp = checkpoint()
    await blobs.save(cp)
    assert await blobs.load(cp.checkpoint_id) == cp


async def test_a_service_error_is_a_storage_error(azurite: Azurite, container_name: str) -> None:
    wrong_key = azurite.connection_string.replace("AccountKey=", "AccountKey=AAAA")
    storage = AzureBlobCheckpointStorage(connection_string=wrong_key, container=container_name)
    try:
        with pytest.raises(CheckpointStorageError, match="cannot"):
            await storage.save(checkpoint())
        with pytest.raises(CheckpointStorageError):
            await storage.list_checkpoints()
    finally:
        await storage.aclose()


def test_the_blob_storage_needs_exactly_one_way_to_connect() -> None:
    from agentdown.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="exactly one"):
        AzureBlobCheckpointStorage()
    with pytest.raises(ConfigurationError, match="container name"):
        AzureBlobCheckpointStorage(connection_string="UseDevelopmentStorage=true", container="Bad_Name")

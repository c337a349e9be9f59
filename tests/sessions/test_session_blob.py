"""What only the Azure Blob store does: tail probes across instances, lost-answer retries, limits."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from azure.storage.blob.aio import BlobClient, BlobServiceClient

from agentdown.messages import Message
from agentdown.sessions import SessionConflictError, SessionStoreError, append_with_retry
from agentdown.sessions.azure_blob import MAX_TURN_BYTES, AzureBlobSessionStore, _Version
from azurite_peer import Azurite


def turn(tag: str, padding: int = 0) -> list[Message]:
    return [Message.user(tag + "." * padding), Message.assistant(tag)]


@pytest.fixture
async def pair(azurite: Azurite) -> AsyncIterator[tuple[AzureBlobSessionStore, AzureBlobSessionStore]]:
    """Two store instances (two 'processes') on one container."""
    container = f"t{uuid.uuid4().hex[:20]}"
    a = AzureBlobSessionStore(connection_string=azurite.connection_string, container=container, prefix="")
    b = AzureBlobSessionStore(connection_string=azurite.connection_string, container=container, prefix="")
    try:
        yield a, b
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_store_sees_turns_another_instance_appended(
    pair: tuple[AzureBlobSessionStore, AzureBlobSessionStore],
) -> None:
    a, b = pair
    v = None
    for i in range(3):
        v = await a.append("agent", "s", turn(f"a{i}"), expected_version=v)
    other = await b.load("agent", "s", max_messages=0)
    await b.append("agent", "s", turn("b0"), expected_version=other.version)
    history = await a.load("agent", "s")  # a's remembered size is stale now
    assert [t.messages[0].text for t in history.turns] == ["a0", "a1", "a2", "b0"]
    await a.append("agent", "s", turn("a3"), expected_version=history.version)
    # b grows the blob far past what a remembers: a falls back to reading the properties.
    history = await b.load("agent", "s", max_messages=0)
    await b.append("agent", "s", turn("big", padding=600_000), expected_version=history.version)
    assert [t.messages[0].text[:3] for t in (await a.load("agent", "s", max_messages=1)).turns] == ["big"]
    assert a.blob_name("agent", "s") == "agent/s.jsonl"


async def test_a_recreated_blob_is_not_mistaken_for_the_old_one(
    pair: tuple[AzureBlobSessionStore, AzureBlobSessionStore],
) -> None:
    a, b = pair
    v = await a.append("agent", "s", turn("old", padding=1000), expected_version=None)
    await a.append("agent", "s", turn("old2", padding=1000), expected_version=v)
    assert len((await a.load("agent", "s")).turns) == 2
    await b.delete("agent", "s")
    v = await b.append("agent", "s", turn("new", padding=100), expected_version=None)  # smaller: 416 path
    assert [t.messages[0].text[:3] for t in (await a.load("agent", "s")).turns] == ["new"]
    await b.delete("agent", "s")
    v = await b.append(
        "agent", "s", turn("newer", padding=5000), expected_version=None
    )  # bigger: creation time
    assert [t.messages[0].text[:5] for t in (await a.load("agent", "s")).turns] == ["newer"]


async def test_a_lost_success_is_recognised_not_duplicated(
    pair: tuple[AzureBlobSessionStore, AzureBlobSessionStore],
) -> None:
    a, _ = pair
    v1 = await a.append("agent", "s", turn("x"), expected_version=None)
    base = (await a.load("agent", "s", max_messages=0)).version
    mine = turn("mine")
    await a.append("agent", "s", mine, expected_version=base)
    await a.append(
        "agent", "s", turn("later"), expected_version=(await a.load("agent", "s", max_messages=0)).version
    )
    parsed = _Version.parse(str(base))
    assert await a._landed("agent", "s", parsed, parsed.seq + 1, mine)
    assert not await a._landed("agent", "s", parsed, parsed.seq + 1, turn("other"))
    assert v1 == str(base)


async def test_a_retried_append_whose_first_answer_was_lost_is_not_duplicated(
    pair: tuple[AzureBlobSessionStore, AzureBlobSessionStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = pair
    real = BlobClient.append_block

    async def lossy(self: BlobClient, data: Any, **kwargs: Any) -> Any:
        await real(self, data, **kwargs)  # the service stored it, but the answer never arrived...
        kwargs["retry_hook"](retry_count=0, location_mode=None, request=None, response=None, error=None)
        return await real(self, data, **kwargs)  # ...so the SDK retried, and If-Match now fails

    monkeypatch.setattr(BlobClient, "append_block", lossy)
    v1 = await a.append("agent", "s", turn("first"), expected_version=None)
    await append_with_retry(a, "agent", "s", turn("second"), v1)
    monkeypatch.undo()
    history = await a.load("agent", "s")
    assert [t.messages[0].text for t in history.turns] == ["first", "second"]
    with pytest.raises(SessionConflictError):  # the returned token is stale on purpose
        await a.append("agent", "s", turn("third"), expected_version=v1)


async def test_limits_and_foreign_blobs(
    pair: tuple[AzureBlobSessionStore, AzureBlobSessionStore], azurite: Azurite
) -> None:
    a, _ = pair
    with pytest.raises(SessionStoreError, match="exceeds the 4194304-byte append block limit"):
        await a.append("agent", "s", turn("huge", padding=MAX_TURN_BYTES), expected_version=None)
    with pytest.raises(ValueError, match="not a version of the azure_blob"):
        await a.append("agent", "s", turn("x"), expected_version="7")
    await a.append("agent", "ok", turn("x"), expected_version=None)  # creates the container
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    async with service:
        container = service.get_container_client(a.container)
        await container.upload_blob("agent/block.jsonl", b"{}\n")
        await container.upload_blob("stray.txt", b"x")
    with pytest.raises(SessionStoreError, match="expected an append blob"):
        await a.load("agent", "block")
    with pytest.raises(SessionConflictError):
        await a.append("agent", "block", turn("x"), expected_version=None)
    assert {i.session_id for i in await a.list()} == {"ok", "block"}

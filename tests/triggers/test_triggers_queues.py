"""The queue contract on both backends: at-least-once delivery, visibility, pop receipts, poison, encodings."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import pytest
from _triggers_apps import unique

from agentdown.runtime.queues import (
    QueueMessageLostError,
    QueueService,
    decode_wire_text,
    move_to_poison,
    open_queue_service,
    poison_queue_name,
    resolve_account,
    validate_queue_name,
)
from azurite_peer import Azurite


@pytest.fixture
async def service(environ: dict[str, str]) -> AsyncIterator[QueueService]:
    queues = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    try:
        yield queues
    finally:
        await queues.aclose()


async def test_send_receive_delete(service: QueueService) -> None:
    queue = service.queue(unique("basic"))
    await queue.create()
    await queue.create()  # creating twice is fine
    sent = await queue.send('{"order": 7}')
    [message] = await queue.receive(5, 30)
    assert message.id == sent and message.body == b'{"order": 7}' and message.dequeue_count == 1
    assert message.time_next_visible is not None and message.time_next_visible > message.insertion_time
    assert await queue.receive(5, 30) == []  # hidden while in work
    await queue.delete(message)
    assert await queue.approximate_count() == 0


async def test_an_expired_visibility_timeout_redelivers_with_a_higher_dequeue_count(
    service: QueueService,
) -> None:
    queue = service.queue(unique("redeliver"))
    await queue.create()
    await queue.send("hello")
    [first] = await queue.receive(1, 1)
    await asyncio.sleep(1.3)
    [second] = await queue.receive(1, 30)
    assert (second.id, second.dequeue_count, second.body) == (first.id, 2, b"hello")
    with pytest.raises(QueueMessageLostError):
        await queue.delete(first)  # the stale delivery lost its claim
    await queue.delete(second)


async def test_update_visibility_renews_and_releases(service: QueueService) -> None:
    queue = service.queue(unique("visibility"))
    await queue.create()
    await queue.send("x")
    [message] = await queue.receive(1, 1)
    renewed = await queue.update_visibility(message, 30)
    assert renewed.pop_receipt != message.pop_receipt
    await asyncio.sleep(1.2)
    assert await queue.receive(1, 30) == []  # the renewal kept it hidden
    with pytest.raises(QueueMessageLostError):
        await queue.update_visibility(message, 0)
    released = await queue.update_visibility(renewed, 0)
    [again] = await queue.receive(1, 30)
    assert again.id == released.id and again.dequeue_count == 2


async def test_receive_respects_the_batch_size_and_order(service: QueueService) -> None:
    queue = service.queue(unique("batch"))
    await queue.create()
    for i in range(5):
        await queue.send(f"m{i}")
    first = await queue.receive(3, 30)
    rest = await queue.receive(10, 30)
    assert len(first) == 3 and len(rest) == 2
    assert sorted(m.body for m in first + rest) == [f"m{i}".encode() for i in range(5)]


async def test_move_to_poison_keeps_the_original_body(service: QueueService) -> None:
    name = unique("work")
    queue, poison = service.queue(name), service.queue(poison_queue_name(name))
    await queue.create()
    await poison.create()
    await queue.send("bad input ✓")
    [message] = await queue.receive(1, 30)
    await move_to_poison(queue, poison, message)
    assert await queue.approximate_count() == 0
    [copy] = await poison.receive(1, 30)
    assert copy.body == "bad input ✓".encode() and poison.name == f"{name}-poison"


async def test_binary_bodies(service: QueueService) -> None:
    queue = service.queue(unique("binary"))
    await queue.create()
    await queue.send(b"\xff\x00\xfe")
    [message] = await queue.receive(1, 30)
    if service.kind == "embedded":
        assert message.body == b"\xff\x00\xfe" and message.text is None
        assert message.binding_data()["body"] == "/wD+"
        assert message.binding_data()["body_encoding"] == "base64"
    else:
        # On the wire base64 of binary is indistinguishable from raw text: it arrives as that text.
        assert message.body == b"/wD+"


async def test_azure_reads_base64_and_raw_bodies_alike(azurite: Azurite) -> None:
    from azure.storage.queue.aio import QueueClient

    environ = {"AzureWebJobsStorage": azurite.connection_string}
    name = unique("encodings")
    service = open_queue_service(resolve_account("AzureWebJobsStorage", environ))
    client = QueueClient.from_connection_string(environ["AzureWebJobsStorage"], name)
    try:
        await service.queue(name).create()
        await client.send_message(base64.b64encode(b'{"a": 1}').decode())  # Functions' default encoding
        await client.send_message("plain text")  # the Agent Service and scripts write raw text
        await client.send_message('{"b": 2}')
        messages = await service.queue(name).receive(10, 30)
        assert sorted(m.body for m in messages) == sorted([b'{"a": 1}', b'{"b": 2}', b"plain text"])
        # ... and what agentdown writes is base64 on the wire, as Functions expects by default.
        await service.queue(name).send("from agentdown")
        wire = [m async for m in client.receive_messages(max_messages=5)]
        assert [m.content for m in wire] == [base64.b64encode(b"from agentdown").decode()]
    finally:
        await client.close()
        await service.aclose()


def test_decode_wire_text() -> None:
    assert decode_wire_text(base64.b64encode("héllo\nworld".encode()).decode()) == "héllo\nworld".encode()
    for raw in ("test", "ping", "1234", "abcd", "hello world", '{"x": 1}', "", "QUJD=="):
        assert decode_wire_text(raw) == raw.encode()
    assert decode_wire_text(base64.b64encode(b"\x00\x01binary").decode()) == base64.b64encode(
        b"\x00\x01binary"
    )  # not text once decoded: kept as sent


def test_queue_names() -> None:
    assert validate_queue_name("orders-2") == "orders-2"
    for bad in ("Orders", "a", "bad--name", "-x-", "x" * 64):
        with pytest.raises(ValueError, match="invalid queue name"):
            validate_queue_name(bad)
    with pytest.raises(ValueError, match="too long to have a poison queue"):
        poison_queue_name("q" * 60)

"""Invoking trigger functions with the package's own binding objects."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import azure.functions as func
from _hosting_kit import SAMPLE, Hosted
from azure.functions.blob import InputStream
from azure.functions.timer import TimerRequest
from azure.storage.queue.aio import QueueClient

from agentdown.hosting import create_function_app
from agentdown.hosting.payloads import trigger_data
from azurite_peer import Azurite


async def _prompt_of(hosted: Hosted, slug: str) -> tuple[str, dict[str, Any]]:
    """The one triggered run's prompt: its first line and its trigger data."""
    store = hosted.app.agentdown.runner.store  # type: ignore[attr-defined]
    sessions = await store.list(slug)
    assert len(sessions) == 1
    prompt = (await store.load(slug, sessions[0].session_id)).messages[0].text
    head, _, rest = prompt.partition("\n\nTrigger data:\n```json\n")
    return head, json.loads(rest.removesuffix("\n```"))


async def test_a_queue_message(hosted: Hosted) -> None:
    message = func.QueueMessage(id="m-1", body=b'{"order": 7}', pop_receipt="r")
    assert await hosted.call("orders", message) is None
    head, data = await _prompt_of(hosted, "orders")
    assert head == "Triggered by: queue_trigger"
    assert data["body"] == '{"order": 7}'
    assert (data["body_encoding"], data["id"], data["body_json"]) == ("utf-8", "m-1", {"order": 7})


async def test_a_timer_tick(hosted: Hosted) -> None:
    status = {"Last": "2026-01-01T07:00:00", "Next": "2026-01-02T07:00:00", "LastUpdated": "x"}
    tick = TimerRequest(past_due=True, schedule_status=status, schedule={"AdjustForDST": True})
    await hosted.call("nightly", tick)
    head, data = await _prompt_of(hosted, "nightly")
    assert head == "Triggered by: timer_trigger"
    assert data == {"past_due": True, "schedule_status": status, "schedule": {"AdjustForDST": True}}


async def test_a_blob_and_an_event_grid_event(hosted: Hosted) -> None:
    blob = InputStream(
        data=b"content", name="uploads/a.txt", uri="http://x/uploads/a.txt", length=7, metadata={"k": "v"}
    )
    await hosted.call("uploads", blob)
    head, data = await _prompt_of(hosted, "uploads")
    assert head == "Triggered by: blob_trigger"
    assert data == {
        "name": "uploads/a.txt",
        "uri": "http://x/uploads/a.txt",
        "length": 7,
        "metadata": {"k": "v"},
        "container": "uploads",
        "blob_name": "a.txt",
        "path_bindings": {"name": "a.txt"},
    }
    event = func.EventGridEvent(
        id="e1", data={"a": 1}, topic="t", subject="s", event_type="Created",
        event_time=datetime(2026, 1, 1, tzinfo=UTC), data_version="1",
    )  # fmt: skip
    await hosted.call("events", event)
    head, data = await _prompt_of(hosted, "events")
    assert head == "Triggered by: event_grid_trigger"
    assert data["event_type"] == "Created" and data["data"] == {"a": 1}
    assert data["event_time"] == "2026-01-01T00:00:00+00:00"


def test_service_bus_payload() -> None:
    message = func.ServiceBusMessage(
        body=b"\xff\x00", content_type="application/octet-stream", correlation_id="c"
    )
    data = trigger_data(message)
    assert (data["body"], data["body_encoding"]) == ("/wA=", "base64")
    assert data["correlation_id"] == "c"


async def test_a_queue_message_with_sessions_in_azure_storage(env: dict[str, str], azurite: Azurite) -> None:
    hosted = Hosted(
        create_function_app(SAMPLE, environ={**env, "AzureWebJobsStorage": azurite.connection_string})
    )
    try:
        assert hosted.app.agentdown.runner.store.kind == "azure_blob"  # type: ignore[attr-defined]
        await hosted.call("orders", func.QueueMessage(id="m-2", body=b"plain text", pop_receipt="r"))
        head, data = await _prompt_of(hosted, "orders")
        assert head == "Triggered by: queue_trigger" and data["body"] == "plain text"
        assert "body_json" not in data
    finally:
        await hosted.aclose()


async def test_an_output_binding_writes_the_answer(
    tmp_path: Path, env: dict[str, str], azurite: Azurite
) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "orders.agent.md").write_text(
        "---\nname: Orders\ndescription: d\n"
        "trigger: {type: queue_trigger, args: {queue_name: orders}}\n"
        "output: {type: queue_output, args: {queue_name: answers}}\n---\nAck.\n"
    )
    settings = {**env, "AzureWebJobsStorage": azurite.connection_string}
    hosted = Hosted(create_function_app(app, environ=settings))
    try:
        await hosted.call("orders", func.QueueMessage(id="m-3", body=b"order 9", pop_receipt="r"))
    finally:
        await hosted.aclose()
    async with QueueClient.from_connection_string(azurite.connection_string, "answers") as queue:
        bodies = [m.content async for m in queue.receive_messages()]
    assert len(bodies) == 1
    assert "order 9" in base64.b64decode(bodies[0]).decode()
